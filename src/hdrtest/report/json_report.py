"""``--format json``: the stable machine-readable report (schema in docs/json-report.md), or the diff's."""

from __future__ import annotations

import json

from . import diff
from .context import ReportContext
from .serialize import report_dict


def render(context: ReportContext) -> str:
    if context.diff is not None:
        return diff.render_json(context.diff)
    return json.dumps(report_dict(context.report), indent=2, ensure_ascii=False) + "\n"
