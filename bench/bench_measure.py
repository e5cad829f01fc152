"""Measurements for bench.py: timed processes, the generated kernel-style Makefile, hdrtest runs, and the table."""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_sets import REPO, Group, restore

#: A row of the table: (label, value, target, verdict).
Row = tuple[str, str, str, str]


def default_jobs() -> int:
    return len(os.sched_getaffinity(0))


def load1() -> float:
    return os.getloadavg()[0]


def machine_lines() -> list[str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    make = subprocess.run(["make", "--version"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    return [f"machine: {os.cpu_count()} cpus ({default_jobs()} usable), {model}, {memory} RAM, "
            f"{platform.system()} {platform.release()}",
            f"tools: {gcc}; {make}; Python {platform.python_version()}"]


# --- processes ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Timed:
    wall: float
    cpu: float  # user + system of the process and every descendant it waited for
    returncode: int


def run_timed(argv: Sequence[str], cwd: Path, *, env: dict[str, str] | None = None,
              log: Path | None = None) -> Timed:
    """Run one process to completion; wait4 gives its CPU time including its children's."""
    start = time.monotonic()
    with open(log if log is not None else os.devnull, "wb") as sink:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=sink,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    return Timed(wall, usage.ru_utime + usage.ru_stime, proc.returncode)


@dataclass(frozen=True)
class PoolRun:
    """Every header's bare compile through a pool of ``jobs`` workers."""

    wall: float  # the whole pool, start to end
    per_header: dict[Path, Timed]
    jobs: int

    @property
    def sum_wall(self) -> float:
        return sum(t.wall for t in self.per_header.values())

    @property
    def sum_cpu(self) -> float:
        return sum(t.cpu for t in self.per_header.values())

    @property
    def limit(self) -> float:
        """Sum of per-compile wall times spread evenly over the cores: no scheduler can do better."""
        return self.sum_wall / self.jobs

    @property
    def passed(self) -> set[Path]:
        return {h for h, t in self.per_header.items() if t.returncode == 0}


@dataclass(frozen=True)
class Spec:
    """How hdrtest compiles one header (compiler, flags, directory): the make and bare methods use the same."""

    header: Path
    compiler: str
    flags: tuple[str, ...]
    directory: Path


def specs_for(group: Group) -> list[Spec]:
    """Flags from hdrtest's own library: the compile database entry (or --cflags) hdrtest chooses per header."""
    from hdrtest.cli import build_parser, settings_from_args
    from hdrtest.plan import flag_source

    args = build_parser().parse_args(["check", "--root", str(group.root), *group.options,
                                      *(str(h) for h in group.headers)])
    settings = settings_from_args(args)
    source = flag_source(settings)  # hdrtest.compdb.load + FlagChooser when a compile database is in play
    specs = []
    for header in group.headers:
        chosen = source.flags_for(header, "c")
        specs.append(Spec(header, chosen.compiler, tuple(chosen.flags), chosen.directory))
    return specs


def run_pool(specs: Sequence[Spec], jobs: int, command: Callable[[Spec], list[str]]) -> PoolRun:
    def one(spec: Spec) -> tuple[Path, Timed]:
        return spec.header, run_timed(command(spec), spec.directory)

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        done = dict(pool.map(one, specs))
    return PoolRun(time.monotonic() - start, done, jobs)


def syntax_command(spec: Spec) -> list[str]:
    return [spec.compiler, *spec.flags, "-fsyntax-only", "-x", "c", os.devnull, "-include", str(spec.header)]


def assembly_command(spec: Spec) -> list[str]:
    return [spec.compiler, *spec.flags, "-S", "-o", os.devnull, "-x", "c", os.devnull, "-include", str(spec.header)]


def include_closures(specs: Sequence[Spec], jobs: int, scratch: Path) -> tuple[dict[Path, frozenset[str]], float]:
    """Each header's include closure as gcc -M reports it (absolute, normalised paths), and the wall time."""
    from hdrtest.compile import read_deps

    scratch.mkdir(parents=True, exist_ok=True)

    def one(item: tuple[int, Spec]) -> tuple[Path, frozenset[str]]:
        index, spec = item
        deps = scratch / f"{index}.d"
        run_timed([spec.compiler, *spec.flags, "-M", "-MF", str(deps), "-x", "c", os.devnull,
                   "-include", str(spec.header)], spec.directory)
        closure = frozenset(read_deps(deps, spec.directory))
        deps.unlink(missing_ok=True)
        return spec.header, closure

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        done = dict(pool.map(one, enumerate(specs)))
    return done, time.monotonic() - start


# --- the kernel-style Makefile --------------------------------------------------------------------------------------

def _make_word(text: str) -> str:
    if any(c.isspace() for c in text) or ":" in text or "#" in text:
        raise SystemExit(f"bench: cannot name {text!r} in a Makefile rule")
    return text.replace("$", "$$")


def _recipe_word(text: str) -> str:
    return shlex.quote(text).replace("$", "$$")


def write_makefile(specs: Sequence[Spec], work: Path, *, kernel_doc: Path | None) -> tuple[Path, dict[Path, Path]]:
    """One target per header running the kernel i915 rule, then a stamp (in ``work``, never in the tree).

    The kernel's rule (drivers/gpu/drm/i915/Makefile, 6.12) is
    ``$(CC) $(c_flags) -S -o /dev/null -x c /dev/null -include $<; kernel-doc -none -Werror $<; touch $@`` under
    Kbuild's ``set -e``; its ``c_flags`` start with ``-Wp,-MMD,$(depfile)``, so the dependency file is written here
    too (into ``work``).  kernel-doc only runs when ``kernel_doc`` names the script.
    """
    stamps = work / "stamps"
    stamps.mkdir(parents=True, exist_ok=True)
    variables: dict[tuple[str, tuple[str, ...], Path], int] = {}
    lines = ["# Generated by hdrtest bench/bench.py: the kernel i915 header test rule, one target per header.",
             ".PHONY: all", "all:"]
    rules: list[str] = []
    targets: dict[Path, Path] = {}
    for index, spec in enumerate(specs):
        key = (spec.compiler, spec.flags, spec.directory)
        number = variables.setdefault(key, len(variables))
        stamp = stamps / f"{index:05d}.hdrtest"
        targets[spec.header] = stamp
        depfile = stamps / f"{index:05d}.d"
        recipe = (f"\tset -e; cd {_recipe_word(str(spec.directory))}; "
                  f"$(CC_{number}) -Wp,-MMD,{_recipe_word(str(depfile))} $(c_flags_{number}) "
                  f"-S -o /dev/null -x c /dev/null -include $<; ")
        if kernel_doc is not None:
            recipe += f"{_recipe_word(str(kernel_doc))} -none -Werror $<; "
        recipe += "touch $@"
        rules += [f"{_make_word(str(stamp))}: {_make_word(str(spec.header))}", recipe]
    lines[-1] = "all: " + " ".join(_make_word(str(t)) for t in targets.values())
    for (compiler, flags, _), number in variables.items():
        lines.append(f"CC_{number} := {_recipe_word(compiler)}")
        lines.append(f"c_flags_{number} := {' '.join(_recipe_word(f) for f in flags)}")
    makefile = work / "Makefile"
    makefile.write_text("\n".join(lines + rules) + "\n", encoding="utf-8")
    return makefile, targets


def run_make(specs: Sequence[Spec], work: Path, jobs: int, *, kernel_doc: Path | None) -> tuple[Timed, set[Path]]:
    makefile, targets = write_makefile(specs, work, kernel_doc=kernel_doc)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    timed = run_timed(["make", "-f", str(makefile), f"-j{jobs}", "-k", "-s", "--no-print-directory", "all"], work,
                      env=env, log=work / "make.log")
    return timed, {h for h, stamp in targets.items() if stamp.exists()}


# --- hdrtest --------------------------------------------------------------------------------------------------------

@dataclass
class HdrtestRun:
    timed: Timed
    report: dict[str, Any]
    load: float

    @property
    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = self.report["summary"]
        return summary

    def baseline_passed(self, root: Path) -> set[Path]:
        return {root / r["header"] for r in self.report["results"]
                if r["variant"]["name"] == "baseline" and r["status"] == "pass"}

    def headers(self, root: Path, *, compiled_only: bool) -> set[Path]:
        return {root / r["header"] for r in self.report["results"]
                if not compiled_only or (not r["cached"] and r["status"] != "deduped")}


def run_hdrtest(group: Group, work: Path, label: str, jobs: int, extra: Sequence[str]) -> HdrtestRun:
    """``hdrtest check`` as a user runs it (a fresh process), with a JSON report to read the figures from."""
    work.mkdir(parents=True, exist_ok=True)
    report = work / f"{label}.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), *filter(None, [env.get("PYTHONPATH")])])
    env["XDG_CACHE_HOME"] = str(work / "xdg")  # variant preludes and any default cache stay in the work dir
    env.pop("NO_COLOR", None)
    argv = [sys.executable, "-m", "hdrtest", "check", "--root", str(group.root), *group.options, "-j", str(jobs),
            "-q", "--format", "json", "-o", str(report), *extra, *(str(h) for h in group.headers)]
    (work / f"{label}.argv").write_text(shlex.join(argv) + "\n", encoding="utf-8")
    load = load1()
    timed = run_timed(argv, group.root, env=env, log=work / f"{label}.log")
    if timed.returncode not in (0, 1) or not report.is_file():
        raise SystemExit(f"bench: hdrtest {label} exited {timed.returncode}; see {work / (label + '.log')}")
    return HdrtestRun(timed, json.loads(report.read_text(encoding="utf-8")), load)


# --- one group, every step ------------------------------------------------------------------------------------------

@dataclass
class Figures:
    group: str
    headers: int
    selection: str
    rows: list[Row] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    remarks: list[str] = field(default_factory=list)

    def add(self, label: str, value: str, target: str = "", verdict: str = "") -> None:
        self.rows.append((label, value, target, verdict))

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.group, "headers": self.headers, "selection": self.selection,
                "rows": [list(r) for r in self.rows], "values": self.values, "remarks": self.remarks}


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _secs(timed: Timed) -> str:
    return f"{timed.wall:7.2f} s wall, {timed.cpu:7.2f} s cpu"


def _names(paths: set[Path], root: Path, limit: int = 12) -> str:
    shown = sorted(os.path.relpath(p, root) for p in paths)
    more = f" (+{len(shown) - limit} more)" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')} load {load1():.2f}] {message}", file=sys.stderr, flush=True)


def measure_group(group: Group, work: Path, *, jobs: int, steps: set[int], kernel_doc: bool) -> Figures:
    work.mkdir(parents=True, exist_ok=True)
    fig = Figures(group.name, len(group.headers), group.selection)
    specs = specs_for(group)
    n = len(specs)
    # gcc -M first: step 4's expected answer, and it reads every header of every closure into the page cache, so
    # no timed method below pays for cold disk reads.
    _log(f"{group.name}: include closures (gcc -M) of {n} headers")
    closures, closure_wall = include_closures(specs, jobs, work / "deps")
    fig.values["closure_wall"] = closure_wall

    make_timed: Timed | None = None
    make_passed: set[Path] = set()
    if 1 in steps:
        _log(f"{group.name}: make -j{jobs} -k, kernel rule (cc -S) per header")
        load = load1()
        make_timed, make_passed = run_make(specs, work / "make", jobs, kernel_doc=None)
        fig.values["make"] = {"wall": make_timed.wall, "cpu": make_timed.cpu, "load1": load,
                              "passed": len(make_passed)}
        fig.add("1. make -S (kernel rule), wall", _secs(make_timed) + f", load {load:.2f}")
        doc = group.root / "scripts" / "kernel-doc"
        if kernel_doc and doc.is_file():
            _log(f"{group.name}: make, kernel rule with kernel-doc")
            load = load1()
            doc_timed, _ = run_make(specs, work / "make-doc", jobs, kernel_doc=doc)
            fig.values["make_kernel_doc"] = {"wall": doc_timed.wall, "cpu": doc_timed.cpu, "load1": load}
            fig.add("   make -S + kernel-doc (full kernel rule)", _secs(doc_timed) + f", load {load:.2f}")

    bare: PoolRun | None = None
    if 2 in steps:
        _log(f"{group.name}: bare cc -fsyntax-only, pool of {jobs}")
        load = load1()
        bare = run_pool(specs, jobs, syntax_command)
        _log(f"{group.name}: bare cc -S -o /dev/null, pool of {jobs}")
        load_s = load1()
        bare_s = run_pool(specs, jobs, assembly_command)
        fig.values["bare_syntax"] = {"pool_wall": bare.wall, "sum_wall": bare.sum_wall, "sum_cpu": bare.sum_cpu,
                                     "limit": bare.limit, "load1": load, "passed": len(bare.passed)}
        fig.values["bare_S"] = {"pool_wall": bare_s.wall, "sum_wall": bare_s.sum_wall, "sum_cpu": bare_s.sum_cpu,
                                "limit": bare_s.limit, "load1": load_s, "passed": len(bare_s.passed)}
        fig.add("2. bare -fsyntax-only: sum of walls / cores",
                f"{bare.limit:7.2f} s (sum {bare.sum_wall:.2f} s, cpu {bare.sum_cpu:.2f} s, pool wall "
                f"{bare.wall:.2f} s), load {load:.2f}")
        fig.add("   bare -S -o /dev/null: sum of walls / cores",
                f"{bare_s.limit:7.2f} s (sum {bare_s.sum_wall:.2f} s, cpu {bare_s.sum_cpu:.2f} s, pool wall "
                f"{bare_s.wall:.2f} s), load {load_s:.2f}")
        fig.add("   -fsyntax-only / -S (the saving hdrtest starts from)", f"{bare.sum_wall / bare_s.sum_wall:.3f}")

    cold: HdrtestRun | None = None
    cache = work / "hdrtest" / "cache"
    if steps & {1, 2, 3, 4}:
        _log(f"{group.name}: hdrtest --no-cache --variants none")
        nocache = run_hdrtest(group, work / "hdrtest", "nocache", jobs, ["--no-cache", "--variants", "none"])
        _log(f"{group.name}: hdrtest cold (fresh --cache-dir) --variants none")
        cold = run_hdrtest(group, work / "hdrtest", "cold", jobs, ["--cache-dir", str(cache), "--variants", "none"])
        fig.values["hdrtest_nocache"] = {"wall": nocache.timed.wall, "cpu": nocache.timed.cpu, "load1": nocache.load,
                                         "elapsed": nocache.summary["elapsed"]}
        fig.values["hdrtest_cold"] = {"wall": cold.timed.wall, "cpu": cold.timed.cpu, "load1": cold.load,
                                      "elapsed": cold.summary["elapsed"], "summary": cold.summary}
        fig.add("   hdrtest --no-cache, wall", _secs(nocache.timed) + f", load {nocache.load:.2f}")
        fig.add("   hdrtest cold (fresh cache), wall", _secs(cold.timed) + f", load {cold.load:.2f}")
        if make_timed is not None:
            ratio = cold.timed.wall / make_timed.wall
            fig.values["ratio_1"] = ratio
            fig.add("1. hdrtest cold / make", f"{ratio:.3f} (--no-cache: {nocache.timed.wall / make_timed.wall:.3f})",
                    "<= 0.75", _verdict(ratio <= 0.75))
            hd_passed = cold.baseline_passed(group.root)
            all_headers = set(group.headers)
            fig.add("   failing headers: make / hdrtest", f"{n - len(make_passed)} / {n - len(hd_passed)}")
            only_make = (all_headers - make_passed) - (all_headers - hd_passed)
            only_hd = (all_headers - hd_passed) - (all_headers - make_passed)
            fig.values["fail_make"] = sorted(os.path.relpath(p, group.root) for p in all_headers - make_passed)
            fig.values["fail_hdrtest"] = sorted(os.path.relpath(p, group.root) for p in all_headers - hd_passed)
            agree = not only_make and not only_hd
            fig.add("   pass/fail sets agree", "yes" if agree else
                    f"NO: fail only in make: [{_names(only_make, group.root)}]; "
                    f"fail only in hdrtest: [{_names(only_hd, group.root)}]", "same sets", _verdict(agree))
        if bare is not None:
            overhead = cold.timed.wall / bare.limit - 1
            fig.values["overhead_2"] = overhead
            fig.add("2. hdrtest cold overhead over the limit",
                    f"{overhead * 100:+.1f}% (--no-cache: {(nocache.timed.wall / bare.limit - 1) * 100:+.1f}%)",
                    "<= 5%", _verdict(overhead <= 0.05))

    if cold is not None and 3 in steps:
        _log(f"{group.name}: hdrtest warm")
        warm = run_hdrtest(group, work / "hdrtest", "warm", jobs, ["--cache-dir", str(cache), "--variants", "none"])
        ratio = warm.timed.wall / cold.timed.wall
        fig.values["hdrtest_warm"] = {"wall": warm.timed.wall, "cpu": warm.timed.cpu, "load1": warm.load,
                                      "summary": warm.summary}
        fig.values["ratio_3"] = ratio
        fig.add("3. hdrtest warm, wall", _secs(warm.timed) + f", load {warm.load:.2f}, "
                f"cache hits {warm.summary['cache_hits']}/{warm.summary['results']}")
        fig.add("3. warm / cold", f"{ratio * 100:.1f}%", "<= 2%", _verdict(ratio <= 0.02))

    if cold is not None and 4 in steps and group.touch is not None:
        _measure_touch(group, work, jobs, cache, cold, closures, fig)

    if 5 in steps:
        _log(f"{group.name}: hdrtest with default variants (fresh cache)")
        run = run_hdrtest(group, work / "hdrtest", "variants", jobs, ["--cache-dir", str(work / "hdrtest" / "vcache")])
        variants = {r["variant"]["name"] for r in run.report["results"]}
        headers = run.summary["headers_checked"]
        product = len(variants) * headers
        compiled = run.summary["variants_compiled"]
        share = compiled / product if product else 0.0
        fig.values["variants"] = {"summary": run.summary, "distinct_variants": len(variants), "product": product,
                                  "wall": run.timed.wall, "cpu": run.timed.cpu, "load1": run.load}
        fig.add("5. variants: planned / deduped / compiled",
                f"{run.summary['variants_planned']} / {run.summary['variants_deduped']} / {compiled} "
                f"({_secs(run.timed)}, load {run.load:.2f})")
        fig.add("5. compiled / (headers x distinct variants)",
                f"{compiled} / ({headers} x {len(variants)} = {product}) = {share * 100:.1f}%", "<= 30%",
                _verdict(share <= 0.30))
    return fig


def _measure_touch(group: Group, work: Path, jobs: int, cache: Path, cold: HdrtestRun,
                   closures: dict[Path, frozenset[str]], fig: Figures) -> None:
    assert group.touch is not None
    touched = group.touch
    expected = {h for h, closure in closures.items() if str(touched) in closure}
    unknown = {h for h, closure in closures.items() if not closure}
    original = touched.read_bytes()
    runs: list[HdrtestRun] = []
    try:
        for attempt in (1, 2):
            # Two edits: the first --changed-since run also builds the include graph; the second shows the steady
            # state, where the graph is already in the cache.
            touched.write_bytes(original + f"/* hdrtest bench edit {attempt} */\n".encode())
            _log(f"{group.name}: touched {touched}, hdrtest --changed-since HEAD (edit {attempt})")
            runs.append(run_hdrtest(group, work / "hdrtest", f"changed{attempt}", jobs,
                                    ["--cache-dir", str(cache), "--variants", "none", "--changed-since", "HEAD"]))
            restore(group.root, touched)
    finally:
        if touched.read_bytes() != original:
            restore(group.root, touched)
    name = os.path.relpath(touched, group.root)
    fig.add("4. touched", f"{name}: {len(expected)} of {len(closures)} headers include it (gcc -M)"
            + (f"; gcc -M failed for {len(unknown)}" if unknown else ""))
    for attempt, run in enumerate(runs, 1):
        selected = run.headers(group.root, compiled_only=False)
        compiled = run.headers(group.root, compiled_only=True)
        ratio = run.timed.wall / cold.timed.wall
        exact = compiled == expected
        fig.values[f"changed_{attempt}"] = {
            "wall": run.timed.wall, "cpu": run.timed.cpu, "load1": run.load, "selected": len(selected),
            "compiled": len(compiled), "expected": len(expected), "ratio": ratio,
            "compiled_not_expected": sorted(os.path.relpath(p, group.root) for p in compiled - expected),
            "expected_not_compiled": sorted(os.path.relpath(p, group.root) for p in expected - compiled),
            "selected_not_expected": sorted(os.path.relpath(p, group.root) for p in selected - expected)}
        what = "graph built" if attempt == 1 else "graph cached"
        fig.add(f"4. --changed-since ({what}): selected / re-compiled",
                f"{len(selected)} / {len(compiled)} in {_secs(run.timed)}, load {run.load:.2f}; "
                f"{ratio * 100:.1f}% of cold")
        detail = "exactly the gcc -M dependents" if exact else (
            f"re-compiled but not dependents: [{_names(compiled - expected, group.root)}]; "
            f"dependents not re-compiled: [{_names(expected - compiled, group.root)}]")
        fig.add("   re-compiled == dependents", detail, "only the dependents", _verdict(exact))
        if attempt == 1 and selected - expected:
            fig.remarks.append(f"{group.name}: --changed-since selected {len(selected - expected)} header(s) gcc -M "
                               f"does not list as dependents (the include graph counts every #include, whatever "
                               f"#if guards it); they were cache hits, not compiles: "
                               f"{_names(selected - expected, group.root)}")


def render_table(figures: Sequence[Figures]) -> str:
    lines: list[str] = []
    for fig in figures:
        lines.append("")
        lines.append(f"## {fig.group}: {fig.headers} headers ({fig.selection})")
        width = max((len(r[0]) for r in fig.rows), default=10)
        for label, value, target, verdict in fig.rows:
            tail = f"   [target {target}: {verdict}]" if target else ""
            lines.append(f"{label:<{width}}  {value}{tail}")
        for remark in fig.remarks:
            lines.append(f"note: {remark}")
    return "\n".join(lines)


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="hdrtest-bench-"))
