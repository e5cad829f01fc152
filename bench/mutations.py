#!/usr/bin/env python3
"""Mutation benchmark for closure-wide fragility (issue 14): remove an ``#else`` stub, see who finds it.

1. pick: mechanically, every ``#ifdef CONFIG_X`` / ``#if IS_ENABLED(CONFIG_X)`` / ``#if defined(CONFIG_X)``
   in include/linux, include/net and arch/x86/include whose ``#else`` branch defines something (the
   stub), with X set in the tree's .config and the file in the include closure of an i915 header;
   taken round-robin over the three directories in path order (never chosen by hand).
2. pre-filter, cheaply, with a reason kept per candidate: X is a word-size option; the kernel's Kconfig
   (hdrtest's backend, ``kconfig-eval``: milliseconds per flip) cannot turn X off; no file of the i915
   closures names a stubbed name beyond its definitions.
3. verify, in a private git worktree of the tree (bench/kernel_worktree.py): the kernel's header-test
   rule ``gcc $(c_flags) -S -o /dev/null -x c /dev/null -include H`` (c_flags of an i915 object, the
   configuration with X off as a forced header of #undef/#define lines) must fail after the removal and
   pass before it, for an i915 header H whose text names none of the names the stub defined (the first
   ``--tries`` such headers of the candidate, in path order).
4. detect (``--detect``, on the verified lines of a results file): ``hdrtest check H`` in the worktree
   with the removal, unprompted and with ``--changed-since HEAD``; found when a failing variant turns X
   off (directly or as an implied change).
5. diagnose (``--diagnose``, same lines, planning only, no compile): with the removal applied, whether
   hdrtest's unprompted plan for H has a flip that turns X off, and if not why (a flip that would is past
   the per-header cap; X is relevant but Kconfig allows no flip that turns it off; X is not relevant: the
   removal's file is or is not fragile on X, is or is not in H's closure).

Usage: bench/mutations.py --linux /work/linux --work /tmp/me-mut [--tries K] [--pick-only]
       bench/mutations.py --linux /work/linux --work /tmp/me-mut --detect RESULTS.jsonl
       bench/mutations.py --linux /work/linux --work /tmp/me-mut --diagnose RESULTS.jsonl
Writes one JSON line per candidate (why it was dropped, or what verified it and what found it) to
--work/results.jsonl and prints the counts measured.  The include/generated headers are not regenerated
for X off in step 3 (hdrtest's variants are); step 3 is the kernel's rule with the configuration passed
as macros.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from hdrtest import check, kconfig, variants  # noqa: E402 - after the path setup above
from hdrtest.discover import discover  # noqa: E402
from hdrtest.graph.includes import IncludeGraph  # noqa: E402
from hdrtest.graph.resolve import SearchPath  # noqa: E402
from hdrtest.graph.vcs import git  # noqa: E402
from hdrtest.kbuild_flags import rule_for  # noqa: E402
from hdrtest.macros import defined_macros  # noqa: E402
from hdrtest.plan import baseline_jobs, flag_source  # noqa: E402
from hdrtest.rundir import run_caches  # noqa: E402
from hdrtest.scan.directives import scan_directives  # noqa: E402
from hdrtest.scan.options import OptionFilter  # noqa: E402
from hdrtest.scan.scancache import ScanCache  # noqa: E402
from hdrtest.settings import load_settings  # noqa: E402
from hdrtest.store.namespaces import KCONFIG  # noqa: E402
from hdrtest.toolchain.run import run  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_worktree import kernel_worktree  # noqa: E402 - a sibling script, not a package

DIRS = ("include/linux", "include/net", "arch/x86/include")
I915 = "drivers/gpu/drm/i915"
_OPTION = re.compile(r"^\s*(?:defined\s*\(?\s*(CONFIG_\w+)\s*\)?|IS_ENABLED\s*\(\s*(CONFIG_\w+)\s*\)|(CONFIG_\w+))\s*$")
_DEFINED_NAME = re.compile(r"#\s*define\s+(\w+)|\b(?:struct|union|enum)\s+(\w+)\s*\{|(\w+)\s*\([^;{]*\)\s*\{")
#: Word-size options: a .config flip keeps the build's -m64, so no header test can turn them off.
_ABI = {"CONFIG_64BIT", "CONFIG_32BIT", "CONFIG_X86_32", "CONFIG_X86_64"}


@dataclass
class Candidate:
    file: str
    option: str
    if_line: int
    else_line: int
    endif_line: int
    stubbed: list[str]
    headers: list[str] = field(default_factory=list)  # i915 headers whose closure holds the file
    verified: list[str] = field(default_factory=list)  # of those, broken by the removal with X off
    unprompted: bool | None = None
    with_change: bool | None = None
    note: str = ""


def _option(block_kind: str, expr: str) -> str | None:
    if block_kind == "ifdef":
        word = expr.strip().split()
        return word[0] if word and word[0].startswith("CONFIG_") else None
    if block_kind != "if":
        return None
    m = _OPTION.match(expr)
    return next((g for g in m.groups() if g), None) if m else None


def stubs_in(path: Path, rel: str, config: dict[str, str]) -> list[Candidate]:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        scan = scan_directives(text, rel)
    except Exception:  # noqa: BLE001 - an unbalanced file has no reliable branches
        return []
    lines = text.split("\n")
    out = []
    blocks = scan.conditionals
    for first, second in zip(blocks, blocks[1:]):
        option = _option(first.kind, first.expr)
        if option is None or second.kind != "else" or second.start_line != first.end_line:
            continue
        if config.get(option, "n") not in ("y", "m") or option in _ABI:
            continue
        body = "\n".join(lines[second.start_line:second.end_line - 1])
        names = sorted({next(g for g in m.groups() if g) for m in _DEFINED_NAME.finditer(body)})
        if names:
            out.append(Candidate(rel, option, first.start_line, second.start_line, second.end_line, names))
    return out


def i915_graph(linux: Path) -> tuple[IncludeGraph, list[Path], list[str], Path]:
    entries = json.loads((linux / "compile_commands.json").read_text())
    entry = next(e for e in entries if f"/{I915}/" in e["file"])
    args = entry.get("arguments") or shlex.split(entry["command"])
    directory = Path(entry["directory"])
    flags = [a for a in args[1:] if a not in ("-c", "-o") and not a.endswith((".c", ".o"))]
    headers = sorted((linux / I915).rglob("*.h"))
    search = SearchPath.from_flags(tuple(flags), directory, args[0], "c")
    return IncludeGraph.build(headers, search), headers, flags, directory


def _closure_words(graph: IncludeGraph, headers: list[Path]) -> dict[str, int]:
    """How often each identifier occurs over the files of the i915 headers' closures."""
    counts: dict[str, int] = {}
    seen: set[Path] = set()
    for header in headers:
        for path in graph.closure(header):
            if path in seen:
                continue
            seen.add(path)
            for word in re.findall(r"\b[A-Za-z_]\w*", path.read_text(errors="replace")):
                counts[word] = counts.get(word, 0) + 1
    return counts


