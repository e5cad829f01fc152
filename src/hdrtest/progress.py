"""Progress on stderr: a live bar on a terminal, one line per result otherwise."""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from .models import Result

if TYPE_CHECKING:
    from rich.progress import Progress as Bar
    from rich.progress import TaskID
    from typing_extensions import Self


def color_wanted(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


class Progress:
    """A context manager whose ``update`` is the check's progress callback."""

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.live = not quiet and self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self._bar: Bar | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Self:
        if self.live:
            # rich only for a live bar: a run into a pipe or CI log does not pay for importing it.
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            console = Console(file=self.stream, no_color=not color_wanted(self.stream))
            bar = Bar(TextColumn("[bold]hdrtest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("{task.fields[last]}"), console=console, transient=True)
            bar.start()
            self._task = bar.add_task("check", total=None, last="")
            self._bar = bar
        return self

    def update(self, result: Result, done: int, total: int) -> None:
        if self.quiet:
            return
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, total=total, last=result.job.display)
            return
        job = result.job
        where = "" if job.variant.is_baseline else f" ({job.variant.describe()})"
        cached = " [cached]" if result.cached else ""
        self.stream.write(f"[{done}/{total}] {result.status.value:7} {job.display} [{job.language}]{where}{cached}\n")
        self.stream.flush()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
