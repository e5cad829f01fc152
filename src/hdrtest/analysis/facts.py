"""Per-file use facts: every place a file needs a name to exist, with the presence condition there.

What a use needs depends on how it uses the name:

* ``complete``: a struct or union embedded by value (a field, a variable) needs its
  definition with a body, in every configuration where the use is compiled;
* ``declared``: a name an inline function's body refers to (a call, a variable, an enum
  constant, a macro, a type) needs some declaration of it;
* ``expanded``: a name the file's code names anywhere else (an attribute macro after a
  struct, a macro in a declaration): it counts only where the closure defines it as a
  macro (``fragility`` then also follows the macro's body), since a plain declaration
  such as a prototype or a field name needs nothing.

Definitions come from the symbol index (``scan.symbols``), which already keeps each with
its presence condition.  Facts are computed from a file's bytes, its directive scan and
its index rows, and kept on disk by the file's content hash: a second run (or an audit
after an edit) only computes them for files that changed.  ``FactsMaker`` makes them as the
symbol index's companion, from the index's own read and scan of each file, in its worker
processes.
"""

from __future__ import annotations

import pickle
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..scan.attributes import blank_attributes
from ..scan.cindex import INDEX_VERSION, TAG_KINDS, Definition, FileSymbols
from ..scan.directives import FileScan, strip_comments
from ..scan.formula import FALSE, Formula, from_json, to_json
from ..scan.uses import ASM_OPERAND_NAME, C_KEYWORDS, LITERAL, call_arguments, tag_use_sites
from ..store.atomic import write_atomic
from ..store.namespaces import FACTS, code_digest, load

COMPLETE = "complete"
DECLARED = "declared"
EXPANDED = "expanded"


class Use(NamedTuple):
    """A tuple: a kernel audit reads hundreds of thousands from the cache, and a tuple is quick to make."""

    name: str
    #: ``complete:struct``, ``complete:union``, ``declared`` or ``expanded``
    need: str
    line: int
    condition: Formula

    def satisfied_by(self, definition: Definition) -> bool:
        """Whether ``definition`` is of a kind this use can make do with."""
        if self.need in (DECLARED, EXPANDED):
            return definition.kind not in TAG_KINDS
        kind = self.need.partition(":")[2]
        return definition.kind == kind and definition.complete


def file_uses(data: bytes, scan: FileScan, definitions: Sequence[Definition]) -> list[Use]:
    """The uses of one file (its own definitions from the symbol index, in ``definitions``)."""
    uses: list[Use] = []
    for tag in tag_use_sites(blank_attributes(data)):
        if tag.by_value and not tag.defines and tag.kind in ("struct", "union"):
            condition = scan.condition_at(tag.line)
            if condition != FALSE:
                uses.append(Use(tag.name, f"{COMPLETE}:{tag.kind}", tag.line, condition))
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    for definition in definitions:
        if definition.kind != "function":
            continue
        params = set(_WORD.findall(definition.signature.partition("(")[2])) if definition.signature else set()
        first = _first_lines(lines, definition.line, definition.end_line or definition.line)
        for name in sorted(definition.uses - params):
            line = first.get(name)
            if line is None:
                continue  # only a member (p->name, s.name) or only in the signature: not a use of the name
            condition = scan.condition_at(line)
            if condition != FALSE:
                uses.append(Use(name, DECLARED, line, condition))
    return uses + _named_in_code(lines, scan, {(u.name, u.condition) for u in uses})


_TAG_NAME = re.compile(r"\b(?:struct|union|enum)\s+[A-Za-z_]\w*")
#: A name, not a member (``p->name``, ``s.name``, ``.name =``).
_NAMED = re.compile(r"(?<![.>\w])([A-Za-z_]\w*)")
_DIRECTIVE_START = re.compile(r"^[ \t]*#")


