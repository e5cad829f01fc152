"""Turning compiler output into ``Diagnostic`` records.

gcc's ``-fdiagnostics-format=json`` is the preferred source (exact columns, options,
child notes); gcc's and clang's text output is parsed otherwise, and also supplies the
include chains that gcc's JSON leaves out.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .fixes.edits import shown_path
from .models import Diagnostic
from .names import printable

_LOCATED = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<sev>fatal error|error|warning|note|remark): (?P<msg>.*)$"
)
_UNLOCATED = re.compile(r"^(?P<file>[^:\s][^:]*): (?P<sev>fatal error|error|warning|note): (?P<msg>.*)$")
_INCLUDED = re.compile(r"^(?:In file included from|\s+from) (?P<file>.+?):(?P<line>\d+)?[:,]?$")
_OPTION = re.compile(r"\s\[(?P<opt>-W[^\]]+|-Werror=[^\]]+)\]$")

PathMapper = Callable[[str], tuple[str, str | None]]


def make_mapper(directory: Path, root: Path) -> PathMapper:
    """Map a path as the compiler printed it to (display path, absolute path)."""

    @functools.cache
    def mapper(raw: str) -> tuple[str, str | None]:
        if raw.startswith("<") or not raw:  # <command-line>, <built-in>, <stdin>
            return raw, None
        absolute = Path(os.path.normpath(directory / raw))
        return printable(shown_path(absolute, root)), str(absolute)

    return mapper


def readable(text: str) -> str:
    """Compiler text with undecodable bytes as U+FFFD: output is read with surrogate escapes so that file names
    map back to paths, but messages go into reports and baselines that must be valid UTF-8."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _split_option(message: str) -> tuple[str, str | None]:
    match = _OPTION.search(message)
    if match is None:
        return message, None
    return message[: match.start()], match.group("opt")


def parse_text(text: str, mapper: PathMapper) -> list[Diagnostic]:
    """Parse gcc/clang text diagnostics; notes become children of the diagnostic before them."""
    diagnostics: list[Diagnostic] = []
    chain: list[tuple[str, int]] = []
    for line in text.splitlines():
        included = _INCLUDED.match(line)
        if included is not None:
            shown, absolute = mapper(included.group("file"))
            if absolute is not None:  # <command-line> and <built-in> only say "forced include"
                chain.append((shown, int(included.group("line") or 0)))
            continue
        match = _LOCATED.match(line) or _UNLOCATED.match(line)
        if match is None:
            continue
        groups = match.groupdict()
        shown, absolute = mapper(groups["file"])
        message, option = _split_option(readable(groups["msg"]))
        diag = Diagnostic(
            file=shown,
            line=int(groups.get("line") or 0),
            column=int(groups.get("col") or 0),
            severity=groups["sev"],
            message=message,
            option=option,
            include_chain=chain[::-1],  # compilers print the innermost includer first
            abs_file=absolute,
        )
        chain = []
        if diag.severity == "note" and diagnostics:
            diagnostics[-1].children.append(diag)
        else:
            diagnostics.append(diag)
    return diagnostics


#: Category of the one record ``parse_gcc_json`` returns when the compiler's JSON is not what gcc writes.
MALFORMED = "malformed-diagnostics"
#: gcc nests a note or two; deeper than this is not gcc's output.
_MAX_DEPTH = 32


def _check_item(item: object, depth: int = 0) -> str | None:
    """What is wrong with one JSON diagnostic, or None when it has the shape gcc writes."""
    if depth > _MAX_DEPTH:
        return f"children nested more than {_MAX_DEPTH} deep"
    if not isinstance(item, dict):
        return f"a diagnostic is {type(item).__name__}, not an object"
    for key in ("kind", "message"):
        if not isinstance(item.get(key), str):
            return f"'{key}' is missing or not a string"
    if item.get("option") is not None and not isinstance(item["option"], str):
        return "'option' is not a string"
    locations = item.get("locations", [])
    if not isinstance(locations, list) or not all(isinstance(loc, dict) for loc in locations):
        return "'locations' is not a list of objects"
    caret = locations[0].get("caret", {}) if locations else {}
    if not isinstance(caret, dict):
        return "'caret' is not an object"
    if not isinstance(caret.get("file", ""), str):
        return "'file' is not a string"
    for key, lowest in (("line", 0), ("column", -1)):
        # gcc writes column -1 where it has none (a macro redefinition: the whole #define line).
        value = caret.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
            return f"'{key}' is not an integer >= {lowest}"
    children = item.get("children", [])
    if not isinstance(children, list):
        return "'children' is not a list"
    return next((problem for child in children if (problem := _check_item(child, depth + 1)) is not None), None)


