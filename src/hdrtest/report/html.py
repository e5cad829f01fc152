"""``--format html``: one self-contained page with a headers x variants matrix.

Everything is inlined (CSS, script, data) so the file can be kept as a CI artifact and
opened offline.  The data travels as JSON in a ``<script type="application/json">``
block with ``<``, ``>`` and ``&`` escaped, and the script builds the page with
``textContent`` only, so nothing from a compiler message or a path is ever parsed as HTML.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

from .. import __version__
from ..diagnostics import render_gcc_style
from ..models import CheckReport, Result, Status
from .context import ReportContext
from .lines import note_place, reproducer, unverified_reason


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _cell(result: Result) -> dict[str, Any]:
    job = result.job
    cell: dict[str, Any] = {
        "status": result.status.value,
        "header": job.display,
        "language": job.language,
        "variant": job.variant.name,
        "description": job.variant.describe(),
        "duration": round(result.duration, 3),
    }
    optional = {"reason": job.variant.reason, "cached": result.cached,
                "not_verified": unverified_reason(result) if result.status is Status.UNVERIFIED else None}
    cell.update({key: value for key, value in optional.items() if value})
    if not result.status.failed:  # only failures open with the full record (compiler output, reproducer)
        return cell
    diagnostics = [line for diag in result.diagnostics for line in render_gcc_style(diag)]
    notes = [{"kind": note.kind, "place": note_place(note, diag), "message": note.message, "fix": note.fix_diff}
             for diag in result.diagnostics for note in diag.notes]
    if result.omitted_errors:
        diagnostics.append(f"... {result.omitted_errors} more error(s) not shown (--max-errors)")
    cell.update({
        "diagnostics": "\n".join(diagnostics),
        "errors": sum(1 for d in result.diagnostics if d.is_error) + result.omitted_errors,
        "notes": notes,
        "reproduce": "\n".join(reproducer(result)),
        "flags_origin": job.flags_origin,
    })
    if result.triage:
        cell["triage"] = result.triage
    return cell


def page_data(report: CheckReport) -> dict[str, Any]:
    """The matrix as plain data: columns are variants by name, rows are (header, language)."""
    variants: dict[str, dict[str, str]] = {}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    cells: list[dict[str, Any]] = []
    for result in report.results:
        job = result.job
        variants.setdefault(job.variant.name, {"name": job.variant.name, "description": job.variant.describe(),
                                               "reason": job.variant.reason})
        row = rows.setdefault((job.display, job.language),
                              {"header": job.display, "language": job.language, "cells": {}})
        if job.variant.name in row["cells"]:
            continue  # the same job planned twice
        row["cells"][job.variant.name] = len(cells)
        cells.append(_cell(result))
    # The baseline column comes first; the others keep the order the plan gave them.
    ordered = sorted(variants.values(), key=lambda v: 0 if v["description"] == "baseline" else 1)
    counts = {status.value: sum(1 for cell in cells if cell["status"] == status.value) for status in Status}
    return {
        "tool": {"name": "hdrtest", "version": __version__},
        "root": str(report.root),
        "summary": {
            "headers_checked": report.headers_checked,
            "headers_failed": report.headers_failed,
            "skipped": len(report.skipped),
            "elapsed": round(report.elapsed, 2),
            "cells": counts,
        },
        "variants": ordered,
        "rows": list(rows.values()),
        "cells": cells,
        "skipped": [{"header": s.header, "reason": s.reason} for s in report.skipped],
        "notes": list(report.notes),
    }


def script_json(data: Any) -> str:
    """JSON that cannot end its ``<script>`` element or open a comment inside it."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def render(context: ReportContext) -> str:
    report = context.report
    data = page_data(report)
    title = f"hdrtest: {report.headers_failed} of {report.headers_checked} header(s) failed"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>{html.escape(title)}</title>
<style>
{_asset("html_report.css")}
</style>
</head>
<body>
<header>
<h1>hdrtest report</h1>
<p class="root">{html.escape(str(report.root))}</p>
<div id="summary" class="summary" aria-live="polite"></div>
</header>
<main>
<div class="controls">
<label>Filter <input id="filter" type="search" placeholder="header path or message" autocomplete="off"></label>
<label>Status <select id="status-filter">
<option value="all">all headers</option>
<option value="failing">failing (fail, timeout, error)</option>
<option value="fail">fail</option>
<option value="timeout">timeout</option>
<option value="error">error</option>
<option value="unverified">not verified</option>
<option value="pass">all pass</option>
</select></label>
<span id="shown" class="shown"></span>
</div>
<div class="layout">
<div class="matrix-wrap"><table id="matrix" class="matrix"><thead></thead><tbody></tbody></table></div>
<aside id="details" class="details" hidden></aside>
</div>
<section id="skipped-section" class="skipped" hidden><h2>Skipped headers</h2><ul id="skipped"></ul></section>
<section id="notes-section" class="skipped" hidden><h2>Planning notes</h2><ul id="notes"></ul></section>
</main>
<noscript><p>This report needs JavaScript to draw the matrix; the data is in the hdrtest-data script element.</p></noscript>
<script type="application/json" id="hdrtest-data">{script_json(data)}</script>
<script>
{_asset("html_report.js")}
</script>
</body>
</html>
"""
