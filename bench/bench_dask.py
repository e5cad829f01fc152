"""Benchmark: the same headers on one local worker vs two Dask workers on this machine.

    PYTHONPATH=src python bench/bench_dask.py [--set usr-linux|synthetic|all] [--limit N] [--batch N ...] [--repeat N]

Two header sets bracket real trees: ``usr-linux`` is /usr/include/linux (system headers,
~10 ms per compile: Dask's per-task overhead is most visible there) and ``synthetic`` is
generated headers that each pull in a large include closure (~0.1-0.3 s per compile, like a
kernel driver header).  Every run's report is compared with the local one (timings
removed): a faster run with different answers would be worthless.

Prints wall times, the ratio local(1) / dask(2 workers), and the measured round trip of an
empty Dask task, which is the overhead each compile pays on the cluster.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask
from distributed import Client, LocalCluster

from hdrtest.check import check
from hdrtest.executors import Executor
from hdrtest.executors.dask import DaskExecutor
from hdrtest.executors.local import LocalExecutor
from hdrtest.models import CheckReport
from hdrtest.report.serialize import report_dict
from hdrtest.settings import Settings


def _stripped(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _stripped(v) for k, v in data.items() if k not in ("duration", "elapsed")}
    if isinstance(data, list):
        return [_stripped(v) for v in data]
    return data


def synthetic_tree(directory: Path, count: int) -> Settings:
    """``count`` headers, each including a shared closure of ~130k declarations."""
    include = directory / "include"
    include.mkdir(parents=True)
    lines = ["#ifndef BIG_H", "#define BIG_H", "#define D0 int big(int);"]
    lines += [f"#define D{i} D{i - 1} D{i - 1}" for i in range(1, 18)]
    lines += ["D17", "#endif", ""]
    (include / "big.h").write_text("\n".join(lines))
    for index in range(count):
        (include / f"part_{index}.h").write_text(
            f'#include "big.h"\nstruct part_{index} {{ int a; long b; }};\n'
            f"static inline int part_{index}_a(const struct part_{index} *p) {{ return p->a; }}\n")
    return Settings(root=directory, cc="gcc", cflags=("-std=gnu11", f"-I{include}"), jobs=1)


def usr_linux(limit: int) -> tuple[Settings, list[str]]:
    root = Path("/usr/include")
    headers = sorted(str(p) for p in (root / "linux").rglob("*.h"))
    if limit:
        headers = headers[:limit]
    return Settings(root=root, cc="gcc", cflags=("-std=gnu11",), jobs=1), headers


def run_once(settings: Settings, paths: list[str], executor: Executor) -> tuple[float, CheckReport]:
    start = time.monotonic()
    report = check(settings, paths, executor=executor)
    elapsed = time.monotonic() - start
    executor.close()
    return elapsed, report


def task_round_trip(client: Any, count: int = 200) -> float:
    """Median seconds for one empty task: submit, run on a worker, result back."""
    samples = []
    for index in range(count):
        start = time.perf_counter()
        client.submit(int, index, pure=False).result()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def task_throughput(client: Any, count: int = 2000) -> float:
    """Empty tasks per second with many in flight: the scheduler's and workers' per-task cost."""
    start = time.perf_counter()
    futures = client.map(int, range(count), pure=False)
    client.gather(futures)
    return count / (time.perf_counter() - start)


def bench_set(name: str, settings: Settings, paths: list[str], client: Any, batches: list[int], repeat: int) -> None:
    """Rounds of every configuration back to back; ratios are taken within a round, where the
    machine's other load is most alike, and the median round is reported."""
    configs: list[tuple[str, Callable[[], Executor]]] = [("local, 1 worker", lambda: LocalExecutor(1)),
                                                         ("local, 2 workers", lambda: LocalExecutor(2))]
    for batch in batches:
        configs.append((f"dask, 2 workers, batch {batch}",
                        lambda batch=batch: DaskExecutor(client=client, batch_size=batch)))  # type: ignore[misc]
    times: dict[str, list[float]] = {label: [] for label, _ in configs}
    reference: CheckReport | None = None
    for _ in range(repeat):
        for label, make in configs:
            elapsed, report = run_once(settings, paths, make())
            times[label].append(elapsed)
            if reference is None:
                reference = report
            elif _stripped(report_dict(report)) != _stripped(report_dict(reference)):
                sys.exit(f"{label}: results differ from the local run")
    assert reference is not None
    jobs = len(reference.results)
    mean_compile = sum(r.duration for r in reference.results) / max(jobs, 1)
    print(f"\n[{name}] {jobs} compiles, mean {mean_compile * 1000:.0f} ms each, {len(reference.failures)} failing; "
          f"every run's report identical to the first (timings aside)")
    base = times["local, 1 worker"]
    for label, _ in configs:
        ratios = [b / t for b, t in zip(base, times[label])]
        print(f"  {label:<26s} median {statistics.median(times[label]):6.2f} s   "
              f"local(1)/this: median {statistics.median(ratios):4.2f}x (rounds: "
              + ", ".join(f"{r:.2f}" for r in ratios) + ")")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=["usr-linux", "synthetic", "all"], default="all")
    parser.add_argument("--limit", type=int, default=300, help="at most N headers of /usr/include/linux (0: all)")
    parser.add_argument("--synthetic", type=int, default=30, help="number of synthetic headers")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of all configurations; the median counts")
    parser.add_argument("--no-profiler", action="store_true",
                        help="switch off the workers' statistical profiler (a 10 ms sampling thread)")
    parser.add_argument("--batch", type=int, action="append", help="jobs per Dask task (repeatable; default 1 and 8)")
    args = parser.parse_args()
    batches = args.batch or [1, 8]
    if args.no_profiler:
        dask.config.set({"distributed.worker.profile.enabled": False})
    scratch = Path(tempfile.mkdtemp(prefix="hdrtest-bench-"))
    try:
        start = time.monotonic()
        # distributed's constructors are untyped; ":0" keeps clear of any other cluster's dashboard port.
        with LocalCluster(processes=True, n_workers=2, threads_per_worker=1,  # type: ignore[no-untyped-call]
                          host="127.0.0.1", dashboard_address=":0", silence_logs=50) as cluster, \
                Client(cluster, set_as_default=False) as client:  # type: ignore[no-untyped-call]
            client.wait_for_workers(2, timeout=60)
            print(f"cluster: 2 worker processes x 1 thread on loopback, up in {time.monotonic() - start:.2f} s; "
                  f"{args.repeat} rounds; worker profiler {'off' if args.no_profiler else 'on'}")
            print(f"empty-task round trip (median of 200): {task_round_trip(client) * 1000:.2f} ms; "
                  f"throughput with 2000 in flight: {task_throughput(client):.0f} tasks/s")
            if args.set in ("usr-linux", "all"):
                settings, paths = usr_linux(args.limit)
                bench_set("usr-linux", settings, paths, client, batches, args.repeat)
            if args.set in ("synthetic", "all"):
                settings = synthetic_tree(scratch / "synthetic", args.synthetic)
                bench_set("synthetic", settings, [str(settings.root)], client, batches, args.repeat)
        print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
              f"on {os.cpu_count()} cores (other jobs make every number here noisy)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
