"""Benchmark: hdrtest against the kernel-style header test and the bare compiler, on the same cores, in one run.

    python bench/bench.py --tree /work/linux --set i915            # 431 headers of drivers/gpu/drm/i915
    python bench/bench.py --tree /work/linux --set include-linux --sample 4
    python bench/bench.py                                          # fallback: /usr/include/linux + examples/

Prints one table of ratios (see bench/README.md for what each row means):

1. the kernel-style header test (a generated Makefile, one target per header running the kernel i915 rule
   ``$(CC) $(c_flags) -S -o /dev/null -x c /dev/null -include $<`` plus a stamp, ``make -jN -k``) vs
   ``hdrtest check`` cold; pass/fail sets of both are compared;
2. the sum of bare ``cc -fsyntax-only`` compile times divided by the cores (the limit) vs hdrtest cold;
3. hdrtest warm (same cache, nothing changed) vs cold;
4. after touching one deep header: headers re-checked by ``--changed-since HEAD`` and the time, checked against
   the reverse include closure ``gcc -M`` reports;
5. variants: compiles run vs the naive product (headers x every variant planned for any header).

Nothing is written into the checked tree except the one touched header, restored with ``git checkout`` in a
``finally`` block.  Everything else (Makefile, stamps, caches, reports) lives under ``--out`` (a private temporary
directory by default).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_measure import (  # noqa: E402 - after the path setup above
    GATE,
    Figures,
    default_jobs,
    machine_lines,
    measure_group,
    render_table,
    scratch_dir,
)
from bench_sets import SETS, Group, build_set  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, help="a prepared Linux tree (bench/setup-linux.sh); "
                                                  "without it: the fallback set")
    parser.add_argument("--set", dest="set_name", choices=SETS,
                        help="header set (default: i915 with --tree, else fallback)")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="parallel compiles for every method "
                                                                         "(default: all cores)")
    parser.add_argument("--out", type=Path, help="work directory (default: a private temporary directory, removed "
                                                 "unless --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    parser.add_argument("--sample", type=int, default=1, metavar="K",
                        help="use every K-th header of the set (sorted by path); default 1 = all")
    parser.add_argument("--touch", help="header to touch for step 4, relative to the set's tree "
                                        "(default: chosen per set)")
    parser.add_argument("--kernel-doc", action="store_true",
                        help="also time the kernel's full i915 rule (compile, then scripts/kernel-doc -none "
                             "-Werror) as an extra row")
    parser.add_argument("--repeat", type=int, default=1, metavar="R",
                        help="run steps 1-3 R times, interleaved, and keep each method's fastest round (other "
                             "processes only ever slow a run down); default 1")
    parser.add_argument("--pairs", type=int, default=0, metavar="N",
                        help="also measure targets 1 and 2 as N back-to-back pairs (reference, hdrtest cold, "
                             "reference, alternating) and report the median ratio; default 0 = off")
    parser.add_argument("--quiet-wait", type=float, default=0.0, metavar="SECONDS",
                        help="before each timed method, wait up to SECONDS for other processes to leave the cores "
                             "idle (a shared machine); default 0 = do not wait")
    parser.add_argument("--steps", default="1,2,3,4,5", help="which measurements to run (default all: 1,2,3,4,5)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure as JSON to FILE")
    args = parser.parse_args(argv)
    if args.set_name is None:
        args.set_name = "i915" if args.tree else "fallback"
    if args.set_name != "fallback" and args.tree is None:
        parser.error(f"--set {args.set_name} needs --tree (a prepared Linux tree)")
    if args.jobs < 1 or args.sample < 1 or args.repeat < 1 or args.pairs < 0:
        parser.error("--jobs, --sample and --repeat must be positive, --pairs not negative")
    try:
        args.step_set = {int(s) for s in args.steps.split(",") if s.strip()}
    except ValueError:
        parser.error("--steps takes numbers 1-5 separated by commas")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    GATE.patience = args.quiet_wait
    out = args.out.resolve() if args.out else scratch_dir()
    out.mkdir(parents=True, exist_ok=True)
    try:
        started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        machine = machine_lines()  # before measuring: the commit under test is the one the run started with
        groups: list[Group] = build_set(args.set_name, args.tree, out, sample=args.sample, touch=args.touch)
        print(f"hdrtest bench: set {args.set_name}, {sum(len(g.headers) for g in groups)} headers in "
              f"{len(groups)} group(s), jobs {args.jobs}, work dir {out}", file=sys.stderr)
        figures: list[Figures] = []
        for group in groups:
            figures.append(measure_group(group, out / group.name.replace("/", "-"), jobs=args.jobs,
                                         steps=args.step_set, kernel_doc=args.kernel_doc, repeat=args.repeat,
                                         pairs=args.pairs))
        print(f"# hdrtest bench, set {args.set_name}, started {started}, finished "
              f"{time.strftime('%H:%M:%S')}, jobs {args.jobs}")
        for line in machine:
            print(f"# {line}")
        print(render_table(figures))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps([f.as_dict() for f in figures], indent=2) + "\n", encoding="utf-8")
    finally:
        if args.out is None and not args.keep:
            shutil.rmtree(out, ignore_errors=True)
        else:
            print(f"# work directory kept: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
