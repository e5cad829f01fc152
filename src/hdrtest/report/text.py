"""``--format text``: gcc-style diagnostics grouped per failing header, then a summary."""

from __future__ import annotations

import shlex

from ..diagnostics import render_gcc_style
from ..models import CheckReport, Diagnostic, Result, Status


def _note_lines(diag: Diagnostic) -> list[str]:
    lines = []
    for note in diag.notes:
        place = note.file or diag.file
        if note.line:
            place += f":{note.line}"
            if note.column:
                place += f":{note.column}"
        lines.append(f"{place}: note: {note.message}")
        if note.fix_diff:
            lines.extend("    " + line for line in note.fix_diff.rstrip("\n").splitlines())
    return lines


def result_lines(result: Result) -> list[str]:
    job = result.job
    head = f"FAIL {job.display} [{job.language}]"
    if result.status is Status.TIMEOUT:
        head = f"TIMEOUT {job.display} [{job.language}]"
    elif result.status is Status.ERROR:
        head = f"ERROR {job.display} [{job.language}]"
    head += f" in {job.variant.describe()}"
    lines = [head]
    if not job.variant.is_baseline and job.variant.reason:
        lines.append(f"  variant chosen because {job.variant.reason}")
    if result.triage:
        lines.append(f"  impact: {result.triage}")
    for diag in result.diagnostics:
        lines.extend(render_gcc_style(diag))
        lines.extend(_note_lines(diag))
    if result.omitted_errors:
        lines.append(f"... {result.omitted_errors} more error(s) not shown (--max-errors)")
    lines.append("reproduce: cd " + shlex.quote(str(job.directory)) + " && " + shlex.join(result.command))
    if job.variant.defines:
        lines.append("  with the forced variant header containing:")
        for name, value in job.variant.defines:
            lines.append(f"    #undef {name}" + (f" / #define {name} {value}" if value is not None else ""))
    if job.variant.config_lines:
        lines.append("  or set in .config: " + "; ".join(job.variant.config_lines))
    return lines


def summary_line(report: CheckReport) -> str:
    parts = [f"{report.headers_checked} header(s) checked", f"{report.headers_failed} failed"]
    if report.skipped:
        parts.append(f"{len(report.skipped)} skipped")
    if report.variants_planned != len({(r.job.display, r.job.language) for r in report.results}):
        parts.append(f"{report.variants_planned} variant compile(s) planned, {report.variants_compiled} compiled, "
                     f"{report.variants_deduped} deduped")
    if report.cache_hits:
        parts.append(f"{report.cache_hits} from cache")
    parts.append(f"{report.elapsed:.2f} s")
    return "hdrtest: " + ", ".join(parts)


def render(report: CheckReport) -> str:
    lines: list[str] = []
    for result in report.results:
        if result.status.failed:
            lines.extend(result_lines(result))
            lines.append("")
    for skipped in report.skipped:
        lines.append(f"skipped {skipped.header}: {skipped.reason}")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