def pick(linux: Path) -> list[Candidate]:
    """Every candidate stub, round-robin over DIRS; those whose names no closure file uses carry a note."""
    config = kconfig.parse_dotconfig((linux / ".config").read_text())
    graph, headers, _, _ = i915_graph(linux)
    users: dict[str, list[str]] = {}
    for header in headers:
        for path in graph.closure(header):
            users.setdefault(str(path), []).append(str(header.relative_to(linux)))
    words = _closure_words(graph, headers)
    per_dir: list[list[Candidate]] = []
    for top in DIRS:
        found = []
        for path in sorted((linux / top).rglob("*.h")):
            if str(path) in users:
                for cand in stubs_in(path, str(path.relative_to(linux)), config):
                    cand.headers = users[str(path)]
                    # A header compile can only break on a stubbed name some header uses: the name must
                    # be named in the closure at least once beyond its two definitions.
                    if not any(words.get(name, 0) > 2 for name in cand.stubbed):
                        cand.note = "dropped: no i915 closure file uses a stubbed name"
                    found.append(cand)
        per_dir.append(found)
    ordered = []
    for i in range(max(len(f) for f in per_dir)):
        ordered.extend(f[i] for f in per_dir if i < len(f))
    return ordered


def mutate(tree: Path, cand: Candidate, undo: bool = False) -> None:
    path = tree / cand.file
    if undo:
        git(tree, "checkout", "--", cand.file)
        return
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    del lines[cand.else_line - 1:cand.endif_line - 1]  # the #else line and its body; #endif stays
    path.write_text("\n".join(lines), encoding="utf-8")


