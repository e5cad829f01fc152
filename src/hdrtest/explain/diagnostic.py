"""One classified error, explained: the dispatch by error class, and the classes that need no definition
lookup (missing include, include guard, ``#error``, unused static, struct member, redefinition)."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from .. import classify as cls
from ..fixes import Edit
from ..models import Diagnosis, Diagnostic
from ..models import DiagnosisKind as K
from ..scan.cindex import TAG_KINDS, Definition
from .context import (
    Context,
    Explained,
    lookup_wide,
    norm_path,
    query_for,
    record,
    shown_in,
    tree_edit,
)
from .definitions import explain_definitions
from .files import Files
from .includes import include_spelling
from .stubs import declaration_text


def typedef_target(definition: Definition, files: Files) -> str | None:
    """``struct fwd`` for ``typedef struct fwd fwd_t;``."""
    text = declaration_text(files.lines(str(definition.file)), definition.line)
    tagged = cls.clean_type(text.replace("typedef", "", 1).rsplit(definition.name, 1)[0])
    return tagged if tagged.split()[0] in TAG_KINDS else None


def _explain_member(member: str, container: str, ctx: Context) -> Explained:
    """A member declared only under a condition inside its struct."""
    name, kinds, _ = query_for(container, cls.INCOMPLETE_TYPE)
    for definition in ctx.index.lookup(name, kinds):
        if not definition.complete:
            continue
        path = str(definition.file)
        found = _member_line(ctx.files.lines(path), definition.line, member)
        if found is not None:
            condition = ctx.files.scan(path).condition_at(found)
            value = ctx.value(condition)
            if value is True:
                return Explained()  # declared here: whatever the compiler saw, this is not established as why
            kind = K.UNKNOWN_CONDITION if value is None else K.CONDITIONAL
            return Explained(record(kind, member, ctx, file=path, line=found, condition=condition, context=container))
        return Explained(record(K.NO_MEMBER, member, ctx, file=path, line=definition.line, context=container))
    return Explained()


def _member_line(lines: list[str], first: int, member: str) -> int | None:
    """The line declaring ``member`` in the struct whose definition starts at ``first``, if any."""
    declares = re.compile(r"[\s*]" + re.escape(member) + r"\s*(?:\[[^\]]*\]\s*)?(?::\s*\d+\s*)?[;,]")
    depth = 0
    for number in range(first, min(len(lines), first + 2000) + 1):
        text = lines[number - 1]
        if number > first and depth > 0 and declares.search(text):
            return number
        depth += text.count("{") - text.count("}")
        if number > first and depth <= 0 and "}" in text:
            break
    return None


def _explain_missing_include(diag: Diagnostic, spelling: str, ctx: Context) -> Explained:
    base = Path(spelling).name
    named, complete = _files_named(ctx.root, base)
    found = sorted(p for p in named if p.as_posix().endswith("/" + spelling) or p.name == spelling)
    if not found:
        found_not = record(K.NO_SUCH_FILE, spelling, ctx)
        if not complete:
            found_not = dataclasses.replace(found_not, verified=False, total=_NAMES_LIMIT,
                                            reason=f"only the first {_NAMES_LIMIT:,} files of the tree were listed")
        return Explained(found_not)
    user = Path(diag.abs_file or norm_path(ctx.root / diag.file))
    return Explained(record(K.INCLUDE_NOT_ON_PATH, spelling, ctx, places=[(shown_in(p, ctx.root), 0) for p in found[:3]],
                            total=len(found), include=include_spelling(found[0], user, ctx.search)))


#: Root -> (file name -> directories holding one, whether the whole tree was listed).
_NAMES: dict[Path, tuple[dict[str, list[str]], bool]] = {}
#: How many files a search for a missing include lists at most: a root such as /tmp or $HOME
#: can hold millions, and a hint is not worth minutes.
_NAMES_LIMIT = 300_000


def _files_named(root: Path, name: str) -> tuple[list[Path], bool]:
    """Files called ``name`` under ``root`` (hidden directories skipped), and whether all of it was searched."""
    known = _NAMES.get(root)
    if known is None:
        table: dict[str, list[str]] = {}
        count = 0
        complete = True
        for directory, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in filenames:
                table.setdefault(filename, []).append(directory)  # strings: a Path per file costs seconds
            count += len(filenames)
            if count > _NAMES_LIMIT:
                complete = False
                break
        known = _NAMES[root] = (table, complete)
    table, complete = known
    return [Path(directory, name) for directory in table.get(name, [])], complete


def guard_macro(display: str) -> str:
    """``T_H_`` for ``t.h``: the macro of a new include guard, from the header's path."""
    return re.sub(r"[^A-Za-z0-9]", "_", display).upper().lstrip("_") + "_"


