#!/usr/bin/env python3
"""Cost of the fragility facts for a kernel's include/ and arch/x86/include: cold, then warm.

Cold: a fresh cache directory; the symbol index (tree-sitter) and the per-file use facts are
computed for every header, in ``--jobs`` worker processes (one read and scan per file).  Warm:
the same again in a new index reading the cache (files known by their stat stamps are not read).
Each phase prints wall seconds and CPU seconds (user+sys, this process and its workers).
Usage: bench/facts_cost.py --linux /work/linux --cache /tmp/me-facts [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from hdrtest.analysis import facts  # noqa: E402 - after the path setup above
from hdrtest.scan.scancache import ScanCache  # noqa: E402
from hdrtest.scan.symbols import SymbolIndex  # noqa: E402


def cpu() -> float:
    mine, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + workers.ru_utime + workers.ru_stime


def build(paths: list[Path], cache: Path, jobs: int) -> tuple[float, float, int, int]:
    """Wall and CPU seconds, uses, and files whose uses were computed outside the index's pass."""
    start, started = time.monotonic(), cpu()
    index = SymbolIndex.build(paths, cache, jobs=jobs, companion=facts.FactsMaker(cache))
    scans = ScanCache()
    uses = late = 0
    for path in paths:
        digest = index.digest(path)
        if digest is None:
            continue
        found = facts.load_uses(cache, digest)
        if found is None:
            late += 1
            data = path.read_bytes()
            _, scan, _ = scans.scan(str(path), data)
            found = facts.file_uses(data, scan, index.definitions_in(path))
            facts.store_uses(cache, digest, found)
        uses += len(found)
    return time.monotonic() - start, cpu() - started, uses, late


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--linux", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    paths = sorted(p.resolve() for top in ("include", "arch/x86/include") for p in (args.linux / top).rglob("*.h"))
    shutil.rmtree(args.cache, ignore_errors=True)
    load = os.getloadavg()[0]
    cold, cold_cpu, uses, late = build(paths, args.cache, args.jobs)
    warm, warm_cpu, again, _ = build(paths, args.cache, args.jobs)
    print(f"{len(paths)} headers, {uses} uses ({late} computed late): cold {cold:.1f} s wall, {cold_cpu:.1f} s CPU; "
          f"warm {warm:.2f} s wall, {warm_cpu:.2f} s CPU (uses read back: {again}); "
          f"load {load:.1f} -> {os.getloadavg()[0]:.1f}, jobs {args.jobs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
