"""Findings: a report's errors, one per place, for formats that annotate code.

A header included by ten others fails ten checks with the same error at the same
line; code-scanning formats should show it once (Ericsson CodeChecker's reports grew to
gigabytes by repeating it per including file).  A finding is therefore one error at one
place in one variant, with every checked header that hit it.  Errors outside the root
(system headers) are placed at the innermost ``#include`` in the tree that led there.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..baseline import category_of, ensure_classified, error_diagnostics, fingerprint, normalize_message
from ..models import CheckReport, Diagnostic, Result


@dataclass
class Finding:
    diagnostic: Diagnostic
    category: str
    #: Where to show it: a root-relative path and a line >= 1, or None for location-less errors.
    path: str | None
    line: int
    column: int
    results: list[Result] = field(default_factory=list)
    #: Stable identity: does not change when lines move.
    fingerprint: str = ""

    @property
    def first(self) -> Result:
        return self.results[0]

    @property
    def headers(self) -> list[str]:
        return list(dict.fromkeys(r.job.display for r in self.results))

    @property
    def moved(self) -> bool:
        """The error is outside the tree and shown at the include that reached it."""
        return self.path is not None and self.path != self.diagnostic.file


def in_tree(path: str) -> bool:
    return bool(path) and not path.startswith(("/", "<")) and not path.startswith("../")


def place(diag: Diagnostic) -> tuple[str | None, int, int]:
    """Where a finding is shown: its own location, else the include that led out of the tree."""
    if diag.line > 0 and in_tree(diag.file):
        return diag.file, diag.line, max(diag.column, 0)
    if diag.line > 0 or not diag.file:
        for file, line in reversed(diag.include_chain):
            if line > 0 and in_tree(file):
                return file, line, 0
    return None, 0, 0


def collect(report: CheckReport) -> list[Finding]:
    """Errors of the failed results, one finding per (place, variant, class, message)."""
    by_key: dict[tuple[object, ...], Finding] = {}
    ensure_classified(report.failures)  # fingerprints hold the class: it must not depend on --fix
    for result in report.failures:
        for diag in error_diagnostics(result):
            path, line, column = place(diag)
            category = category_of(diag)
            if path is None:
                # Location-less: one per checked header, not merged across headers.
                key: tuple[object, ...] = ("", result.job.display, result.job.language, result.job.variant.name,
                                           category, diag.message)
            else:
                key = (path, line, column, result.job.variant.name, category, normalize_message(diag.message))
            finding = by_key.setdefault(key, Finding(diag, category, path, line, column))
            if result not in finding.results:
                finding.results.append(result)
    findings = sorted(by_key.values(), key=lambda f: (f.path or "", f.line, f.column, f.first.job.variant.name))
    # Identical messages at several places get an ordinal, so fingerprints stay unique
    # and still survive line shifts as long as the order of the copies does not change.
    seen: Counter[str] = Counter()
    for finding in findings:
        anchor = finding.path if finding.path is not None else finding.first.job.display
        base = fingerprint(anchor, finding.first.job.variant.name, finding.category,
                           normalize_message(finding.diagnostic.message))
        seen[base] += 1
        finding.fingerprint = fingerprint(base, str(seen[base]))
    return findings
