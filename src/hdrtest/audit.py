"""``hdrtest audit [PATHS]``: latent configuration breakages of a whole tree, with no change at hand.

Every header is checked with its relevant options, which include the fragile options of
its whole include closure (``analysis.fragility``); failures the compiler attributes to
one fragile use are grouped into root causes (``report.rootcause``) and ranked by how
many headers each breaks.  Candidates the compiler refuted are counted, never reported
as breakages.  The per-file facts are cached by content, so a second audit after an
edit computes them only for the files that changed.

A maintainer acts on places, not on lists of failing headers, so every failure is shown
under the place the compiler put its first error: a root cause (a fragile use), a
breakage a header's own options found (grouped by the first error and the options
flipped), or a baseline failure (the configuration as given fails: not a variant
finding).  Results hdrtest could not establish are counted by reason, never shown as
breakages.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .diagnostics import location_line
from .models import CheckReport, Diagnostic, Result, RootCause, Status
from .report import rootcause
from .report.lines import reproducer, unverified_reason
from .report.serialize import root_cause_dict, summary_dict


@dataclass
class Breakage:
    """Failing variants of headers whose baseline passes, with the same first error and the same options
    flipped: one place to fix, found by the headers' own options (not by a fragile use deep in a closure)."""

    place: str  # "file:line", as the compiler gave it
    message: str
    setting: str  # the options the variants flip, e.g. "CONFIG_SMP=n"
    results: list[Result] = field(default_factory=list)

    @property
    def headers(self) -> list[str]:
        return list(dict.fromkeys(r.job.display for r in self.results))


@dataclass
class Findings:
    """An audit's failures, each under exactly one place."""

    causes: list[RootCause]
    #: Per root cause (same order): failing variants of headers that name the use themselves (the header
    #: holding the use, say), whose first error is at the use with the cause's option flipped.
    own: list[list[Result]]
    breakages: list[Breakage]
    baseline_failures: list[Result]
    refuted_uses: int  # distinct reasons among the refuted candidates
    #: Failing results no root cause accounts for (baseline failures, or errors away from the use).
    unattributed: int


def first_error(result: Result) -> Diagnostic | None:
    return next((d for d in rootcause.diagnostics_of(result.diagnostics) if d.is_error), None)


def _setting(result: Result) -> str:
    return ", ".join(str(c) for c in result.job.variant.changes)


def findings(report: CheckReport) -> Findings:
    grouped = {id(r) for cause in report.root_causes for r in cause.results}
    baseline_passes = {(r.job.display, r.job.language) for r in report.results
                       if r.job.variant.is_baseline and r.status is Status.PASS}
    own: list[list[Result]] = [[] for _ in report.root_causes]
    breakages: dict[tuple[str, str, str], Breakage] = {}
    baseline_failures = []
    for result in report.failures:
        if id(result) in grouped:
            continue
        if result.job.variant.is_baseline:
            baseline_failures.append(result)
            continue
        if (result.job.display, result.job.language) not in baseline_passes:
            continue  # the baseline failing is reported; its variants add nothing a maintainer can act on
        diag = first_error(result)
        place, message = (f"{diag.file}:{diag.line}", diag.message) if diag is not None else (
            result.job.display, f"{result.status.value} without an error (exit {result.returncode})")
        flipped = {c.name for c in result.job.variant.changes}
        cause = next((i for i, c in enumerate(report.root_causes)
                      if c.option in flipped and rootcause.errors_at(result, c.file, c.line, c.name)), None)
        if cause is not None:
            own[cause].append(result)
            continue
        key = (place, message, _setting(result))
        breakages.setdefault(key, Breakage(place, message, key[2])).results.append(result)
    ranked = sorted(breakages.values(), key=lambda b: (-len(b.headers), b.place, b.setting))
    return Findings(report.root_causes, own, ranked, baseline_failures,
                    len({reason for _h, _o, reason in report.refuted}),
                    sum(1 for r in report.failures if id(r) not in grouped))


def _error_line(result: Result) -> str:
    diag = first_error(result)
    if diag is None:
        return f"{result.status.value} (exit {result.returncode})"
    return location_line(diag)


