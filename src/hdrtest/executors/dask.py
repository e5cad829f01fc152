"""Running compiles on a Dask cluster (``--executor dask --scheduler tcp://HOST:PORT``).

Workers compile with the same ``compile_job`` as the local executor, so a result does
not depend on where it ran, provided the worker sees the same tree at the same absolute
path and has the same compiler.  Neither can be taken on trust: before any work is sent,
each worker proves it by hashing a few files of the tree and probing the compilers, and
every task re-checks this once per worker process so that a worker joining mid-run is
held to the same standard.

``distributed`` is imported lazily: it is an optional dependency
(``pip install hdrtest[distributed]``) and a local run must not pay for it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from .. import __version__
from ..compile import CompileOptions, compile_job, display_command
from ..errors import HdrtestError, SetupError, UsageError
from ..models import Diagnostic, Job, Result, Status
from ..store import namespaces
from ..toolchain import probe, run
from ..toolchain.compiler import file_digest

INSTALL_HINT = "pip install 'hdrtest[distributed]'"
#: Headers whose content is compared between here and each worker (plus the compile
#: database and the preludes): enough to catch a missing mount or a stale checkout
#: without reading the tree twice.
SAMPLE_HEADERS = 3
MAX_DIRECTORIES = 8


def import_distributed() -> ModuleType:
    """The ``distributed`` module, or a setup error telling how to install it."""
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise SetupError("the Dask executor needs the 'distributed' package, which is not installed",
                         path="--executor dask", hint=INSTALL_HINT) from None


def parse_resources(text: str, origin: str = "HDRTEST_DASK_RESOURCES") -> dict[str, float]:
    """``"compile=1,mem=2e9"`` -> ``{"compile": 1.0, "mem": 2e9}`` (Dask worker resources a task needs)."""
    resources: dict[str, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        try:
            amount = float(value) if sep else 1.0
        except ValueError:
            raise UsageError(f"resource amount '{value}' is not a number", path=origin,
                             hint="write NAME=AMOUNT[,NAME=AMOUNT...], for example compile=1") from None
        if not name.strip() or amount <= 0:
            raise UsageError(f"'{part}' is not NAME=AMOUNT with a positive amount", path=origin,
                             hint="for example compile=1")
        resources[name.strip()] = amount
    return resources


# --- what a worker must agree on ---------------------------------------------------------


@dataclass(frozen=True)
class FileFingerprint:
    path: str  # absolute, as the compiles will name it
    digest: str  # sha256 of the content


@dataclass(frozen=True)
class CompilerFingerprint:
    command: str  # as the jobs name it
    directory: str  # where a relative command is resolved; "" for a PATH lookup
    path: str  # what it resolved to here
    version: str  # first line of ``--version`` here


@dataclass(frozen=True)
class TreeExpectation:
    """What every worker must see for its results to equal a local run's."""

    root: str
    directories: tuple[str, ...]
    files: tuple[FileFingerprint, ...]
    compilers: tuple[CompilerFingerprint, ...]
    hdrtest_version: str
    #: Digest of the modules that shape a result: a worker with an older install of the same
    #: version number would otherwise classify diagnostics differently without anyone noticing.
    hdrtest_code: str = ""


_RESULT_MODULES = ("compile", "diagnostics", "models", "toolchain", "executors.dask")


def code_digest() -> str:
    return namespaces.code_digest(*(importlib.import_module(f"hdrtest.{name}") for name in _RESULT_MODULES))


def _sample(paths: Sequence[Path], count: int) -> list[Path]:
    """First, last and evenly spaced paths: spread over the tree, stable for a given job list."""
    unique = sorted(set(paths))
    if len(unique) <= count:
        return unique
    step = (len(unique) - 1) / (count - 1)
    return [unique[round(i * step)] for i in range(count)]


