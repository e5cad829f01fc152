"""``--format json``: the stable machine-readable report (schema in docs/json-report.md), or the diff's; the
plain-dict forms of hdrtest's records are shared with the other formats."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .. import __version__
from ..diffmode import Change, DiffResult
from ..models import CheckReport, Diagnostic, Result, RootCause, Variant
from .context import ReportContext

SCHEMA = "hdrtest-report/1"


def diagnostic_dict(diag: Diagnostic) -> dict[str, Any]:
    return {
        "file": diag.file,
        "line": diag.line,
        "column": diag.column,
        "severity": diag.severity,
        "message": diag.message,
        "option": diag.option,
        "category": diag.category,
        "symbol": diag.symbol,
        "include_chain": [{"file": f, "line": n} for f, n in diag.include_chain],
        "children": [diagnostic_dict(c) for c in diag.children],
        "notes": [dataclasses.asdict(n) for n in diag.notes],
        **({"diagnosis": dataclasses.asdict(diag.diagnosis)} if diag.diagnosis is not None else {}),
        **({"baseline": diag.baseline_state} if diag.baseline_state else {}),
    }


def variant_dict(variant: Variant) -> dict[str, Any]:
    return {
        "name": variant.name,
        "description": variant.describe(),
        "changes": [{"option": c.name, "value": c.value} for c in variant.changes],
        "implied": [{"option": c.name, "value": c.value} for c in variant.implied],
        "defines": [{"macro": name, "value": value} for name, value in variant.defines],
        "reason": variant.reason,
        "config_lines": list(variant.config_lines),
    }


def result_dict(result: Result) -> dict[str, Any]:
    job = result.job
    return {
        "header": job.display,
        "language": job.language,
        "variant": variant_dict(job.variant),
        "status": result.status.value,
        "command": list(result.command),
        "directory": str(job.directory),
        "flags_origin": job.flags_origin,
        "duration": round(result.duration, 4),
        "cached": result.cached,
        "omitted_errors": result.omitted_errors,
        "triage": result.triage,
        "relevance": dict(result.relevance),
        "diagnostics": [diagnostic_dict(d) for d in result.diagnostics],
    }


def summary_dict(report: CheckReport) -> dict[str, Any]:
    return {
        "headers_checked": report.headers_checked,
        "headers_failed": report.headers_failed,
        "results": len(report.results),
        "failed_results": len(report.failures),
        "unverified_results": len(report.unverified),
        "skipped": len(report.skipped),
        "variants_planned": report.variants_planned,
        "variants_compiled": report.variants_compiled,
        "cache_hits": report.cache_hits,
        "elapsed": round(report.elapsed, 3),
    }


def root_cause_dict(cause: RootCause) -> dict[str, Any]:
    return {"file": cause.file, "line": cause.line, "name": cause.name, "option": cause.option,
            "reason": cause.reason, "definitions": list(cause.definitions), "headers": cause.headers,
            "variants": [{"header": r.job.display, "language": r.job.language, "variant": r.job.variant.name}
                         for r in cause.results]}


def report_dict(report: CheckReport) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "tool": {"name": "hdrtest", "version": __version__},
        "root": str(report.root),
        "summary": summary_dict(report),
        "relevant_options": report.relevant_options,
        "root_causes": [root_cause_dict(c) for c in report.root_causes],
        "refuted_candidates": [{"header": h, "option": o, "reason": r} for h, o, r in report.refuted],
        "skipped": [{"header": s.header, "reason": s.reason} for s in report.skipped],
        "notes": list(report.notes),
        "results": [result_dict(r) for r in report.results],
    }


def _change_dict(change: Change) -> dict[str, Any]:
    return {"result": result_dict(change.result), "errors": [diagnostic_dict(d) for d in change.errors],
            "now_passes": change.now_passes}


def diff_dict(diff: DiffResult) -> dict[str, Any]:
    return {
        "schema": "hdrtest-diff/1",
        "base": {"rev": diff.base_rev, "commit": diff.base_commit},
        "head": {"rev": diff.head_rev, "commit": diff.head_commit},
        "changed_files": diff.changed_files,
        "headers": diff.headers,
        "new": [_change_dict(c) for c in diff.new],
        "fixed": [_change_dict(c) for c in diff.fixed],
        "still_failing": diff.still_failing,
    }


def render(context: ReportContext) -> str:
    data = diff_dict(context.diff) if context.diff is not None else report_dict(context.report)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
