"""Executors run ``compile_job`` over many jobs and stream results back as they finish.

All of them follow one small interface so the check pipeline, the cache and the reports
do not care where a compile ran.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from ..compile import CompileOptions
from ..models import Job, Result


class Executor(Protocol):
    def run(self, jobs: Sequence[Job], options: CompileOptions) -> Iterator[Result]:
        """Yield one result per job, in completion order."""

    def close(self, cancel: bool = False) -> None:
        """Release workers; with ``cancel``, stop queued and running compiles."""