def expectation_for(jobs: Sequence[Job], options: CompileOptions, tree_files: Sequence[Path] = ()) -> TreeExpectation:
    """Fingerprint, on this machine, the files and compilers the jobs depend on."""
    chosen: list[Path] = [p for p in tree_files if p.is_file()]
    chosen += _sample([p for job in jobs for p in job.preludes], 2)
    chosen += _sample([job.header for job in jobs], SAMPLE_HEADERS)
    files = tuple(FileFingerprint(str(p), file_digest(p)) for p in dict.fromkeys(chosen))
    directories = tuple(dict.fromkeys([str(options.root), *(str(d) for d in sorted({j.directory for j in jobs}))]))
    compilers: dict[tuple[str, str], CompilerFingerprint] = {}
    for job in jobs:
        # A bare name is looked up on PATH, so where it is run from does not matter.
        where = str(job.directory) if os.sep in job.compiler else ""
        if (job.compiler, where) not in compilers:
            found = probe(job.compiler, job.directory)
            compilers[(job.compiler, where)] = CompilerFingerprint(job.compiler, where, found.path, found.version)
    return TreeExpectation(root=str(options.root), directories=directories[:MAX_DIRECTORIES], files=files,
                           compilers=tuple(compilers.values()), hdrtest_version=__version__,
                           hdrtest_code=code_digest())


def worker_problems(expect: TreeExpectation) -> list[str]:
    """What differs on the machine running this from ``expect``; empty when it may compile.

    Runs on each worker (through ``Client.run`` and inside every task), and locally in tests.
    """
    problems: list[str] = []
    if __version__ != expect.hdrtest_version:
        problems.append(f"runs hdrtest {__version__}, this machine {expect.hdrtest_version}")
    elif expect.hdrtest_code and code_digest() != expect.hdrtest_code:
        problems.append(f"runs different hdrtest code under the same version {__version__}")
    for directory in expect.directories:
        if not os.path.isdir(directory):
            problems.append(f"does not see directory {directory}")
    for fingerprint in expect.files:
        path = Path(fingerprint.path)
        try:
            digest = file_digest(path)
        except OSError as exc:
            problems.append(f"cannot read {path}: {exc.strerror or exc}")
            continue
        if digest != fingerprint.digest:
            problems.append(f"sees different content in {path}")
    for compiler in expect.compilers:
        try:
            found = probe(compiler.command, Path(compiler.directory) if compiler.directory else None)
        except HdrtestError as exc:
            problems.append(f"cannot use compiler {compiler.command}: {exc}")
            continue
        if found.path != compiler.path:
            problems.append(f"resolves compiler {compiler.command} to {found.path}, this machine to {compiler.path}")
        elif found.version != compiler.version:
            problems.append(f"compiler {found.path} reports '{found.version}', this machine '{compiler.version}'")
    return problems


@functools.lru_cache(maxsize=16)
def _problems_here(expect: TreeExpectation) -> tuple[str, ...]:
    # Once per worker process and run: a task pays for the check only on a new worker.
    return tuple(worker_problems(expect))


class WorkerMismatch(RuntimeError):
    """Raised inside a task on a worker that does not see what this machine sees."""


def _worker_name() -> str:
    try:
        from distributed import get_worker

        worker = get_worker()
        return f"{worker.name} ({worker.address})" if str(worker.name) != worker.address else str(worker.address)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


#: On a worker: the hdrtest runs cancelled.  Cancelling a Dask future does not stop a task already
#: running: ``stop_run`` ends the compilers its tasks started (``run.tagged`` with the run id).
_cancelled_runs: set[str] = set()


def compile_batch(jobs: tuple[Job, ...], options: CompileOptions, expect: TreeExpectation,
                  run_id: str = "") -> list[Result]:
    """The task a worker runs: verify this worker once, then compile each job (until the run is cancelled)."""
    problems = _problems_here(expect)
    if problems:
        raise WorkerMismatch(f"worker {_worker_name()} " + "; ".join(problems))
    with run.tagged(run_id):
        return [error_result(job, "remote compile cancelled") if run_id in _cancelled_runs else compile_job(job, options)
                for job in jobs]


def stop_run(run_id: str) -> int:
    """On a worker: end the compilers the tasks of ``run_id`` are running; returns how many were live."""
    _cancelled_runs.add(run_id)
    return run.kill_tagged(run_id)


def error_result(job: Job, message: str) -> Result:
    """A job that did not produce a verdict: an error, never a pass."""
    return Result(job=job, status=Status.ERROR, diagnostics=[
        Diagnostic(file=job.display, line=0, column=0, severity="error", message=message, category="executor")])


def _describe_failure(exc: BaseException | None) -> str:
    if exc is None:
        return "remote compile failed without an error"
    name = type(exc).__name__
    if name == "KilledWorker":
        return f"remote compile not run: the workers running it died repeatedly ({exc})"
    if isinstance(exc, WorkerMismatch):
        return f"remote compile refused: {exc}"
    return f"remote compile failed: {name}: {exc}"


