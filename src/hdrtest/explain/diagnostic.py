"""One classified error, explained: the dispatch by error class, and the classes that need no definition
lookup (missing include, include guard, ``#error``, unused static, struct member, redefinition)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .. import classify as cls
from ..fixes import declaration_text, render_diff
from ..models import Diagnostic, Note
from ..scan.conditions import to_c
from .context import (
    TAG_KINDS,
    Context,
    DefinitionLike,
    Explained,
    lookup,
    lookup_wide,
    norm_path,
    query_for,
    quoted,
    shown_in,
    tree_edit,
    where_of,
)
from .definitions import explain_definitions
from .files import Files
from .guards import guard_directive, why_false
from .includes import include_spelling


def typedef_target(definition: DefinitionLike, files: Files) -> str | None:
    """``struct fwd`` for ``typedef struct fwd fwd_t;``."""
    text = declaration_text(files.lines(str(definition.file)), definition.line)
    tagged = cls.clean_type(text.replace("typedef", "", 1).rsplit(definition.name, 1)[0])
    return tagged if tagged.split()[0] in TAG_KINDS else None


def _explain_member(diag: Diagnostic, member: str, container: str, ctx: Context) -> Explained:
    """A member declared only under a condition inside its struct."""
    out = Explained()
    name, kinds, _ = query_for(container, cls.INCOMPLETE_TYPE)
    for definition in lookup(ctx.index, name, kinds):
        if not definition.complete:
            continue
        path = str(definition.file)
        lines = ctx.files.lines(path)
        depth = 0
        for number in range(definition.line, min(len(lines), definition.line + 2000) + 1):
            text = lines[number - 1]
            if number > definition.line and depth > 0 and _declares(text, member):
                condition = ctx.files.scan(path).condition_at(number)
                if ctx.value(condition) is None:
                    out.notes.append(Note(
                        f"member {quoted(member)} of {quoted(container)} is declared at "
                        f"{shown_in(path, ctx.root)}:{number} "
                        f"only when {to_c(condition)}, whose value here is unknown (not verified: "
                        f"{ctx.unknown_reason or 'hdrtest cannot evaluate that condition'})",
                        file=shown_in(path, ctx.root), line=number, kind="definition"))
                    return out
                if ctx.value(condition) is False:
                    reasons = why_false(condition, ctx.values)
                    out.notes.append(Note(
                        f"member {quoted(member)} of {quoted(container)} is declared at "
                        f"{shown_in(path, ctx.root)}:{number} "
                        f"only when {to_c(condition)}; in this configuration {', '.join(reasons)}",
                        file=shown_in(path, ctx.root), line=number, kind="definition"))
                    out.notes.append(Note(f"fix: guard the use at {diag.file}:{diag.line} with "
                                          f"{guard_directive(condition)}, or declare the member unconditionally",
                                          file=diag.file, line=diag.line, kind="fix"))
                    return out
            depth += text.count("{") - text.count("}")
            if number > definition.line and depth <= 0 and "}" in text:
                break
        out.notes.append(Note(f"{quoted(container)} (defined at {where_of(definition, ctx.root)}) has no member "
                              f"{quoted(member)} in any configuration", file=shown_in(path, ctx.root),
                              line=definition.line, kind="definition"))
        return out
    return out


def _declares(text: str, member: str) -> bool:
    return re.search(r"[\s*]" + re.escape(member) + r"\s*(?:\[[^\]]*\]\s*)?(?::\s*\d+\s*)?[;,]", text) is not None


def _explain_missing_include(diag: Diagnostic, spelling: str, ctx: Context) -> Explained:
    out = Explained()
    base = Path(spelling).name
    named, complete = _files_named(ctx.root, base)
    found = sorted(p for p in named if p.as_posix().endswith("/" + spelling) or p.name == spelling)
    if not found:
        where = "in the tree or on the include path" if complete else \
            f"among the first {_NAMES_LIMIT:,} files of the tree"
        out.notes.append(Note(f"no file {quoted(spelling)} exists {where}", kind="definition"))
        return out
    shown = ", ".join(shown_in(p, ctx.root) for p in found[:3])
    out.notes.append(Note(f"{quoted(spelling)} is not on this compile's include path; the tree has {shown}"
                          + (f" and {len(found) - 3} more" if len(found) > 3 else ""), kind="definition"))
    user = Path(diag.abs_file or norm_path(ctx.root / diag.file))
    spelled = include_spelling(found[0], user, ctx.search)
    if spelled is not None:
        out.notes.append(Note(f"fix: spell it #include {spelled}, or add its directory with -I", kind="fix"))
    return out


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
    out = Explained()
    path = Path(diag.abs_file or norm_path(ctx.root / diag.file))
    scan = ctx.files.scan(str(path))
    if scan.guard is not None:
        out.notes.append(Note(f"{diag.file} has the include guard {scan.guard}, yet {quoted(diag.symbol or '?')} is "
                              "defined twice when it is included twice", kind="definition"))
        return out
    macro = guard_macro(shown_in(path, ctx.root))
    lines = ctx.files.lines(str(path))
    first = 1  # the guard goes after the leading comment (licence, description)
    while first <= len(lines) and (not lines[first - 1].strip()
                                   or lines[first - 1].lstrip().startswith(("//", "/*", "*"))):
        first += 1
    edits = [e for e in (tree_edit(ctx, file=path, line=first, lines=(f"#ifndef {macro}", f"#define {macro}"),
                                   group="guard-open", description="include guard"),
                         tree_edit(ctx, file=path, line=len(lines) + 1, lines=(f"#endif /* {macro} */",),
                                   group="guard-close", description="include guard")) if e is not None]
    out.edits.extend(edits)
    out.notes.append(Note(f"{diag.file} has no include guard: a second #include defines "
                          f"{quoted(diag.symbol or '?')} again", file=diag.file, kind="definition"))
    out.notes.append(Note(f"fix: wrap it in #ifndef {macro} / #define {macro} ... #endif", file=diag.file,
                          kind="fix", fix_diff=render_diff(edits, ctx.root) if edits else None))
    return out


def _explain_error_directive(diag: Diagnostic, ctx: Context) -> Explained:
    """An ``#error`` in a header is usually a deliberate "do not include me alone"."""
    shown = diag.file or "the header"
    return Explained(notes=[Note(
        f"{shown}:{diag.line} refuses this configuration or direct inclusion with #error; if that is by design, "
        f"exclude it with a reason in the settings (exclude = [{{path = \"{shown}\", reason = \"...\"}}]) or mark it "
        f"/* hdrtest: skip - reason */; otherwise the condition around the #error names what is missing",
        file=diag.file, line=diag.line, kind="fix")])