def _witness(result: Result) -> str:
    variant = result.job.variant
    lines = "; ".join(variant.config_lines) or _setting(result)
    flipped = {c.name for c in variant.changes}
    implied = [c for c in variant.implied if c.name not in flipped]
    also = f" (which also sets {len(implied)} more option(s))" if implied else ""
    return f"witness: {lines}{also}; the exact compile: --format json"


def _unverified_counts(report: CheckReport) -> Counter[str]:
    """Not-verified results by the kind of reason (its text before the first ': ' or ';'; a place such as
    ``Makefile:1123`` stays whole)."""
    return Counter(unverified_reason(r).split(": ")[0].split(";")[0][:120] for r in report.unverified)


def render_text(report: CheckReport) -> str:
    found = findings(report)
    lines = [f"{len(found.causes)} root cause(s) confirmed by the compiler, most headers broken first:"]
    for rank, (cause, own) in enumerate(zip(found.causes, found.own), 1):
        lines.append(f"{rank:3}. {rootcause.summary(cause)}")
        if own:
            lines.append(f"       it also breaks, at the use: {rootcause.examples(list(dict.fromkeys(r.job.display for r in own)))}")
        lines.append(f"       error: {_error_line(cause.results[0])}")
        lines.append(f"       {_witness(cause.results[0])}")
    lines.append(f"{len(found.breakages)} other breakage(s) (a variant fails where the baseline passes; by first "
                 "error), most headers broken first:")
    for rank, breakage in enumerate(found.breakages, len(found.causes) + 1):
        noun = "header" if len(breakage.headers) == 1 else "headers"
        lines.append(f"{rank:3}. {breakage.place}: {breakage.message}: breaks {len(breakage.headers)} {noun} in "
                     f"{breakage.setting}, e.g. {rootcause.examples(breakage.headers)}")
        lines.append(f"       {_witness(breakage.results[0])}")
    if found.baseline_failures:
        lines.append(f"{len(found.baseline_failures)} header(s) fail in the baseline configuration (the "
                     "configuration as given, not a variant finding):")
        lines.extend(f"     {r.job.display}: {_error_line(r)}" for r in found.baseline_failures)
    lines.append(f"{len(report.refuted)} candidate(s) ({found.refuted_uses} distinct use(s)) refuted by the compiler "
                 "(their variant compiled): not breakages")
    for reason, count in _unverified_counts(report).most_common():
        lines.append(f"{count} result(s) not verified: {reason}")
    skipped = f", {len(report.skipped)} skipped (reasons: --format json)" if report.skipped else ""
    lines.append(f"hdrtest audit: {report.headers_checked} header(s){skipped}, {report.variants_planned} compile(s) planned, "
                 f"{report.variants_compiled} compiled, {report.elapsed:.2f} s")
    return "\n".join(lines) + "\n"


def _variant_dict(result: Result) -> dict[str, Any]:
    return {"header": result.job.display, "language": result.job.language, "variant": result.job.variant.name,
            "config_lines": list(result.job.variant.config_lines), "error": _error_line(result),
            "reproduce": reproducer(result)}


def render_json(report: CheckReport) -> str:
    found = findings(report)
    causes = []
    for cause, own in zip(found.causes, found.own):
        entry = root_cause_dict(cause)
        entry.update(error=_error_line(cause.results[0]), own=[_variant_dict(r) for r in own],
                     variants=[_variant_dict(r) for r in cause.results])
        causes.append(entry)
    data: dict[str, Any] = {
        "schema": "hdrtest-audit/2",
        "summary": summary_dict(report),
        "root_causes": causes,
        "breakages": [{"place": b.place, "message": b.message, "setting": b.setting, "headers": b.headers,
                       "variants": [_variant_dict(r) for r in b.results]} for b in found.breakages],
        "baseline_failures": [_variant_dict(r) for r in found.baseline_failures],
        "refuted_candidates": [{"header": h, "option": o, "reason": r} for h, o, r in report.refuted],
        "refuted_uses": found.refuted_uses,
        "unverified": dict(_unverified_counts(report).most_common()),
        "unattributed_failures": found.unattributed,
        "skipped": [{"header": s.header, "reason": s.reason} for s in report.skipped],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
