"""Baselines: remember today's failures so CI fails only on new ones.

A failure is identified by what does not move when unrelated lines are edited: the
header, its language, the variant's name and, per error, its class and its message with
line numbers and other free-standing numbers taken out.  The same identity drives SARIF's
and Code Climate's fingerprints and the before/after comparison of ``hdrtest diff``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__, classify
from .errors import UsageError
from .models import CheckReport, Diagnostic, Result

VERSION = 1

#: ``file.h:12:3`` and ``file.h:12`` references inside a message (``previous declaration at x.h:4``).
_FILE_LINE = re.compile(r"(?P<file>[\w./+-]+\.\w+):\d+(?::\d+)?")
#: Numbers standing alone; digits inside identifiers (``u32``, ``int64_t``) stay, they name different things.
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")
#: gcc quotes with ‘’ in a UTF-8 locale and '' in the C locale; CI and laptops differ.
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "`": "'"})

ErrorKey = tuple[str, str]  # (category, normalized message)
ResultKey = tuple[str, str, str]  # (header, language, variant name)


def category_of(diag: Diagnostic) -> str:
    """The error class a report files a diagnostic under (``other`` before classification)."""
    return diag.category or "other"


def normalize_message(message: str) -> str:
    """A message with what moves when lines shift (line numbers, counts) replaced by ``N``."""
    text = message.translate(_QUOTES)
    text = _FILE_LINE.sub(lambda m: m.group("file") + ":N", text)
    text = _NUMBER.sub("N", text)
    return " ".join(text.split())


def error_key(diag: Diagnostic) -> ErrorKey:
    return (category_of(diag), normalize_message(diag.message))


def result_key(result: Result) -> ResultKey:
    return (result.job.display, result.job.language, result.job.variant.name)


def error_diagnostics(result: Result) -> list[Diagnostic]:
    return [d for d in result.diagnostics if d.is_error]


def error_keys(result: Result) -> Counter[ErrorKey]:
    """The errors of a result as a multiset: two identical errors are two."""
    keys: Counter[ErrorKey] = Counter(error_key(d) for d in error_diagnostics(result))
    if not keys and result.status.failed:
        # A failure without an error diagnostic still needs an identity.
        keys[(result.status.value, result.status.value)] += 1
    return keys


def ensure_classified(results: list[Result]) -> None:
    """Give unclassified errors their class, so a run without explanations matches one with them."""
    for result in results:
        if not any(d.is_error and d.category is None for d in result.diagnostics):
            continue
        classify.classify_all(result.diagnostics, check_guard=result.job.check_guard)


def fingerprint(*parts: str) -> str:
    """A stable hex digest of the identity parts (NUL-separated so parts cannot run together)."""
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


@dataclass
class BaselineEntry:
    """A failed result, under its ``ResultKey``."""

    status: str
    errors: Counter[ErrorKey]


@dataclass
class Baseline:
    entries: dict[ResultKey, BaselineEntry]
    path: Path | None = None

    def known_errors(self, key: ResultKey) -> Counter[ErrorKey]:
        entry = self.entries.get(key)
        return Counter(entry.errors) if entry is not None else Counter()


def from_report(report: CheckReport) -> Baseline:
    entries: dict[ResultKey, BaselineEntry] = {}
    ensure_classified(report.failures)
    for result in report.failures:
        entry = entries.setdefault(result_key(result), BaselineEntry(result.status.value, Counter()))
        entry.errors |= error_keys(result)  # the same job planned twice: keep the larger multiset
    return Baseline(entries)


def to_dict(baseline: Baseline) -> dict[str, Any]:
    items = [{"header": header, "language": language, "variant": variant, "status": entry.status,
              "errors": [{"category": cat, "message": msg, "count": count}
                         for (cat, msg), count in sorted(entry.errors.items())]}
             for (header, language, variant), entry in sorted(baseline.entries.items())]
    return {"version": VERSION, "tool": {"name": "hdrtest", "version": __version__}, "failures": items}


def write(report: CheckReport, path: Path | str) -> None:
    """Record the report's failures in ``path`` (sorted, so the file diffs well in review)."""
    target = Path(path)
    text = json.dumps(to_dict(from_report(report)), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write baseline: {exc.strerror}", path=target) from None


def _bad(path: Path, what: str) -> UsageError:
    return UsageError(f"not an hdrtest baseline: {what}", path=path,
                      hint="write one with 'hdrtest check --write-baseline FILE'")


def _parse_entry(item: Any, path: Path) -> tuple[ResultKey, BaselineEntry]:
    if not isinstance(item, dict):
        raise _bad(path, "each failure must be an object")
    names = ("header", "language", "variant", "status")
    if not all(isinstance(item.get(n), str) for n in names) or not isinstance(item.get("errors"), list):
        raise _bad(path, "a failure lacks header, language, variant, status or errors")
    errors: Counter[ErrorKey] = Counter()
    for error in item["errors"]:
        if not isinstance(error, dict) or not isinstance(error.get("category"), str) \
                or not isinstance(error.get("message"), str):
            raise _bad(path, "an error lacks category or message")
        count = error.get("count", 1)
        if not isinstance(count, int) or count < 1:
            raise _bad(path, "an error's count must be a positive integer")
        # Normalized again: a hand-edited file may carry raw line numbers.
        errors[(error["category"], normalize_message(error["message"]))] += count
    return (item["header"], item["language"], item["variant"]), BaselineEntry(item["status"], errors)


def load(path: Path | str) -> Baseline:
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError("baseline file not found", path=source,
                         hint="create it with 'hdrtest check --write-baseline FILE'") from None
    except OSError as exc:
        raise UsageError(f"cannot read baseline: {exc.strerror}", path=source) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad(source, f"invalid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("version"), int):
        raise _bad(source, "no version field")
    if data["version"] > VERSION:
        raise UsageError(f"baseline version {data['version']} is newer than this hdrtest understands", path=source,
                         hint="upgrade hdrtest")
    failures = data.get("failures")
    if not isinstance(failures, list):
        raise _bad(source, "no failures list")
    entries: dict[ResultKey, BaselineEntry] = {}
    for item in failures:
        key, entry = _parse_entry(item, source)
        entries.setdefault(key, BaselineEntry(entry.status, Counter())).errors += entry.errors
    return Baseline(entries, source)


def new_errors(result: Result, known: Counter[ErrorKey]) -> list[Diagnostic]:
    """The result's errors not covered by ``known`` (each known error covers one occurrence)."""
    remaining = Counter(known)
    fresh: list[Diagnostic] = []
    for diag in error_diagnostics(result):
        key = error_key(diag)
        if remaining[key] > 0:
            remaining[key] -= 1
        else:
            fresh.append(diag)
    return fresh


def new_failures(report: CheckReport, baseline: Baseline) -> list[Result]:
    """Failed results with at least one error the baseline does not know (a failure has one error key at least)."""
    ensure_classified(report.failures)
    return [r for r in report.failures if error_keys(r) - baseline.known_errors(result_key(r))]


def mark(report: CheckReport, baseline: Baseline) -> None:
    """Label every error of the failed results "new" or "unchanged" against ``baseline``."""
    ensure_classified(report.failures)
    label(report.failures, [d for r in report.failures
                            for d in new_errors(r, baseline.known_errors(result_key(r)))])


def label(failures: Iterable[Result], fresh: Iterable[Diagnostic]) -> None:
    """SARIF's baselineState on every error of ``failures``: "new" for those in ``fresh``, else "unchanged"."""
    new = {id(d) for d in fresh}
    for result in failures:
        for diag in error_diagnostics(result):
            diag.baseline_state = "new" if id(diag) in new else "unchanged"
