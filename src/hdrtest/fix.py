"""The ``hdrtest fix`` command and ``hdrtest check --fix``: explain, show the edits as a diff, apply and re-check.

Only the command line imports this module: it is where checking, explaining and
editing meet (``hdrtest.fixes`` itself never imports the check or the explanations).
"""

from __future__ import annotations

from collections.abc import Callable

from .check import ProgressCallback, check
from .explain import explain_report
from .fixes import apply_and_verify, render_diff, shown_path, split_inside
from .models import CheckReport
from .report.context import ReportContext
from .report.text import render
from .settings import Settings


def suggest(report: CheckReport, settings: Settings) -> str:
    """Explain ``report`` (again, if the check did already) and return the suggested edits as one diff."""
    explanation = explain_report(report, settings)
    ok, _ = split_inside(explanation.edits, settings.root)
    return render_diff(ok, settings.root)


def run_fix(settings: Settings, paths: list[str], *, apply: bool, write: Callable[[str], object],
            say: Callable[[str], object], progress: ProgressCallback | None = None) -> int:
    """``hdrtest fix``: print the suggested edits; with ``apply`` write them and prove them by a re-check.

    Returns the exit code: 0 when the headers pass (already, or after the applied edits), 1 otherwise.
    """
    report = check(settings, paths, progress=progress, explain=False)
    if not report.failures:
        say(f"hdrtest: nothing to fix: {report.headers_checked} header(s) pass")
        return 0
    explanation = explain_report(report, settings)
    ok, outside = split_inside(explanation.edits, settings.root)
    for name in sorted({shown_path(e.file, settings.root) for e in outside}):
        say(f"hdrtest: not suggesting an edit of {name}: it is outside the checked tree")
    if not ok:
        write(render(ReportContext(report)))
        say("hdrtest: no edit to suggest for these failures (see the notes above)")
        return 1
    write(render_diff(ok, settings.root))
    if not apply:
        say("hdrtest: run with --apply to write these edits and re-check")
        return 1
    outcome = apply_and_verify(ok, settings.root, lambda: check(settings, paths, explain=False))
    say("hdrtest: " + outcome.message)
    if not outcome.passed and outcome.after is not None:
        write(render(ReportContext(outcome.after)))
    return 0 if outcome.passed else 1