# --- the executor ------------------------------------------------------------------------


class DaskExecutor:
    """Send each job (or batch of jobs) to a Dask cluster as one task.

    ``client`` lets a caller (tests, a notebook) pass a ``distributed.Client`` it owns;
    otherwise one is connected to ``scheduler`` and closed by ``close``.
    """

    def __init__(self, scheduler: str | None = None, *, client: Any = None,
                 resources: Mapping[str, float] | None = None, retries: int = 2, batch_size: int = 1,
                 tree_files: Sequence[Path] = (), connect_timeout: float = 30.0) -> None:
        distributed = import_distributed()
        if batch_size < 1:
            raise UsageError("batch size must be at least 1", path="HDRTEST_DASK_BATCH")
        self.resources = dict(resources or {})
        self.retries = retries
        self.batch_size = batch_size
        self.tree_files = tuple(tree_files)
        self.connect_timeout = connect_timeout
        self._distributed = distributed
        self._pending: dict[str, tuple[Any, tuple[Job, ...]]] = {}
        self._runs: list[str] = []  # run ids whose tasks may still be running on workers
        #: After a cancel: remote compilers ended, or None when the workers could not be asked.
        self.stopped_remote: int | None = 0
        self._verified: set[tuple[TreeExpectation, tuple[str, ...]]] = set()
        self._slots = 1  # worker threads that may take compiles, known after ``eligible_workers``
        if client is not None:
            self._client = client
            self._own_client = False
            return
        if not scheduler:
            raise UsageError("the Dask executor needs a scheduler address", path="--scheduler",
                             hint="pass --scheduler tcp://HOST:8786 or set HDRTEST_DASK_SCHEDULER")
        try:
            self._client = distributed.Client(scheduler, timeout=connect_timeout, set_as_default=False)
        # distributed.TimeoutError is asyncio's, which Python 3.10 does not merge into TimeoutError.
        except (OSError, TimeoutError, distributed.TimeoutError, ValueError) as exc:
            raise SetupError(f"cannot connect to the Dask scheduler: {exc}", path=scheduler,
                             hint="start one with 'dask scheduler' and workers with 'dask worker ADDRESS', "
                                  "or fix --scheduler / HDRTEST_DASK_SCHEDULER") from None
        self._own_client = True

    # -- checking the workers --

    def eligible_workers(self) -> dict[str, str]:
        """Worker address -> display name, for workers offering the resources tasks ask for."""
        try:
            self._client.wait_for_workers(1, timeout=self.connect_timeout)
        except (TimeoutError, OSError, self._distributed.TimeoutError):
            raise SetupError(f"no Dask worker joined the scheduler within {self.connect_timeout:g} s",
                             path=self._client.scheduler.address, hint="start workers with 'dask worker ADDRESS'") from None
        workers: dict[str, Any] = self._client.scheduler_info(n_workers=-1)["workers"]
        chosen: dict[str, str] = {}
        for address, info in workers.items():
            offered = info.get("resources") or {}
            if all(offered.get(name, 0) >= amount for name, amount in self.resources.items()):
                name = str(info.get("name", address))
                chosen[address] = address if name == address else f"{name} ({address})"
        if not chosen:
            wanted = ",".join(f"{k}={v:g}" for k, v in self.resources.items())
            raise SetupError(f"no Dask worker offers the resources {wanted}",
                             path=self._client.scheduler.address,
                             hint=f"start compile workers with dask worker ADDRESS --resources \"{wanted}\"")
        self._slots = sum(int(workers[address].get("nthreads", 1)) for address in chosen) or 1
        return chosen

    def verify(self, expect: TreeExpectation) -> list[str]:
        """Check every eligible worker against ``expect``; raise naming the ones that differ.

        Returns the addresses checked.
        """
        workers = self.eligible_workers()
        key = (expect, tuple(sorted(workers)))
        if key in self._verified:
            return list(workers)
        replies: dict[str, Any] = self._client.run(worker_problems, expect, workers=list(workers), on_error="return")
        complaints: list[str] = []
        for address, name in sorted(workers.items()):
            reply = replies.get(address)
            if isinstance(reply, BaseException):
                complaints.append(f"worker {name} cannot run hdrtest's check ({type(reply).__name__}: {reply}); "
                                  f"install hdrtest {__version__} on every worker")
            elif reply is None:
                complaints.append(f"worker {name} did not answer the check")
            elif reply:
                complaints.append(f"worker {name} " + "; ".join(str(p) for p in reply))
        if complaints:
            raise SetupError("refusing to run on the Dask cluster: " + " | ".join(complaints),
                             hint="workers must see the tree at the same absolute path (a shared filesystem) "
                                  "and have the same compiler; see docs/distributed.md")
        self._verified.add(key)
        return list(workers)

    def effective_batch(self, jobs: int) -> int:
        """``batch_size``, but small enough that every worker thread gets a few tasks:
        a batch is the unit of load balancing, and two big batches on two threads wait for
        the slower one."""
        return max(1, min(self.batch_size, jobs // (4 * self._slots)))

    # -- running --

    def run(self, jobs: Sequence[Job], options: CompileOptions) -> Iterator[Result]:
        if not jobs:
            return
        expect = expectation_for(jobs, options, self.tree_files)
        self.verify(expect)
        size = self.effective_batch(len(jobs))
        batches = [tuple(jobs[i:i + size]) for i in range(0, len(jobs), size)]
        token = uuid.uuid4().hex[:12]
        self._runs.append(token)
        # Readable, unique keys: the dashboard groups tasks by the prefix.
        keys = [f"hdrtest-compile-{token}-{index}" for index in range(len(batches))]
        futures = self._client.map(compile_batch, batches, options=options, expect=expect, run_id=token, key=keys,
                                   pure=False, retries=self.retries, resources=self.resources or None)
        for future, batch in zip(futures, batches):
            self._pending[future.key] = (future, batch)
        try:
            # with_results: results are fetched concurrently in the client's event loop; fetching
            # each one here with future.result() would cost a network round trip per compile.
            completed = self._distributed.as_completed(futures, loop=self._client.loop, with_results=True,
                                                       raise_errors=False)
            for future, outcome in completed:
                entry = self._pending.pop(future.key, None)
                if entry is None:
                    continue
                yield from self._collect(future, outcome, entry[1], options.variant_dir)
        finally:
            # Left early (Ctrl-C, an error downstream): nothing should keep running for us.
            self._cancel_pending()

    def _collect(self, future: Any, outcome: Any, batch: tuple[Job, ...],
                 variant_dir: Path | None = None) -> Iterator[Result]:
        """Results for one finished task; ``outcome`` is what ``as_completed`` gathered for it."""
        status = future.status
        if status == "finished" and isinstance(outcome, list) and len(outcome) == len(batch):
            for job, result in zip(batch, outcome):
                if isinstance(result, Result) and result.job == job:
                    # The reproducer names the variant header where the worker wrote it (its own
                    # cache directory); rebuild it here so it names a file on this machine.
                    yield replace(result, command=display_command(job, variant_dir))
                else:
                    yield error_result(job, "remote compile answered for another job")
            return
        if status == "finished":
            message = "remote compile returned a malformed answer"
        elif status == "error":
            message = _describe_failure(future.exception())
        else:
            message = f"remote compile did not finish (task {status})"
        yield from (error_result(job, message) for job in batch)

    def _cancel_pending(self) -> None:
        if not self._pending:
            return
        futures = [future for future, _ in self._pending.values()]
        self._pending.clear()
        with contextlib.suppress(Exception):  # cancelling is best effort when the scheduler is gone
            self._client.cancel(futures, force=True)
        # End the compilers our cancelled tasks still run: cancelling a future leaves a running task running.
        runs, self._runs = self._runs, []
        try:
            replies = [r for run_id in runs for r in self._client.run(stop_run, run_id, on_error="return").values()]
        except Exception:  # noqa: BLE001 - the scheduler is gone: the workers could not be told
            replies = [ConnectionError("no scheduler")]
        failed = any(isinstance(r, BaseException) for r in replies)
        self.stopped_remote = None if failed else sum(r for r in replies if isinstance(r, int))

    def close(self, cancel: bool = False) -> None:
        if cancel:
            self._cancel_pending()
            if self.stopped_remote is None:
                # The caller goes on to say its own compilers stopped; this one it cannot claim.
                sys.stderr.write("hdrtest: warning: the Dask workers could not be reached to end the compiles "
                                 "they run for this check; those may still be running\n")
        if self._own_client:
            with contextlib.suppress(Exception):  # closing a dead connection must not mask the real error
                self._client.close()
