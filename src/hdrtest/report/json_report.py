"""``--format json``: the stable machine-readable report (schema in docs/json-report.md)."""

from __future__ import annotations

import json

from ..models import CheckReport
from .serialize import report_dict


def render(report: CheckReport) -> str:
    return json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n"
