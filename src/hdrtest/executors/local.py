"""Local execution: a thread per concurrent compile.

Threads suffice because the work happens in compiler processes; the thread only waits.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

from ..compile import CompileOptions, compile_job
from ..models import Job, Result
from ..toolchain import run

T = TypeVar("T")


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class LocalExecutor:
    def __init__(self, jobs: int = 0) -> None:
        self.jobs = jobs if jobs > 0 else default_jobs()
        self._pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="hdrtest")

    def run(self, jobs: Sequence[Job], options: CompileOptions) -> Iterator[Result]:
        # Submit in a bounded window so that Ctrl-C has little queued work to cancel.
        pending: set[Future[Result]] = set()
        queue = iter(jobs)
        while True:
            pending |= {self._pool.submit(compile_job, job, options)
                        for job in itertools.islice(queue, self.jobs * 2 - len(pending))}
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (future.result() for future in done)

    def close(self, cancel: bool = False) -> None:
        if cancel:
            self._pool.shutdown(wait=False, cancel_futures=True)
            run.terminate_all()  # every compiler this process started: no orphans left behind
        self._pool.shutdown(wait=True, cancel_futures=cancel)
        if cancel:
            run.reset()  # every worker has returned: a library caller may go on


class Background(Generic[T]):
    """``call`` run in a thread of its own while the caller does other work; ``result`` joins it.

    A daemon thread: a caller interrupted meanwhile cancels the executor the call waits on (which ends
    the call) and exits without waiting for it; whatever the call raised is raised by ``result``.
    """

    def __init__(self, call: Callable[[], T], name: str = "hdrtest-background") -> None:
        self._outcome: Future[T] = Future()
        self._thread = threading.Thread(target=self._run, args=(call,), name=name, daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._outcome.set_result(call())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for the result
            self._outcome.set_exception(exc)

    def join(self, timeout: float) -> None:
        """Wait for the call to end, at most ``timeout`` seconds (its outcome is dropped)."""
        self._thread.join(timeout)

    def result(self) -> T:
        return self._outcome.result()
