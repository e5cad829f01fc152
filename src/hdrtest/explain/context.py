"""What explaining one result works with: the index, the configuration, the files, and what it found.

The helpers here look names up in the symbol index and show paths and definitions the
way notes print them; every question module (definitions, includes, stubs) shares them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import classify as cls
from ..fixes import Edit, inside, shown_path
from ..graph.resolve import SearchPath
from ..models import Diagnosis, DiagnosisKind, Diagnostic, Result
from ..scan.cindex import TAG_KINDS, Definition
from ..scan.formula import TRUE, Const, Formula, evaluate, macros, to_c
from .config import Values
from .files import Files

if TYPE_CHECKING:  # the index imports this module's path helpers
    from .index import LazyIndex


#: Which index kinds can answer each error class.
KINDS_FOR = {
    cls.UNKNOWN_TYPE: ("typedef", "macro"),
    cls.IMPLICIT_FUNCTION: ("function", "function-decl", "macro"),
    cls.UNDECLARED_IDENTIFIER: ("macro", "enumerator", "variable", "function", "function-decl"),
}


def quoted(name: str) -> str:
    """A name in the typographic quotes gcc puts around names in its messages."""
    return f"\u2018{name}\u2019"


def labelled(symbol: str, target: str | None = None) -> str:
    """How notes and edits name what an error is about: ``symbol``, or the type ``target`` it is a typedef of."""
    return f"{quoted(target)} (through typedef {quoted(symbol)})" if target else quoted(symbol)


@dataclass
class Context:
    result: Result
    root: Path
    index: LazyIndex
    values: Values
    closure: frozenset[str]
    search: SearchPath
    files: Files
    seen: set[tuple[str, str]] = field(default_factory=set)
    #: Why the configuration's macros are unknown (the ``-dM -E`` probe failed); None when they are known.
    unknown_reason: str | None = None
    #: Definition files the explanation relied on (beyond what ``files`` read).
    read: set[str] = field(default_factory=set)
    #: False when the explanation rests on the absence of something in a widened index (a new file can change it).
    cacheable: bool = True

    def value(self, formula: Formula) -> bool | None:
        """``formula`` in this configuration; unknown whenever the macros could not be listed."""
        if self.unknown_reason is not None and not isinstance(formula, Const):
            return None
        return evaluate(formula, self.values)


@dataclass
class Explained:
    """What an explanation established (None: nothing) and the edits it offers; ``also_edits`` are those of
    ``diagnosis.also``, shown in its notes but not offered.  ``render.notes_for`` writes the notes."""

    diagnosis: Diagnosis | None = None
    edits: list[Edit] = field(default_factory=list)
    also_edits: list[Edit] = field(default_factory=list)


def diagnosis_for(kind: DiagnosisKind, diag: Diagnostic, definition: Definition | None, ctx: Context,
                  **fields: Any) -> Diagnosis:
    """The record of what an explanation established (``definition``: the one it names; ``fields``: the
    record's others)."""
    if definition is None:
        return record(kind, diag.symbol or "", ctx, **fields)
    return record(kind, diag.symbol or "", ctx, file=definition.file, line=definition.line,
                  condition=definition.condition, **fields)


def record(kind: DiagnosisKind, symbol: str, ctx: Context, *, file: str | Path | None = None, line: int | None = None,
           condition: Formula | None = None, **fields: Any) -> Diagnosis:
    """A diagnosis of ``symbol`` naming ``file``:``line`` under ``condition``, with the condition's values here.

    ``fields``: the record's other fields (``include``, ``context``, ``places``...), and
    ``verified``/``reason`` where something other than an unknown condition limits it.
    """
    guard = None if condition is None or condition == TRUE else condition
    unknown = ctx.unknown_reason is not None
    values = tuple((name, "?" if unknown else ctx.values.get(name)) for name in sorted(macros(guard))) \
        if guard is not None else ()
    verified = kind is not DiagnosisKind.UNKNOWN_CONDITION
    base = Diagnosis(kind=kind, symbol=symbol, file=shown_in(file, ctx.root) if file is not None else None, line=line,
                     guard=to_c(guard) if guard is not None else None, values=values, verified=verified,
                     reason=None if verified else ctx.unknown_reason or "hdrtest cannot evaluate that condition")
    return dataclasses.replace(base, **fields)


def norm_path(path: str | Path) -> str:
    return os.path.normpath(os.path.abspath(path))


def shown_in(path: str | Path, root: Path) -> str:
    return shown_path(Path(norm_path(path)), root)


def lookup_wide(ctx: Context, name: str, kinds: Sequence[str], needs_complete: bool) -> list[Definition]:
    """Look in the closure first; index the include directories only when it has no usable definition."""
    found = list(ctx.index.lookup(name, kinds))
    if any(d.complete or not needs_complete for d in found):
        return found
    if ctx.index.widen(name):
        found = list(ctx.index.lookup(name, kinds))
    return found


def query_for(symbol: str, category: str) -> tuple[str, tuple[str, ...], bool]:
    """(name, kinds, needs a complete type) for a classified symbol."""
    words = symbol.split()
    if len(words) == 2 and words[0] in TAG_KINDS:
        return words[1], (words[0],), category == cls.INCOMPLETE_TYPE
    if category == cls.INCOMPLETE_TYPE:
        return symbol, ("typedef",), True
    return symbol, KINDS_FOR.get(category, ("macro", "function", "function-decl", "variable", "typedef",
                                            "enumerator")), False


def tree_edit(ctx: Context, edit: Edit) -> Edit | None:
    """``edit``, or None when its file lies outside the checked tree: hdrtest never proposes editing the
    compiler's, the C library's or any other file it was not asked to check."""
    return edit if inside(edit.file, ctx.root) else None