def _explain_guard(diag: Diagnostic, ctx: Context) -> Explained:
    path = Path(diag.abs_file or norm_path(ctx.root / diag.file))
    scan = ctx.files.scan(str(path))
    symbol = diag.symbol or "?"
    if scan.guard is not None:
        return Explained(dataclasses.replace(record(K.GUARD_INCOMPLETE, symbol, ctx, macro=scan.guard), file=diag.file))
    macro = guard_macro(shown_in(path, ctx.root))
    lines = ctx.files.lines(str(path))
    first = 1  # the guard goes after the leading comment (licence, description)
    while first <= len(lines) and (not lines[first - 1].strip()
                                   or lines[first - 1].lstrip().startswith(("//", "/*", "*"))):
        first += 1
    edits = [e for e in (tree_edit(ctx, Edit(path, first, (f"#ifndef {macro}", f"#define {macro}"), group="guard-open")),
                         tree_edit(ctx, Edit(path, len(lines) + 1, (f"#endif /* {macro} */",), group="guard-close")))
             if e is not None]
    found = dataclasses.replace(record(K.NO_INCLUDE_GUARD, symbol, ctx, macro=macro), file=diag.file)
    return Explained(found, edits)


def _explain_unused(diag: Diagnostic, name: str, ctx: Context) -> Explained:
    lines = ctx.files.lines(diag.abs_file or norm_path(ctx.root / diag.file))
    text = lines[diag.line - 1] if 0 < diag.line <= len(lines) else ""
    # A function's name is followed by its parameter list on the defining line.
    function = re.search(r"\b" + re.escape(name) + r"\s*\(", text) is not None
    kind = K.UNUSED_STATIC_FUNCTION if function else K.UNUSED_STATIC_DATA
    return Explained(Diagnosis(kind, name, file=diag.file, line=diag.line))


def _explain_redefinition(symbol: str, ctx: Context) -> Explained:
    words = symbol.split()
    name = words[-1]
    kinds = (words[0],) if len(words) == 2 and words[0] in TAG_KINDS else \
        ("struct", "union", "enum", "typedef", "function", "function-decl", "variable", "enumerator")
    places = [d for d in ctx.index.lookup(name, kinds)
              if d.complete and norm_path(d.file) in ctx.closure and ctx.value(d.condition) is not False]
    if len(places) < 2:
        return Explained()
    return Explained(record(K.REDEFINED, symbol, ctx, places=[(shown_in(d.file, ctx.root), d.line) for d in places[:4]],
                            total=len(places)))


def explain_diagnostic(diag: Diagnostic, ctx: Context) -> Explained:
    """Notes and edits for one classified error."""
    category = diag.category
    symbol = diag.symbol
    if category == cls.ERROR_DIRECTIVE:  # usually a deliberate "do not include me alone"
        return Explained(Diagnosis(K.ERROR_DIRECTIVE, diag.symbol or "", file=diag.file, line=diag.line))
    if category == cls.UNUSED_DEFINITION and symbol is not None:
        return _explain_unused(diag, symbol, ctx)
    if category is None or symbol is None and category != cls.INCLUDE_GUARD:
        return Explained()
    key = (category, symbol or "")
    if key in ctx.seen:
        return Explained()
    ctx.seen.add(key)
    if category == cls.INCLUDE_GUARD:
        return _explain_guard(diag, ctx)
    assert symbol is not None
    if category == cls.MISSING_INCLUDE:
        return _explain_missing_include(diag, symbol, ctx)
    if category == cls.NO_MEMBER:
        context = cls.analyse(diag).context
        return _explain_member(symbol, context, ctx) if context else Explained()
    if category in (cls.REDEFINITION, cls.OTHER):
        return _explain_redefinition(symbol, ctx) if category == cls.REDEFINITION else Explained()
    name, kinds, needs_complete = query_for(symbol, category)
    target = None
    definitions = lookup_wide(ctx, name, kinds, needs_complete and kinds != ("typedef",))
    if category == cls.INCOMPLETE_TYPE and kinds == ("typedef",):
        # gcc names the typedef; the type to complete is what it stands for.
        for typedef in definitions:
            target = typedef_target(typedef, ctx.files)
            if target is not None:
                name, kinds, _ = query_for(target, category)
                definitions = lookup_wide(ctx, name, kinds, True)
                break
    return explain_definitions(diag, target, definitions, needs_complete, ctx, query=(name, kinds))