def _from_json_item(item: dict[str, Any], mapper: PathMapper) -> list[Diagnostic]:
    """The diagnostic ``item`` (shape already checked), then any error gcc nested in its children.

    gcc 12 can put an error among the children of the warning before it; read as a note,
    the compile would look failed without an error.  Only notes stay children.
    """
    locations = item.get("locations") or []
    caret: dict[str, Any] = locations[0].get("caret", {}) if locations else {}
    raw_file = caret.get("file", "")
    shown, absolute = mapper(raw_file) if raw_file else ("", None)
    diag = Diagnostic(
        file=shown,
        line=caret.get("line", 0),
        column=max(caret.get("column", 0), 0),  # 0: no column
        severity=item["kind"],
        message=readable(item["message"]),
        option=item.get("option"),
        abs_file=absolute,
    )
    hoisted: list[Diagnostic] = []
    for child in item.get("children") or []:
        first, *nested = _from_json_item(child, mapper)
        if first.severity == "note":
            diag.children.append(first)
        else:
            hoisted.append(first)
        hoisted.extend(nested)
    return [diag, *hoisted]


def malformed(problem: str) -> Diagnostic:
    return Diagnostic(file="", line=0, column=0, severity="error", category=MALFORMED,
                      message=f"the compiler's JSON diagnostics are malformed ({problem}); the result is not verified")


def parse_gcc_json(text: str, mapper: PathMapper) -> list[Diagnostic] | None:
    """Parse gcc's JSON diagnostics; None when the output holds no JSON array.

    Output that is JSON but not the shape gcc writes yields one record of category
    ``MALFORMED`` instead of a guess: a verdict must not rest on diagnostics misread.
    """
    diagnostics: list[Diagnostic] = []
    found = False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("["):
            continue
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError:
            continue
        except RecursionError:
            return [malformed("nested too deeply")]
        if not isinstance(items, list):
            continue
        found = True
        for item in items:
            problem = _check_item(item)
            if problem is not None:
                return [malformed(problem)]
            diagnostics.extend(_from_json_item(item, mapper))
    return diagnostics if found else None


def attach_chains(records: list[Diagnostic], text_records: list[Diagnostic]) -> None:
    """Give JSON records the include chains that a text run of the same compile printed."""
    chains = {(d.file, d.line, d.message): d.include_chain for d in text_records}
    by_place = {(d.file, d.line): d.include_chain for d in text_records}
    for record in records:
        chain = chains.get((record.file, record.line, record.message)) or by_place.get((record.file, record.line))
        if chain:
            record.include_chain = list(chain)


def render_gcc_style(diag: Diagnostic, *, chain: bool = True) -> list[str]:
    """Lines in the shape gcc prints, so editors and people read them as usual."""
    lines: list[str] = []
    if chain and diag.include_chain:
        for index, (file, line) in enumerate(reversed(diag.include_chain)):
            last = index == len(diag.include_chain) - 1
            prefix = "In file included from " if index == 0 else "                 from "
            lines.append(f"{prefix}{place(file, line)}{':' if last else ','}")
    lines.extend(location_line(d) for d in [diag, *diag.children])
    return lines


def location_line(diag: Diagnostic) -> str:
    """``file:line:col: severity: message [option]``, gcc's way."""
    option = f" [{diag.option}]" if diag.option else ""
    return f"{place(diag.file or 'hdrtest', diag.line, diag.column)}: {diag.severity}: {diag.message}{option}"


def place(file: str, line: int | None, column: int | None = None) -> str:
    """``file:line:column`` as gcc prints it: without the line or the column where there is none."""
    if not line:
        return file
    return f"{file}:{line}:{column}" if column else f"{file}:{line}"
