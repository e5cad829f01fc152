"""Benchmark: Kconfig evaluation on a prepared Linux tree, kconfig-eval against conf --olddefconfig.

    python bench/bench_kconfig.py --tree /work/linux                 # 100 evaluations, 3 conf runs
    python bench/bench_kconfig.py --tree /work/linux --evals 300 --conf 5
    python bench/bench_kconfig.py --tree /work/linux --variants      # also: cold i915 variants vs one configuration,
                                                                     # and the changed-since run on kvm_page_track.h
    python bench/bench_kconfig.py --tree /work/linux --evals 0 --conf 0 --formula 1000
                                                                     # the SAT formula: load, query times, and
                                                                     # 1,000 random models checked by kconfig-eval

Prints the helper's build and parse times, the time of one evaluation (random single and paired flips of
visible and hidden options, each evaluated afresh), the same for the tree's ``conf --olddefconfig``, and the
time of whole flips through the search (hidden options reached through their selectors).  Nothing is written
into the tree; the helper and every cache live in a private temporary directory (``--out`` keeps them).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from kernel_worktree import kernel_worktree, remove_else_stub  # noqa: E402

from hdrtest.kconfig import KernelConfBackend, config_line, parse_dotconfig  # noqa: E402 - after the path setup above
from hdrtest.kconfig.formula import Formula, FormulaSolver, crosscheck  # noqa: E402
from hdrtest.kconfig.helper import build_helper  # noqa: E402
from hdrtest.kconfig.scan import scan_kconfig_tree  # noqa: E402

#: Real flips of the i915/GVT case: hidden options, a select chain, a plain option with dependents.
FLIPS = [("CONFIG_KVM_EXTERNAL_WRITE_TRACKING", "n"), ("CONFIG_DRM_I915_GVT_KVMGT", "n"), ("CONFIG_PM", "n"),
         ("CONFIG_SMP", "n"), ("CONFIG_DEBUG_LOCK_ALLOC", "y"), ("CONFIG_DRM_I915_GVT", "n"),
         ("CONFIG_PREEMPT_COUNT", "y"), ("CONFIG_MMU_NOTIFIER", "n")]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tree", type=Path, required=True, help="a prepared Linux tree")
    parser.add_argument("--evals", type=int, default=100, help="helper evaluations timed (default 100)")
    parser.add_argument("--conf", type=int, default=3, help="conf --olddefconfig runs timed (default 3)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--flips", type=int, default=69,
                        help="whole flips through the search timed serially (default 69, include/linux's count)")
    parser.add_argument("--variants", action="store_true",
                        help="also time hdrtest check on i915 (cold, default variants vs --variants none) and "
                             "--changed-since HEAD after removing kvm_page_track.h's #else stub (in a private "
                             "git worktree)")
    parser.add_argument("--formula", type=int, default=0, metavar="N",
                        help="also build the SAT formula, time its queries, and check N random models of it "
                             "against kconfig-eval (every disagreement is listed)")
    parser.add_argument("--out", type=Path, help="keep the work directory here")
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    return parser.parse_args(argv)


def random_flips(root: Path, baseline: dict[str, str], count: int, seed: int) -> list[tuple[tuple[str, str], ...]]:
    index = scan_kconfig_tree(root)
    rng = random.Random(seed)
    names = sorted(n for n, v in baseline.items() if v in ("y", "m", "n")
                   and (index.get(n[7:]) is not None) and index[n[7:]].type in ("bool", "tristate"))
    out: list[tuple[tuple[str, str], ...]] = []
    while len(out) < count:
        picked = tuple((n, "n" if baseline[n] != "n" else "y") for n in rng.sample(names, 1 + len(out) % 2))
        out.append(picked)
    return out


def process_cpu(backend: KernelConfBackend) -> float:
    """User plus system CPU seconds of the backend's running helper (Linux /proc)."""
    evaluator = backend._evaluator
    assert evaluator is not None
    fields = Path(f"/proc/{evaluator._child.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def evaluation_times(root: Path, work: Path, args: argparse.Namespace) -> dict[str, float]:
    figures: dict[str, float] = {}
    started = time.monotonic()
    build_helper(root, work / "helper" / "helper")  # where the backend below looks for it
    figures["helper_build_s"] = time.monotonic() - started
    baseline = parse_dotconfig((root / ".config").read_text())
    flips = random_flips(root, baseline, args.evals, args.seed)
    helper = KernelConfBackend(root, root / ".config", work / "helper", mode="helper")
    helper._evaluate(flips[0])  # starts the helper: Kconfig is parsed here
    figures["helper_parse_s"] = helper.helper_parse_seconds or 0.0
    times = []
    cpu_before, own_before = process_cpu(helper), time.process_time()
    for assigns in flips:
        helper._eval_memo.clear()
        t = time.monotonic()
        helper._evaluate(assigns)
        times.append(time.monotonic() - t)
    # CPU seconds of the helper process itself: on a shared, loaded machine wall time is mostly waiting.
    figures["helper_eval_cpu_ms"] = (process_cpu(helper) - cpu_before) / len(flips) * 1000
    figures["python_eval_cpu_ms"] = (time.process_time() - own_before) / len(flips) * 1000
    figures["helper_eval_median_ms"] = statistics.median(times) * 1000
    figures["helper_eval_mean_ms"] = statistics.fmean(times) * 1000
    figures["helper_eval_p90_ms"] = sorted(times)[int(len(times) * 0.9)] * 1000
    conf = KernelConfBackend(root, root / ".config", work / "conf", mode="conf")
    for assigns in flips[:args.conf]:
        conf._evaluate(assigns)
    if conf.timings:
        figures["conf_eval_mean_s"] = statistics.fmean(conf.timings)
    fresh = KernelConfBackend(root, root / ".config", work / "flips", mode="helper")
    fresh._evaluate(flips[0])
    t = time.monotonic()
    for option, value in FLIPS:
        fresh.flip(option, value)
    figures["flip_mean_ms"] = (time.monotonic() - t) / len(FLIPS) * 1000
    figures["flip_evaluations"] = len(fresh.timings) - 1
    # What a run's flips cost one helper, serially: the i915 variants run asked for 33 distinct
    # flips, include/linux's 69.  A second helper would first spend a whole parse (helper_parse_s).
    more = [(name, value) for assigns in random_flips(root, baseline, 2 * args.flips, args.seed + 1)
            for name, value in assigns][:args.flips]
    evals_before = len(fresh.timings)
    t = time.monotonic()
    for option, value in more:
        fresh.flip(option, value)
    figures["flips_count"] = len(more)
    figures["flips_serial_total_s"] = time.monotonic() - t
    figures["flips_serial_evaluations"] = len(fresh.timings) - evals_before
    helper.close()
    fresh.close()
    return figures


def formula_figures(root: Path, work: Path, count: int, seed: int) -> dict[str, float]:
    """The formula on the tree: build and load times, query times, and ``count`` random models
    checked against kconfig-eval (disagreements are printed, one line each)."""
    figures: dict[str, float] = {}
    backend = KernelConfBackend(root, root / ".config", work / "formula", mode="helper")
    evaluator = backend._helper()
    t = time.monotonic()
    model = backend.model()
    formula = Formula(model, backend.baseline())
    figures["formula_build_s"] = time.monotonic() - t
    figures["formula_clauses"] = len(formula.clauses)
    figures["formula_variables"] = formula.variables
    t = time.monotonic()
    solver = FormulaSolver(formula)
    figures["solver_load_s"] = time.monotonic() - t
    base = {n: formula.baseline_value(n) if formula.baseline_value(n) in ("y", "m") else "n" for n in formula.vars}
    t = time.monotonic()
    figures["baseline_valid"] = float(solver.valid(base))
    figures["valid_query_s"] = time.monotonic() - t
    closest = []
    others = [line for line in (root / ".config").read_text().splitlines()
              if line.startswith("CONFIG_") and line.split("=", 1)[0][len("CONFIG_"):] not in formula.vars]
    off_total = 0
    for option, value in FLIPS:
        t = time.monotonic()
        found = solver.closest({option[len("CONFIG_"):]: value})
        closest.append((time.monotonic() - t, found))
        off = -1
        if found is not None:  # the answer, checked: olddefconfig keeps it as it is
            text = "\n".join(others + [config_line("CONFIG_" + n, v) for n, v in found.values.items()]) + "\n"
            state = evaluator.evaluate(text)
            off = sum(1 for n, v in found.values.items() if (state.get("CONFIG_" + n, "n") or "n") != v)
            off_total += off
        print(f"closest {option}={value}: " + ("none" if found is None else
              f"distance {found.distance}, lower bound {found.lower_bound}, proven {found.proven}, "
              f"{found.solver_calls} solver calls, {off} symbols the evaluator changes"), file=sys.stderr)
    figures["closest_symbols_evaluator_changes"] = off_total
    figures["closest_mean_s"] = statistics.fmean(took for took, _f in closest)
    figures["closest_proven"] = sum(1 for _t, f in closest if f is not None and f.proven)
    figures["closest_queries"] = len(closest)
    if count:
        t = time.monotonic()
        result = crosscheck(solver, evaluator.evaluate, others, count, seed)
        figures["crosscheck_s"] = time.monotonic() - t
        figures["crosscheck_models"] = result.models
        figures["crosscheck_unsatisfiable_draws"] = result.unsatisfiable_draws
        for kind in ("evaluator-changes-model", "formula-rejects-evaluated"):
            figures[f"crosscheck_{kind}"] = sum(1 for d in result.disagreements if d.kind == kind)
        wrong: dict[str, int] = {}
        for d in result.disagreements:
            for name, _f, _e in d.symbols:
                wrong[name] = wrong.get(name, 0) + 1
            print(f"disagreement {d.kind}: drawn {d.drawn}: {d.symbols[:5]}", file=sys.stderr)
        for name, n in sorted(wrong.items(), key=lambda kv: -kv[1])[:20]:
            print(f"symbol off in {n} models: {name}", file=sys.stderr)
    solver.close()
    backend.close()
    return figures


#: CPU seconds (user+sys) of each ``hdrtest_check`` run, hdrtest and every program it ran, by the run's figure
#: name: on a shared machine wall time is mostly waiting, the CPU is what the run cost.
CPU: dict[str, float] = {}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def hdrtest_check(root: Path, cache: Path, *args: str) -> tuple[float, int, str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    t, cpu = time.monotonic(), _children_cpu()
    proc = subprocess.run([sys.executable, "-m", "hdrtest", "check", "--cache-dir", str(cache), *args],
                          cwd=root, env=env, capture_output=True, text=True, check=False)
    CPU[cache.name] = _children_cpu() - cpu
    if proc.returncode not in (0, 1):
        print(proc.stderr[-2000:], file=sys.stderr)
    return time.monotonic() - t, proc.returncode, proc.stdout


def variant_times(root: Path, work: Path) -> dict[str, float]:
    figures: dict[str, float] = {}
    i915 = "drivers/gpu/drm/i915"
    single, rc, _ = hdrtest_check(root, work / "c-none", "--variants", "none", "--format", "json", i915)
    figures["i915_single_config_cold_s"] = single
    # The Kconfig engine's figure: default variants without the closure-wide analysis (issue 14), whose
    # own cost is the ratio of the full run to this one.
    plain, rc1, _ = hdrtest_check(root, work / "c-plain", "--no-closure-analysis", "--format", "json", i915)
    figures["i915_default_variants_no_closure_cold_s"] = plain
    figures["i915_no_closure_over_single"] = plain / single
    variants, rc2, out = hdrtest_check(root, work / "c-default", "--format", "json", i915)
    figures["i915_default_variants_cold_s"] = variants
    figures["i915_variants_over_single"] = variants / single
    figures["i915_closure_over_no_closure"] = variants / plain
    figures["i915_exit_codes"] = rc * 100 + rc1 * 10 + rc2
    report = json.loads(out) if out.strip() else {}
    figures["i915_default_failed_results"] = report.get("summary", {}).get("failed_results", -1)
    (work / "i915-default.json").write_text(out)
    # The changed-since run: a private worktree of the tree, with the build outputs it needs.
    with kernel_worktree(root, work / "linux") as tree:
        remove_else_stub(tree)
        took, rc, out = hdrtest_check(tree, work / "c-changed", "--changed-since", "HEAD", "--format", "json")
        figures["changed_since_cold_s"] = took
        figures["changed_since_exit"] = rc
        report = json.loads(out) if out.strip() else {}
        failing = [r for r in report.get("results", []) if r.get("status") == "fail"
                   and r.get("header", "").endswith("gvt/gvt.h")]
        figures["gvt_h_failing_variants"] = len(failing)
        figures["gvt_h_fails_with_write_tracking_off"] = float(any(
            {"option": "CONFIG_KVM_EXTERNAL_WRITE_TRACKING", "value": "n"} in
            r["variant"]["changes"] + r["variant"]["implied"] for r in failing))
        figures["changed_since_results"] = len(report.get("results", []))
        (work / "changed-since.json").write_text(out)
    figures.update({f"cpu_s_{name}": seconds for name, seconds in CPU.items()})
    figures["i915_no_closure_over_single_cpu"] = CPU["c-plain"] / CPU["c-none"]
    figures["load_average_1min"] = os.getloadavg()[0]
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = args.tree.resolve()
    work = args.out.resolve() if args.out else Path(tempfile.mkdtemp(prefix="bench-kconfig-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        figures = evaluation_times(root, work, args) if args.evals else {}
        if args.formula or not args.evals:
            figures.update(formula_figures(root, work, args.formula, args.seed))
        if args.variants:
            figures.update(variant_times(root, work))
    finally:
        if not args.out:
            shutil.rmtree(work, ignore_errors=True)
    print(f"# hdrtest bench_kconfig, tree {root}, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, "
          f"{os.cpu_count()} cpus")
    for name, value in figures.items():
        print(f"{name:32} {value:10.3f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
