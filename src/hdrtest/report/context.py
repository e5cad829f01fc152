"""The one thing every report format renders: a check, with the baseline or the diff it is compared with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..baseline import Baseline, label, mark
from ..diffmode import DiffResult
from ..models import CheckReport


@dataclass(frozen=True)
class ReportContext:
    """``report``: the check to show; ``baseline``: the known failures of ``check --baseline``;
    ``diff``: the comparison of ``hdrtest diff`` (``report`` is then its HEAD check)."""

    report: CheckReport
    baseline: Baseline | None = None
    diff: DiffResult | None = None

    def mark_states(self) -> None:
        """Label each error new or unchanged against the baseline or BASE (SARIF's baselineState, JSON's
        ``baseline``); without either, errors carry no state."""
        if self.diff is not None:  # "new" when this change brought it
            label(self.diff.head.failures, [d for change in self.diff.new for d in change.errors])
        elif self.baseline is not None:
            mark(self.report, self.baseline)


#: A report format: the context in, the document out.
Reporter = Callable[[ReportContext], str]
