#!/usr/bin/env python3
"""Cost of the fragility facts for a kernel's include/ and arch/x86/include: cold, then warm.

Cold: a fresh cache directory; the symbol index (tree-sitter) and the per-file use facts are
computed for every header.  Warm: the same again in a new process state reading the cache.
Usage: bench/facts_cost.py --linux /work/linux --cache /tmp/me-facts [--jobs 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from hdrtest.analysis import facts  # noqa: E402 - after the path setup above
from hdrtest.scan.scancache import ScanCache  # noqa: E402
from hdrtest.scan.symbols import SymbolIndex  # noqa: E402


def build(paths: list[Path], cache: Path, jobs: int) -> tuple[float, int]:
    start = time.monotonic()
    index = SymbolIndex.build(paths, cache / "symbols", jobs=jobs)
    scans = ScanCache()
    uses = 0
    for path in paths:
        digest = index.digest(path)
        if digest is None:
            continue
        found = facts.load_uses(cache / "facts", digest)
        if found is None:
            data = path.read_bytes()
            _, scan, _ = scans.scan(str(path), data)
            found = facts.file_uses(data, scan, index.definitions_in(path))
            facts.store_uses(cache / "facts", digest, found)
        uses += len(found)
    return time.monotonic() - start, uses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--linux", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    paths = sorted(p.resolve() for top in ("include", "arch/x86/include") for p in (args.linux / top).rglob("*.h"))
    shutil.rmtree(args.cache, ignore_errors=True)
    cold, uses = build(paths, args.cache, args.jobs)
    warm, again = build(paths, args.cache, args.jobs)
    print(f"{len(paths)} headers, {uses} uses: cold {cold:.1f} s, warm {warm:.1f} s (uses read back: {again})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