def header_test(tree: Path, flags: list[str], directory: Path, header: str, forced: Path) -> bool:
    command = ["nice", "-n", "5", "gcc",
               *[f.replace(str(directory), str(tree)) for f in flags if f != "-fsyntax-only"],
               "-S", "-o", "/dev/null", "-x", "c", "/dev/null", "-include", str(forced), "-include",
               str(tree / header)]
    return run(command, cwd=tree, timeout=300).returncode == 0


def prefilter(cand: Candidate, backend: kconfig.KernelConfBackend) -> kconfig.Resolution | None:
    """The Kconfig-valid configuration with the option off, or None with the reason in ``cand.note``."""
    if cand.note:
        return None
    resolution = backend.flip(cand.option, "n")
    if resolution is None or not resolution.achieved:
        cand.note = "dropped: Kconfig does not allow it off"
        return None
    return resolution


def verify(tree: Path, cand: Candidate, flags: list[str], directory: Path, limit: int,
           resolution: kconfig.Resolution, tries: int) -> None:
    """Fill ``cand.verified``: i915 headers the removal breaks with the option off, not named by them."""
    forced = tree.parent / f"forced-{cand.option}.h"
    forced.write_text("".join(f"#undef {name}\n" + (f"#define {name} {value}\n" if value is not None else "")
                              for name, value in resolution.defines))
    unnamed = [h for h in cand.headers
               if not any(re.search(rf"\b{re.escape(n)}\b", (tree / h).read_text(errors="replace"))
                          for n in cand.stubbed)][:tries]
    if not unnamed:
        cand.note = "dropped: every i915 header that includes it names a stubbed name"
        return
    broken = []
    mutate(tree, cand)
    try:
        broken = [h for h in unnamed if not header_test(tree, flags, directory, h, forced)]
    finally:
        mutate(tree, cand, undo=True)
    # Only a header that passes without the removal is broken by it (not by the configuration alone).
    cand.verified = [h for h in broken if header_test(tree, flags, directory, h, forced)][:limit]
    if not cand.verified:
        cand.note = (f"dropped: the removal broke none of {len(unnamed)} i915 headers tried" if not broken else
                     f"dropped: {len(broken)} header(s) fail with the option off even without the removal")


def detected(tree: Path, header: str, option: str, cache: Path, *extra: str) -> tuple[bool, str]:
    """Whether ``hdrtest check`` names the option in a failing variant, and what it said otherwise."""
    out = run(["nice", "-n", "5", sys.executable, "-m", "hdrtest", "check", "-q", "--cache-dir", str(cache),
               "--format", "json", *extra, header], cwd=tree, timeout=3600, limit=1 << 28)
    try:
        data = json.loads(out.out)
    except ValueError:
        return False, f"no report (exit {out.returncode})"
    results = [r for r in data.get("results", []) if r["variant"]["name"] != "baseline"]
    off = [r for r in results if any(c["option"] == option and c["value"] == "n"
                                     for c in r["variant"]["changes"] + r["variant"]["implied"])]
    if any(r["status"] == "fail" for r in off):
        return True, f"{len(results)} variants"
    if off:
        return False, f"{len(results)} variants; the {option}=n one: {off[0]['status']}"
    named = option in data.get("relevant_options", {}).get(header, {})
    return False, f"{len(results)} variants; {option} {'relevant but not flipped' if named else 'not relevant'}"