def _outside_directives(lines: list[str], first: int, last: int) -> Iterator[tuple[int, str]]:
    """The 1-based lines ``first..last`` of ``lines`` that are no directive (nor a directive's continuation)."""
    in_directive = False
    for number in range(first, min(last, len(lines)) + 1):
        text = lines[number - 1]
        directive = in_directive or bool(_DIRECTIVE_START.match(text))
        in_directive = directive and text.rstrip().endswith("\\")
        if not directive:
            yield number, text


def _named_in_code(lines: list[str], scan: FileScan, known: set[tuple[str, Formula]]) -> list[Use]:
    """``expanded`` uses: names in the code outside directives, one per name and condition (first line)."""
    code = strip_comments("\n".join(lines)).split("\n")
    out: list[Use] = []
    seen = set(known)
    # Directives are left out: a macro's body counts where it is expanded; #if names are no uses.
    for number, text in _outside_directives(code, 1, len(code)):
        text = _TAG_NAME.sub(" ", LITERAL.sub(" ", ASM_OPERAND_NAME.sub(" ", text)))
        for name in _NAMED.findall(text):
            if name in C_KEYWORDS:
                continue
            condition = scan.condition_at(number)
            if condition != FALSE and (name, condition) not in seen:
                seen.add((name, condition))
                out.append(Use(name, EXPANDED, number, condition))
    return out


_WORD = re.compile(r"\b[A-Za-z_]\w*")


def _without_parameters(text: str) -> str:
    """``text`` with its first parenthesised group removed (a one-line function keeps its body)."""
    start = text.index("(")
    found = call_arguments(text, start, "(")
    return text[:start] + " " + text[found[1]:] if found is not None else text[:start]


def _first_lines(lines: list[str], first: int, last: int) -> dict[str, int]:
    """The 1-based line in ``first..last`` where each name is first used as a name, not a member, outside
    directives.  One pass over the lines: a pattern per name cost a regex compile per use (the ``re`` cache
    holds 512)."""
    found: dict[str, int] = {}
    # "#ifdef DEBUG_WW_MUTEXES" in a body tests the name: no use of it (ww_mutex.h:103).
    for number, text in _outside_directives(lines, first, last):
        if number == first and "(" in text:
            text = _without_parameters(text)  # the signature's parameters are declarations
        for name in _NAMED.findall(text):
            found.setdefault(name, number)
    return found


# ---------------------------------------------------------------------------
# Disk cache by content


def _where(cache_dir: Path, digest: str) -> Path:
    """The file for content ``digest``; facts depend on this module's code and on what the index stores."""
    key = FACTS.key(digest, str(INDEX_VERSION), code_digest(sys.modules[__name__]))
    return FACTS.path(cache_dir, key, ".pickle")


def load_uses(cache_dir: Path | None, digest: str) -> list[Use] | None:
    def decode(blob: bytes) -> list[Use]:
        table, rows = pickle.loads(blob)
        conditions = [from_json(c) for c in table]
        return [Use(name, need, line, conditions[at]) for name, need, line, at in rows]
    return load(None if cache_dir is None else _where(cache_dir, digest), decode)


def store_uses(cache_dir: Path | None, digest: str, uses: Sequence[Use]) -> None:
    if cache_dir is None:
        return
    # A file's uses share a few conditions (one per #if region): stored once each, decoded once each.
    table: dict[int, int] = {}
    conditions: list[object] = []
    rows = []
    for use in uses:
        at = table.get(id(use.condition))
        if at is None:
            at = table[id(use.condition)] = len(conditions)
            conditions.append(to_json(use.condition))
        rows.append((use.name, use.need, use.line, at))
    write_atomic(_where(cache_dir, digest), pickle.dumps((conditions, rows), protocol=pickle.HIGHEST_PROTOCOL))


@dataclass(frozen=True)
class FactsMaker:
    """The symbol index's companion (``scan.symbols.Companion``): each file's uses, kept in ``cache_dir``."""

    cache_dir: Path

    def missing(self, digest: str) -> bool:
        return not _where(self.cache_dir, digest).exists()

    def make(self, path: str, digest: str, data: bytes, scan: FileScan, symbols: FileSymbols) -> None:
        store_uses(self.cache_dir, digest, file_uses(data, scan, symbols.definitions(path)))
