"""``hdrtest audit [PATHS]``: latent configuration breakages of a whole tree, with no change at hand.

Every header is checked with its relevant options, which include the fragile options of
its whole include closure (``analysis.fragility``); failures the compiler attributes to
one fragile use are grouped into root causes (``report.rootcause``) and ranked by how
many headers each breaks.  Candidates the compiler refuted are counted, never reported
as breakages.  The per-file facts are cached by content, so a second audit after an
edit computes them only for the files that changed.
"""

from __future__ import annotations

import json
from typing import Any

from .models import CheckReport
from .report import rootcause
from .report.serialize import root_cause_dict, summary_dict


def unattributed(report: CheckReport) -> int:
    """Failing results no root cause accounts for (baseline failures, or errors away from the use)."""
    grouped = {id(r) for cause in report.root_causes for r in cause.results}
    return sum(1 for r in report.failures if id(r) not in grouped)


def render_text(report: CheckReport) -> str:
    lines = [f"{len(report.root_causes)} root cause(s) confirmed by the compiler, most headers broken first:"]
    for rank, cause in enumerate(report.root_causes, 1):
        lines.append(f"{rank:3}. {rootcause.summary(cause)}")
    lines.append(f"{len(report.refuted)} candidate(s) refuted by the compiler (their variant compiled): "
                 "not breakages")
    rest = unattributed(report)
    if rest:
        lines.append(f"{rest} other failing result(s) not attributed to a fragile use: see hdrtest check")
    lines.append(f"hdrtest audit: {report.headers_checked} header(s), {report.variants_planned} compile(s) planned, "
                 f"{report.variants_compiled} compiled, {report.elapsed:.2f} s")
    return "\n".join(lines) + "\n"


def render_json(report: CheckReport) -> str:
    data: dict[str, Any] = {
        "schema": "hdrtest-audit/1",
        "summary": summary_dict(report),
        "root_causes": [root_cause_dict(c) for c in report.root_causes],
        "refuted_candidates": [{"header": h, "option": o, "reason": r} for h, o, r in report.refuted],
        "unattributed_failures": unattributed(report),
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