def _counts(cands: list[Candidate]) -> str:
    reasons: dict[str, int] = {}
    for cand in cands:
        if not cand.verified:
            key = re.sub(r"\b\d+\b", "N", cand.note or "not processed")
            reasons[key] = reasons.get(key, 0) + 1
    verified = [c for c in cands if c.verified]
    lines = [f"{len(cands)} candidates, {len(verified)} verified "
             f"({', '.join(f'{d}: {sum(c.file.startswith(d) for c in verified)}' for d in DIRS)})"]
    lines += [f"  {n:4d} {why}" for why, n in sorted(reasons.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines)


def run_verify(linux: Path, work: Path, tree: Path, args: argparse.Namespace) -> None:
    candidates = pick(linux)
    print(f"{len(candidates)} candidate #else stubs reachable from i915 headers "
          f"({', '.join(f'{d}: {sum(c.file.startswith(d) for c in candidates)}' for d in DIRS)})", flush=True)
    if args.pick_only:
        for cand in candidates:
            print(f"  {cand.file}:{cand.else_line} {cand.option} stubs {', '.join(cand.stubbed[:4])} {cand.note}")
        return
    _, _, flags, directory = i915_graph(tree)
    backend = kconfig.KernelConfBackend(tree, tree / ".config", work / "kconfig")
    with open(work / "results.jsonl", "w", encoding="utf-8") as log:
        for cand in candidates:
            resolution = prefilter(cand, backend)
            if resolution is not None:
                verify(tree, cand, flags, directory, args.headers, resolution, args.tries)
            log.write(json.dumps(asdict(cand)) + "\n")
            log.flush()
            print(f"{cand.file}:{cand.else_line} {cand.option}: verified {len(cand.verified)} {cand.note}",
                  flush=True)
    backend.close()
    print(_counts(candidates))


def run_detect(work: Path, tree: Path, results: Path) -> None:
    """Detection on the verified lines of ``results``; measured ones go to --work/detected.jsonl (a rerun
    continues where the last one stopped) and are merged into --work/results-detected.jsonl."""
    cands = [Candidate(**json.loads(line)) for line in results.read_text().splitlines() if line.strip()]
    done_file = work / "detected.jsonl"
    done = {(c["file"], c["else_line"]): c for c in map(json.loads, done_file.read_text().splitlines())
            } if done_file.exists() else {}
    cache = work / "cache"
    with open(done_file, "a", encoding="utf-8") as log:
        for cand in cands:
            if not cand.verified or (cand.file, cand.else_line) in done:
                continue
            header = cand.verified[0]
            mutate(tree, cand)
            try:
                cand.unprompted, unprompted_note = detected(tree, header, cand.option, cache)
                cand.with_change, change_note = detected(tree, header, cand.option, cache,
                                                         "--changed-since", "HEAD")
            finally:
                mutate(tree, cand, undo=True)
            cand.note = f"unprompted: {unprompted_note}; with the change: {change_note}"
            print(f"{cand.file}:{cand.else_line} {cand.option} {header}: unprompted {cand.unprompted}, "
                  f"with change {cand.with_change} ({cand.note})", flush=True)
            done[(cand.file, cand.else_line)] = asdict(cand)
            log.write(json.dumps(asdict(cand)) + "\n")
            log.flush()
    merged = [done.get((c.file, c.else_line), asdict(c)) for c in cands]
    (work / "results-detected.jsonl").write_text("".join(json.dumps(c) + "\n" for c in merged))
    measured = [c for c in merged if c["unprompted"] is not None]
    print(f"measured {len(measured)} verified mutations: unprompted {sum(bool(c['unprompted']) for c in measured)}, "
          f"with the change {sum(bool(c['with_change']) for c in measured)}")


def _turns_off(flipper: variants.Flipper, option: str, macros: dict[str, str], target: str) -> bool:
    """Whether some flip of ``option`` that Kconfig allows ends with ``target`` off."""
    for value in flipper.targets_for(option, macros):
        res = flipper.resolve(option, value)
        if res is not None and res.achieved and res.defines and any(
                c.name == target and c.value == "n" for c in (*(res.via or (res.requested,)), *res.implied)):
            return True
    return False


class Planner:
    """hdrtest's unprompted planning for one header of a tree, the Kconfig backend kept across mutations."""

    def __init__(self, tree: Path, cache: Path) -> None:
        self.tree, self.cache = tree, cache
        self.settings = load_settings([str(tree)], {"cache_dir": str(cache)}, cwd=tree)
        self.source = flag_source(self.settings)
        self.options = OptionFilter.from_args([self.settings.option_pattern], self.settings.options)
        self.caches = run_caches(self.settings)
        backend = check._kconfig_backend(self.settings, self.source, KCONFIG.directory(self.caches))
        self.flipper = variants.Flipper(backend, None)

    def plans(self, header: str) -> tuple[variants.HeaderPlan, variants.HeaderPlan, variants.ScanContext]:
        """The header's capped plan, its uncapped one (every relevant option, in the order the cap takes them)."""
        headers, _ = discover([self.tree / header], self.settings)
        jobs = baseline_jobs(headers, self.settings, self.source)
        context = variants.scan_context(jobs, self.caches, ScanCache(cache_dir=self.caches),
                                        relevance_dir=self.caches)
        unlimited = variants.Strategy(max_options=1 << 30, max_closure_options=1 << 30)
        # The rule check.plan_all_variants gives its flipper: closure-wide flips that change Kbuild's flags are
        # not planned.
        self.flipper.rule = rule_for(self.tree, jobs[0], linux=True)
        plans, fragile = check.plan_reasons(self.settings, jobs, context, self.options, unlimited, self.flipper,
                                            None, self.caches, True, [])
        capped = replace(plans[0], reasons=list(plans[0].reasons))
        variants.cap_options(capped, variants.Strategy(), self.flipper, {option for _, option in fragile})
        return capped, plans[0], context


def diagnosis(planner: Planner, cand: Candidate) -> str:
    """Why hdrtest's unprompted plan for the candidate's header has, or has not, a flip turning its option off."""
    header = cand.verified[0]
    plan, full, context = planner.plans(header)
    macros = defined_macros(plan.job)
    flips = planner.flipper
    if any(_turns_off(flips, r.option, macros, cand.option) for r in plan.reasons):
        return "planned"
    usable = [r for r in full.reasons if any(flips.flips(r.option, macros))]
    hits = [r for r in full.reasons if _turns_off(flips, r.option, macros, cand.option)]
    if hits:
        rank = [r.option for r in full.reasons].index(hits[0].option) + 1
        usable_rank = [r.option for r in usable].index(hits[0].option) + 1
        return (f"past the cap: {hits[0].option} is relevant option {rank} of {len(full.reasons)}, "
                f"flippable option {usable_rank} of {len(usable)}")
    if any(r.option == cand.option for r in full.reasons):
        return "relevant, but Kconfig allows no flip that turns it off"
    graph = variants.graph_of(context, plan.job)
    mutated = str(planner.tree / cand.file)
    if mutated not in {str(p) for p in graph.closure(plan.job.header)}:
        return "not relevant: the mutated file is not in the header's closure"
    return "not relevant: no fragile use in the header's closure is on it"


def run_diagnose(work: Path, tree: Path, results: Path) -> None:
    """Planning only: per verified mutation, whether its option is planned for its header, else why not."""
    cands = [c for c in (Candidate(**json.loads(line)) for line in results.read_text().splitlines() if line.strip())
             if c.verified]
    planner = Planner(tree, work / "cache")
    reasons: dict[str, int] = {}
    with open(work / "diagnosed.jsonl", "w", encoding="utf-8") as log:
        for cand in cands:
            mutate(tree, cand)
            try:
                why = diagnosis(planner, cand)
            finally:
                mutate(tree, cand, undo=True)
            print(f"{cand.file}:{cand.else_line} {cand.option} {cand.verified[0]}: {why}", flush=True)
            log.write(json.dumps({"file": cand.file, "else_line": cand.else_line, "option": cand.option,
                                  "header": cand.verified[0], "diagnosis": why}) + "\n")
            log.flush()
            key = re.sub(r"\b\d+\b", "N", re.sub(r"CONFIG_\w+", "X", why))
            reasons[key] = reasons.get(key, 0) + 1
    print(f"{len(cands)} verified mutations, planning only:")
    for why, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"  {n:4d} {why}")


