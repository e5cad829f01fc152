"""``--format sarif``: SARIF 2.1.0 as GitHub code scanning reads it.

One run; one rule per error class; one result per finding (see ``findings``) with a
root-relative location under the ``SRCROOT`` base, a fingerprint that survives line
shifts, hdrtest's explanations as related locations and its suggested edits as fixes.
Errors that have no place in the tree (a timeout, a crashed compiler) become tool
execution notifications, which is where SARIF puts problems that are not about a line; so do
variants hdrtest could not verify, as notes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import metadata, resources
from typing import Any

from .. import __version__
from ..diagnostics import place
from ..models import CheckReport, Diagnostic, Note, Result, RootCause
from . import rootcause
from .context import ReportContext
from .findings import Finding, collect, in_tree
from .lines import note_place, reproducer, unverified_reason

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "hdrtestFindingHash/v1"
SRCROOT = "SRCROOT"


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    short: str
    full: str
    help: str


#: One rule per error class, in the order the report lists them (their text is data: ``sarif_rules.json``).
RULES: tuple[Rule, ...] = tuple(
    Rule(**row) for row in json.loads(resources.files(__package__).joinpath("sarif_rules.json").read_text("utf-8")))
RULE_INDEX = {rule.id: index for index, rule in enumerate(RULES)}


def _rule_dict(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.short},
        "fullDescription": {"text": rule.full},
        "help": {"text": rule.help, "markdown": f"**{rule.short}.** {rule.full}\n\n{rule.help}"},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["header-hygiene", "self-contained-headers"], "precision": "very-high",
                       "problem.severity": "error"},
    }


def _rule_ref(category: str) -> tuple[str, int]:
    rule = category if category in RULE_INDEX else "other"
    return rule, RULE_INDEX[rule]


def _physical(path: str, line: int = 0, column: int = 0) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": {"uri": path, "uriBaseId": SRCROOT}}
    if line > 0:
        location["region"] = {"startLine": line, **({"startColumn": column} if column > 0 else {})}
    return location


def _add_related(related: list[dict[str, Any]], path: str | None, line: int | None, column: int | None,
                 text: str) -> None:
    """Append a related location (numbered in order) when it is a line of the tree."""
    if path is not None and in_tree(path) and line and line >= 1:
        related.append({"id": len(related) + 1, "physicalLocation": _physical(path, line, column or 0),
                        "message": {"text": text}})


def _related(diag: Diagnostic) -> list[dict[str, Any]]:
    related: list[dict[str, Any]] = []
    for file, line in diag.include_chain:
        _add_related(related, file, line, 0, "included from here")
    for child in diag.children:
        _add_related(related, child.file, child.line, child.column, f"{child.severity}: {child.message}")
    for note in diag.notes:
        _add_related(related, note.file or diag.file, note.line, note.column, note.message)
    return related


_HUNK = re.compile(r"^@@ -(?P<old>\d+)(?:,(?P<oldn>\d+))? \+(?P<new>\d+)(?:,(?P<newn>\d+))? @@")


def _diff_path(line: str) -> str:
    name = line[4:].split("\t", 1)[0].strip()
    return name[2:] if name.startswith(("a/", "b/")) else name


def fix_from_diff(note: Note, default_path: str) -> dict[str, Any] | None:
    """A SARIF fix from a unified diff, or None when the diff is not one SARIF can carry."""
    if not note.fix_diff:
        return None
    changes: dict[str, list[dict[str, Any]]] = {}
    path = default_path
    lines = note.fix_diff.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("+++ "):
            path = _diff_path(line)
        match = _HUNK.match(line)
        index += 1
        if match is None:
            continue
        old_start = int(match.group("old"))
        old_count = int(match.group("oldn") or "1")
        inserted: list[str] = []
        seen_old = 0
        while index < len(lines) and not lines[index].startswith(("@@", "--- ", "+++ ")):
            body = lines[index]
            index += 1
            if body.startswith("\\"):  # "\ No newline at end of file"
                continue
            if body.startswith(("+", " ")) or body == "":
                inserted.append(body[1:])
            if body.startswith(("-", " ")) or body == "":
                seen_old += 1
        if seen_old != old_count or not in_tree(path) or path == "/dev/null":
            return None
        # Whole lines are replaced: from column 1 of the first old line to column 1 of the line after
        # the last one, so the inserted text carries its own newlines.
        first = old_start if old_count else old_start + 1
        region = {"startLine": max(first, 1), "startColumn": 1, "endLine": max(first, 1) + old_count,
                  "endColumn": 1}
        changes.setdefault(path, []).append(
            {"deletedRegion": region, "insertedContent": {"text": "".join(t + "\n" for t in inserted)}})
    if not changes:
        return None
    return {
        "description": {"text": note.message},
        "artifactChanges": [{"artifactLocation": {"uri": p, "uriBaseId": SRCROOT}, "replacements": r}
                            for p, r in changes.items()],
    }


def _affected(finding: Finding) -> str:
    parts = list(finding.headers[:3])
    more = len(finding.headers) - 3
    text = ", ".join(parts) + (f" and {more} more" if more > 0 else "")
    variant = finding.first.job.variant.describe()
    return f"when {text} {'is' if len(finding.headers) == 1 else 'are'} compiled alone ({variant})"


def _message(finding: Finding) -> dict[str, str]:
    diag = finding.diagnostic
    where = f" [in {place(diag.file, diag.line)}]" if finding.moved else ""
    text = f"{diag.message}{where} {_affected(finding)}"
    markdown = [text.replace("*", "\\*").replace("_", "\\_")]
    for note in diag.notes:
        markdown.append(f"- {note_place(note, diag)}: note: {note.message}")
        if note.fix_diff:
            markdown.append("\n```diff\n" + note.fix_diff.rstrip("\n") + "\n```")
    markdown.append("\nReproduce:\n\n```sh\n" + "\n".join(reproducer(finding.first)) + "\n```")
    return {"text": text, "markdown": "\n".join(markdown)}


def _check_properties(result: Result) -> dict[str, Any]:
    """What identifies one header's check: the header, its language, the variant, the verdict."""
    job = result.job
    return {"header": job.display, "language": job.language, "variant": job.variant.name,
            "variantDescription": job.variant.describe(), "status": result.status.value}