def _explain_unused(diag: Diagnostic, name: str, ctx: Context) -> Explained:
    lines = ctx.files.lines(diag.abs_file or norm_path(ctx.root / diag.file))
    text = lines[diag.line - 1] if 0 < diag.line <= len(lines) else ""
    # A function's name is followed by its parameter list on the defining line.
    function = re.search(r"\b" + re.escape(name) + r"\s*\(", text) is not None
    first = "make it static inline" if function else \
        "move the definition into the one source file that uses it and declare it extern here"
    return Explained([Note(
        f"{quoted(name)} is a static {'function' if function else 'definition'} in a header: every file that includes "
        f"the header gets its own copy, and with -Werror each one that does not use it fails. Fix: {first}, or "
        "mark it __maybe_unused", file=diag.file, line=diag.line, kind="fix")])


def _explain_redefinition(diag: Diagnostic, symbol: str, ctx: Context) -> Explained:
    out = Explained()
    words = symbol.split()
    name = words[-1]
    kinds = (words[0],) if len(words) == 2 and words[0] in TAG_KINDS else \
        ("struct", "union", "enum", "typedef", "function", "function-decl", "variable", "enumerator")
    places = [d for d in lookup(ctx.index, name, kinds)
              if d.complete and norm_path(d.file) in ctx.closure and ctx.value(d.condition) is not False]
    if len(places) > 1:
        shown = ", ".join(where_of(d, ctx.root) for d in places[:4])
        out.notes.append(Note(f"{quoted(symbol)} is defined {len(places)} times in what this compile reads: {shown}; "
                              "keep one definition and include its header where the others are",
                              kind="definition"))
    return out


def explain_diagnostic(diag: Diagnostic, ctx: Context) -> Explained:
    """Notes and edits for one classified error."""
    category = diag.category
    symbol = diag.symbol
    if category == cls.ERROR_DIRECTIVE:
        return _explain_error_directive(diag, ctx)
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
        return _explain_member(diag, symbol, context, ctx) if context else Explained()
    if category in (cls.REDEFINITION, cls.OTHER):
        return _explain_redefinition(diag, symbol, ctx) if category == cls.REDEFINITION else Explained()
    name, kinds, needs_complete = query_for(symbol, category)
    label = quoted(symbol)
    definitions = lookup_wide(ctx, name, kinds, needs_complete and kinds != ("typedef",))
    if category == cls.INCOMPLETE_TYPE and kinds == ("typedef",):
        # gcc names the typedef; the type to complete is what it stands for.
        for typedef in definitions:
            target = typedef_target(typedef, ctx.files)
            if target is not None:
                name, kinds, _ = query_for(target, category)
                label = f"{quoted(target)} (through typedef {quoted(symbol)})"
                definitions = lookup_wide(ctx, name, kinds, True)
                break
    return explain_definitions(diag, label, definitions, needs_complete, ctx, query=(name, kinds))