def plan_count(tree: Path, cache: Path) -> None:
    """How many variants ``hdrtest check`` plans for the i915 headers of ``tree``, and how many of them
    closure-wide fragility added (planning only)."""
    target = str(tree / I915)
    settings = load_settings([target], {"cache_dir": str(cache)}, cwd=tree)
    headers, _ = discover(check.paths_to_check(settings, [target]), settings)
    source = flag_source(settings)
    jobs = baseline_jobs(headers, settings, source)
    unbuilt = check.not_built(jobs, settings.root)
    jobs = [j for j in jobs if j not in unbuilt]
    start = time.monotonic()
    planning = check.plan_all_variants(settings, source, jobs)
    seconds = time.monotonic() - start
    fragile = set(planning.fragile)
    added = [j for j in planning.jobs if any((j.display, c.name) in fragile for c in j.variant.changes)]
    reasons = sum(len(r) for r in planning.relevance.values())
    by_option: dict[str, int] = {}
    for job in added:
        for change in job.variant.changes:
            by_option[change.name] = by_option.get(change.name, 0) + 1
    print(json.dumps({"headers": len(jobs), "variants_planned": len(planning.jobs), "by_fragility": len(added),
                      "relevant_options": reasons, "fragile_options": len(fragile),
                      "planning_seconds": round(seconds, 1),
                      "fragility_variants_by_option": dict(sorted(by_option.items(), key=lambda kv: -kv[1])[:15]),
                      "closure_notes": [n for n in planning.notes if n.startswith("closure analysis")],
                      "reason_by_option": {o: next(f.reason for (_, x), f in planning.fragile.items() if x == o)
                                           for o in sorted(by_option, key=lambda o: -by_option[o])[:5]}}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--linux", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--headers", type=int, default=1, help="verified i915 headers kept per candidate")
    parser.add_argument("--tries", type=int, default=6, help="i915 headers tried per candidate (in path order)")
    parser.add_argument("--pick-only", action="store_true")
    parser.add_argument("--detect", type=Path, help="measure detection on the verified lines of this file")
    parser.add_argument("--diagnose", type=Path, help="planning only: why each verified line's option is (not) planned")
    parser.add_argument("--plan-count", action="store_true",
                        help="count the variants planned for the i915 headers of the pristine --linux tree")
    args = parser.parse_args()
    linux = args.linux.resolve()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.pick_only:
        run_verify(linux, work, linux, args)
        return 0
    if args.plan_count:
        plan_count(linux, work / "plan-cache")
        return 0
    with kernel_worktree(linux, work / "linux") as tree:
        if args.detect:
            run_detect(work, tree, args.detect.resolve())
        elif args.diagnose:
            run_diagnose(work, tree, args.diagnose.resolve())
        else:
            run_verify(linux, work, tree, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
