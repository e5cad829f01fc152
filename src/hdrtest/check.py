"""The library API behind ``hdrtest check``: settings in, ``CheckReport`` out."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from .compile import CompileOptions
from .discover import discover
from .executors import Executor
from .executors.factory import make_executor
from .models import CheckReport, Job, Result
from .plan import baseline_jobs, flag_source
from .settings import Settings
from .toolchain import probe

ProgressCallback = Callable[[Result, int, int], None]


class ResultStore(Protocol):
    """What the check needs from a result cache."""

    def lookup(self, job: Job) -> Result | None: ...

    def store(self, result: Result) -> None: ...


def paths_to_check(settings: Settings, paths: list[str]) -> list[Path]:
    chosen = paths or list(settings.paths) or ["."]
    return [Path(p) if Path(p).is_absolute() else (Path.cwd() / p if paths else settings.root / p) for p in chosen]


def run_jobs(jobs: list[Job], options: CompileOptions, executor: Executor, *,
             cache: ResultStore | None = None, progress: ProgressCallback | None = None) -> tuple[list[Result], int]:
    """Run jobs through the cache and the executor; results come back in the jobs' order."""
    results: dict[int, Result] = {}
    position: dict[Job, int] = {}
    to_run: list[Job] = []
    hits = 0
    for index, job in enumerate(jobs):
        cached = cache.lookup(job) if cache is not None else None
        if cached is not None:
            results[index] = cached
            hits += 1
            if progress:
                progress(cached, len(results), len(jobs))
        elif job not in position:
            position[job] = index
            to_run.append(job)
    # Remote executors hand back unpickled copies, so results are matched by value.
    for result in executor.run(to_run, options):
        results[position[result.job]] = result
        if cache is not None:
            cache.store(result)
        if progress:
            progress(result, len(results), len(jobs))
    for index, job in enumerate(jobs):
        if index not in results:  # the same job planned twice
            results[index] = results[position[job]]
    return [results[i] for i in range(len(jobs))], hits


def check(settings: Settings, paths: list[str], *, executor: Executor | None = None,
          cache: ResultStore | None = None, progress: ProgressCallback | None = None) -> CheckReport:
    """Discover headers, plan compiles, run them and collect a report."""
    start = time.monotonic()
    headers, skipped = discover(paths_to_check(settings, paths), settings)
    source = flag_source(settings)
    jobs = baseline_jobs(headers, settings, source)
    for compiler, directory in {(j.compiler, j.directory) for j in jobs}:
        probe(compiler, directory)  # a missing compiler is a setup error before any work starts
    options = CompileOptions(root=settings.root, max_errors=settings.max_errors)
    own_executor = executor is None
    runner = executor or make_executor(settings)
    try:
        results, hits = run_jobs(jobs, options, runner, cache=cache, progress=progress)
    except BaseException:
        runner.close(cancel=True)
        raise
    if own_executor:
        runner.close()
    return CheckReport(root=settings.root, results=results, skipped=skipped, elapsed=time.monotonic() - start,
                       variants_planned=len(jobs), variants_compiled=len(jobs) - hits, cache_hits=hits)