def _properties(finding: Finding) -> dict[str, Any]:
    first = finding.first
    variant = first.job.variant
    optional = {"variantReason": variant.reason, "configLines": list(variant.config_lines),
                "symbol": finding.diagnostic.symbol, "triage": first.triage,
                "originalLocation": f"{finding.diagnostic.file}:{finding.diagnostic.line}" if finding.moved else None}
    return {**_check_properties(first), "headers": finding.headers, "reproduce": reproducer(first)[0],
            **{key: value for key, value in optional.items() if value}}


def _result(finding: Finding) -> dict[str, Any]:
    assert finding.path is not None
    rule_id, rule_index = _rule_ref(finding.category)
    result: dict[str, Any] = {
        "ruleId": rule_id,
        "ruleIndex": rule_index,
        "level": "error",
        "message": _message(finding),
        "locations": [{"physicalLocation": _physical(finding.path, finding.line, finding.column)}],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": _properties(finding),
    }
    states = {d.baseline_state for d in _same_errors(finding)}
    if states - {None}:
        # One finding covers the error in every header that shows it: new if any of them is.
        result["baselineState"] = "new" if "new" in states or None in states else "unchanged"
    related = _related(finding.diagnostic)
    if related:
        result["relatedLocations"] = related
    fixes = [f for f in (fix_from_diff(n, finding.path) for n in finding.diagnostic.notes) if f is not None]
    if fixes:
        result["fixes"] = fixes
    return result


