"""``--format text``: gcc-style diagnostics grouped per failing header, then a summary."""

from __future__ import annotations

from ..baseline import Baseline, new_failures
from ..diagnostics import render_gcc_style
from ..models import CheckReport, Result, Status
from . import diff, rootcause
from .context import ReportContext
from .lines import note_lines, reproducer, unverified_reason


def result_lines(result: Result, baseline_status: Status | None = None) -> list[str]:
    job = result.job
    lines = [f"{result.status.value.upper()} {job.display} [{job.language}] in {job.variant.describe()}"]
    if not job.variant.is_baseline:
        if job.variant.reason:
            lines.append(f"  variant chosen because {job.variant.reason}")
        if baseline_status is not None:
            lines.append(f"  the baseline configuration {_BASELINE_VERDICTS.get(baseline_status, 'fails too')}")
    if result.triage:
        lines.append(f"  impact: {result.triage}")
    for diag in result.diagnostics:
        lines.extend(render_gcc_style(diag))
        lines.extend(note_lines(diag))
    if result.omitted_errors:
        lines.append(f"... {result.omitted_errors} more error(s) not shown (--max-errors)")
    first, *rest = reproducer(result)
    lines.append("reproduce: " + first)
    lines.extend("  " + step for step in rest)
    return lines


_BASELINE_VERDICTS = {Status.PASS: "passes", Status.UNVERIFIED: "is not verified"}


def summary_line(report: CheckReport) -> str:
    parts = [f"{report.headers_checked} header(s) checked", f"{report.headers_failed} failed"]
    if report.unverified:
        parts.append(f"{len(report.unverified)} not verified")
    if report.skipped:
        parts.append(f"{len(report.skipped)} skipped")
    if report.variants_planned != report.headers_checked:
        parts.append(f"{report.variants_planned} variant compile(s) planned, {report.variants_compiled} compiled")
    if report.cache_hits:
        parts.append(f"{report.cache_hits} from cache")
    parts.append(f"{report.elapsed:.2f} s")
    return "hdrtest: " + ", ".join(parts)


def minimal_failures(results: list[Result]) -> tuple[list[Result], dict[int, list[Result]]]:
    """Failing results whose variant is not a superset of another failing variant of the same header.

    Returns the minimal ones and, by ``id`` of a minimal result, the larger variants it explains.
    """
    failing = [r for r in results if r.status.failed]
    minimal: list[Result] = []
    covered: dict[int, list[Result]] = {}
    for result in failing:
        mine = {str(c) for c in result.job.variant.changes}
        smaller = next((other for other in failing if other is not result
                        and (other.job.display, other.job.language) == (result.job.display, result.job.language)
                        and {str(c) for c in other.job.variant.changes} < mine), None)
        if smaller is None:
            minimal.append(result)
        else:
            covered.setdefault(id(smaller), []).append(result)
    return minimal, covered


def render(context: ReportContext) -> str:
    """gcc-style text: the diff's build-robot mail, the failures a baseline does not know, or every failure."""
    if context.diff is not None:
        return diff.render_text(context.diff)
    if context.baseline is not None:
        return _render_new(context.report, context.baseline)
    return _render_all(context.report)


def _render_new(report: CheckReport, baseline: Baseline) -> str:
    """The failures ``baseline`` does not know; those it knows are counted, not shown."""
    fresh = new_failures(report, baseline)
    fresh_ids = {id(r) for r in fresh}
    lines: list[str] = []
    for result in fresh:
        first, *rest = result_lines(result)
        lines.extend(["NEW " + first, *rest, ""])
    lines.extend(f"skipped {s.header}: {s.reason}" for s in report.skipped)
    known = [r for r in report.failures if id(r) not in fresh_ids]
    where = f" ({baseline.path})" if baseline.path else ""
    lines.append(f"hdrtest: {len(fresh)} new failure(s); {len(known)} known failure(s) in the baseline{where} "
                 "not shown")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def _render_all(report: CheckReport) -> str:
    lines: list[str] = []
    baseline = {(r.job.display, r.job.language): r.status for r in report.results if r.job.variant.is_baseline}
    minimal, covered = minimal_failures(report.results)
    # A root cause that breaks several headers is shown once, with its first failure in full.
    shared = [cause for cause in report.root_causes if len(cause.headers) > 1]
    grouped = {id(result) for cause in shared for result in cause.results[1:]}
    lines.extend("ROOT CAUSE " + rootcause.summary(cause) for cause in shared)
    if shared:
        lines.append("")
    for result in minimal:
        if id(result) in grouped:
            continue
        lines.extend(result_lines(result, baseline.get((result.job.display, result.job.language))))
        for larger in covered.get(id(result), []):
            lines.append(f"  also fails in {larger.job.variant.describe()}")
        for cause in shared:
            if cause.results[0] is result:
                others = cause.headers[1:]
                lines.append(f"  the same root cause ({cause.file}:{cause.line}) breaks {len(others)} more "
                             f"header(s): {', '.join(others)}")
        lines.append("")
    lines.extend(f"NOT VERIFIED {r.job.display} [{r.job.language}] in {r.job.variant.describe()}: "
                 f"{unverified_reason(r)}" for r in report.unverified)
    lines.extend(f"skipped {s.header}: {s.reason}" for s in report.skipped)
    lines.extend(f"note: {note}" for note in report.notes)
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
