"""``--format codeclimate``: the Code Climate issue list GitLab shows in merge requests.

GitLab reads ``description``, ``check_name``, ``fingerprint`` (unique per report),
``severity`` and ``location.path``/``location.lines.begin``; it needs a line for every
issue, so location-less errors (timeouts, crashes) are placed at line 1 of the header.  hdrtest's notes
go into the optional ``content.body``.
"""

from __future__ import annotations

import json
from typing import Any

from .context import ReportContext
from .findings import Finding, collect
from .lines import note_lines

#: Errors that are not a verdict on the code rank above the header's own errors.
_SEVERITY = {"timeout": "critical", "compiler-crash": "critical"}


def issue(finding: Finding) -> dict[str, Any]:
    first = finding.first
    variant = first.job.variant.describe()
    headers = finding.headers
    affected = headers[0] if len(headers) == 1 else f"{headers[0]} and {len(headers) - 1} more"
    path, line = (finding.path, finding.line) if finding.path is not None else (first.job.display, 1)
    notes = note_lines(finding.diagnostic)
    return {
        **({"content": {"body": "\n".join(notes)}} if notes else {}),
        "type": "issue",
        "check_name": f"hdrtest/{finding.category}",
        "description": f"{finding.diagnostic.message} (when {affected} is compiled alone, {variant})",
        "categories": ["Bug Risk"],
        "fingerprint": finding.fingerprint[:32],
        "severity": _SEVERITY.get(finding.category, "major"),
        "location": {"path": path, "lines": {"begin": max(line, 1)}},
    }


def render(context: ReportContext) -> str:
    return json.dumps([issue(f) for f in collect(context.report)], indent=2, ensure_ascii=False) + "\n"