def _with_root_cause(result: dict[str, Any], finding: Finding, causes: list[RootCause]) -> dict[str, Any]:
    """A finding at a fragile use names its root cause, with the guarded definitions as related locations."""
    cause = next((c for c in causes if (c.file, c.line) == (finding.path, finding.line)), None)
    if cause is None:
        return result
    result.setdefault("properties", {})["rootCause"] = rootcause.summary(cause)
    result["properties"]["rootCauseHeaders"] = cause.headers
    related = result.setdefault("relatedLocations", [])
    for spot in cause.definitions:
        path, _, line = spot.rpartition(":")
        _add_related(related, path, int(line) if line.isdigit() else None, 0,
                     f"{cause.name}: defined here only under a condition {cause.option} can make false")
    return result


def _same_errors(finding: Finding) -> list[Diagnostic]:
    """The finding's error as each of its results reported it."""
    wanted = (finding.diagnostic.file, finding.diagnostic.line, finding.diagnostic.message)
    return [d for r in finding.results for d in r.diagnostics if d.is_error and (d.file, d.line, d.message) == wanted]


def _notification(result: Result, level: str, text: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A problem with one header's check as a whole, not with a line of it."""
    job = result.job
    notification: dict[str, Any] = {"level": level, "properties": properties,
                                    "message": {"text": f"{job.display} ({job.variant.describe()}): {text}"}}
    if in_tree(job.display):
        notification["locations"] = [{"physicalLocation": _physical(job.display)}]
    return notification


def _unlocated(finding: Finding) -> dict[str, Any]:
    rule_id, rule_index = _rule_ref(finding.category)
    notification = _notification(finding.first, "error", finding.diagnostic.message, _properties(finding))
    notification["associatedRule"] = {"id": rule_id, "index": rule_index}
    return notification


def _unverified(result: Result) -> dict[str, Any]:
    """A note, not an error: hdrtest could not establish a verdict for this header in this variant."""
    return _notification(result, "note", f"not verified: {unverified_reason(result)}", _check_properties(result))


def information_uri() -> str | None:
    """The project's home page from the installed package's metadata (``[project.urls]``), if it has one."""
    try:
        meta = metadata.metadata("hdrtest")
    except metadata.PackageNotFoundError:
        return None
    entries: list[str] = [str(e) for e in meta.get_all("Project-URL") or []]
    for entry in entries:
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("homepage", "home", "documentation", "source", "repository") and url.strip():
            return url.strip()
    # get_all: a missing key is None in every importlib.metadata version (indexing raises in some).
    homes: list[str] = [str(h).strip() for h in meta.get_all("Home-page") or [] if str(h).strip()]
    return homes[0] if homes else None


def _root_uri(report: CheckReport) -> str:
    uri = report.root.resolve().as_uri()
    return uri if uri.endswith("/") else uri + "/"


def sarif_dict(report: CheckReport) -> dict[str, Any]:
    findings = collect(report)
    located = [f for f in findings if f.path is not None]
    unlocated = [f for f in findings if f.path is None]
    invocation: dict[str, Any] = {"executionSuccessful": True, "toolExecutionNotifications":
                                  [_unlocated(f) for f in unlocated] + [_unverified(r) for r in report.unverified]}
    driver: dict[str, Any] = {"name": "hdrtest", "version": __version__, "semanticVersion": __version__}
    home = information_uri()
    if home:
        driver["informationUri"] = home
    driver["rules"] = [_rule_dict(rule) for rule in RULES]
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "originalUriBaseIds": {SRCROOT: {"uri": _root_uri(report),
                                         "description": {"text": "the tree hdrtest checked"}}},
        "invocations": [invocation],
        "results": [_with_root_cause(_result(f), f, report.root_causes) for f in located],
        "properties": {
            "headersChecked": report.headers_checked,
            "headersFailed": report.headers_failed,
            "unverifiedResults": len(report.unverified),
            "skipped": [{"header": s.header, "reason": s.reason} for s in report.skipped],
        },
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(context: ReportContext) -> str:
    return json.dumps(sarif_dict(context.report), indent=2, ensure_ascii=False) + "\n"
