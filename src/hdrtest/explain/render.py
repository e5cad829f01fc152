"""A diagnosis as gcc-style notes: the one place its English is written.

Explanations establish a ``Diagnosis`` record; the notes every report format prints
(and the result cache keeps beside the record) are rendered from it here, so a test
asserts on the record and a format never rephrases what was established.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..models import Diagnosis, DiagnosisKind, Diagnostic, Note
from ..scan.conditions import parse_condition
from ..scan.formula import Formula
from ..scan.options import OptionFilter
from .context import labelled, quoted
from .guards import guard_directive, why_false

K = DiagnosisKind


def _where(d: Diagnosis) -> str:
    return f"{d.file}:{d.line}"


# The record's guards were written by ``to_c`` from formulas whose options are already ``defined(X)``: read
# back with no option pattern, a plain ``CONFIG_X`` stays the value test it was.
_AS_WRITTEN = OptionFilter(patterns=())


def _formula(guard: str | None) -> Formula:
    return parse_condition("if", guard or "1", _AS_WRITTEN)


def _directive(guard: str | None) -> str:
    """The directive that tests ``guard`` (``#ifdef X``)."""
    return guard_directive(_formula(guard))


def _subject(d: Diagnosis) -> str:
    """What the record is about, and where: "'x' is defined at f.h:3" (a member "is declared")."""
    if d.context is not None:
        return f"member {quoted(d.symbol)} of {quoted(d.context)} is declared at {_where(d)}"
    return f"{labelled(d.symbol, d.target)} is defined at {_where(d)}"


def _definition(d: Diagnosis, message: str) -> Note:
    return Note(message, file=d.file, line=d.line, kind="definition")


def _conditional(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    reasons = ", ".join(why_false(_formula(d.guard), dict(d.values)))
    message = f"{_subject(d)} only when {d.guard}" + (f"; in this configuration {reasons}" if reasons else "")
    if d.header is not None:
        message += f" (and {d.header} does not include {d.file})"
    notes = [_definition(d, message)]
    use = f"guard the use at {diag.file}:{diag.line} with {_directive(d.guard)}"
    if d.context is not None:
        return notes + [Note(f"fix: {use}, or declare the member unconditionally", diag.file, diag.line, kind="fix")]
    label = labelled(d.symbol, d.target)
    if d.blockers:
        notes.append(Note(f"no stub for {label} is offered: {d.refused_stub} uses {', '.join(d.blockers)}, which "
                          "exist(s) only where the guard holds", file=d.file, line=d.line, kind="fix"))
    if d.outside:
        notes.append(Note(f"{d.file} is outside the checked tree: hdrtest suggests no edit of it", file=d.file,
                          line=d.line, kind="fix"))
    fixes: list[Note] = []
    if d.stub is not None and d.block is not None:
        branch = "a new #else" if d.needs_else else "the branch taken here"
        fixes.append(Note(f"add a stub to {branch} of the conditional at {d.file}:{d.block[0]}-{d.block[1]}: "
                          f"{d.stub}", file=d.file, line=d.edit_line, kind="fix", fix_diff=fix_diff))
    if not d.outside:
        block = f"the {_directive(d.block_guard)} block ({d.file}:{d.block[0]})" if d.block is not None else \
            f"its {_directive(d.guard)} block"
        fixes.append(Note(f"move {label} out of {block}, so that every configuration has it", file=d.file,
                          line=d.line, kind="fix"))
    fixes.append(Note(("or " if fixes else "") + use, file=diag.file, line=diag.line, kind="fix"))
    return notes + [dataclasses.replace(n, message=f"fix {number}: {n.message}") for number, n in enumerate(fixes, 1)]


def _unknown_condition(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    return [_definition(d, f"{_subject(d)} only when {d.guard}, whose value here is unknown (not verified: "
                           f"{d.reason})")]


def _include_fix(d: Diagnosis, fix_diff: str | None) -> Note:
    if d.edit_line is None:
        return Note(f"fix: include {d.include} before {d.header} (it is outside the checked tree: hdrtest suggests "
                    "no edit of it)", kind="include")
    return Note(f"fix: add '#include {d.include}' to {d.header}", file=d.header, line=d.edit_line, kind="include",
                fix_diff=fix_diff)


def _not_included(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    if d.include is None:
        return [_definition(d, f"{_subject(d)}, which no include path of this compile reaches")]
    others = f" (also at {d.total - 1} other place(s))" if d.total > 1 else ""
    message = f"{_subject(d)}{others}, which {d.header} does not include"
    if d.neighbours:
        message += f"; {d.include}, included by {d.neighbours} file(s) next to it, brings it in"
    return [_definition(d, message), _include_fix(d, fix_diff)]


def _standard_header(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    how = "reads without it (only some of its branches were taken)" if d.partly_read else "does not include"
    return [_definition(d, f"{labelled(d.symbol, d.target)} comes from the standard header {d.include} "
                           f"({_where(d)}), which {d.header} {how}"),
            _include_fix(d, fix_diff)]


def _defined_here(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    if d.kind is K.DEFINED_AFTER_USE:
        return [_definition(d, f"{_subject(d)}, after its use at line {diag.line}")]
    holds = f" (when {d.guard}, which holds here)" if d.guard is not None else ""
    return [_definition(d, f"{_subject(d)}, which this compile reads{holds}")]


def _forward_only(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    label = labelled(d.symbol, d.target)
    if d.places:
        (file, line), *_ = d.places
        return [_definition(d, f"{label} is only forward-declared where a complete type is needed ({_where(d)}); "
                               f"its complete definition is at {file}:{line}")]
    return [_definition(d, f"{label} is only forward-declared ({_where(d)}); no complete definition exists in the "
                           f"{d.total} indexed file(s)")]


def _nowhere(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    return [Note(f"{labelled(d.symbol, d.target)} is defined nowhere in the {d.total} indexed file(s) (the header's "
                 "includes and the include directories of its flags)", kind="definition")]


def _no_member(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    return [Note(f"{quoted(d.context or '?')} (defined at {_where(d)}) has no member {quoted(d.symbol)} in any "
                 "configuration", file=d.file, line=d.line, kind="definition")]


def _redefined(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    shown = ", ".join(f"{f}:{n}" for f, n in d.places)
    return [Note(f"{quoted(d.symbol)} is defined {d.total} times in what this compile reads: {shown}; keep one "
                 "definition and include its header where the others are", kind="definition")]


def _no_guard(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    return [Note(f"{d.file} has no include guard: a second #include defines {quoted(d.symbol)} again", file=d.file,
                 kind="definition"),
            Note(f"fix: wrap it in #ifndef {d.macro} / #define {d.macro} ... #endif", file=d.file, kind="fix",
                 fix_diff=fix_diff)]


def _guard_incomplete(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    return [Note(f"{d.file} has the include guard {d.macro}, yet {quoted(d.symbol)} is defined twice when it is "
                 "included twice", kind="definition")]


def _not_on_path(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    shown = ", ".join(f for f, _ in d.places)
    more = f" and {d.total - len(d.places)} more" if d.total > len(d.places) else ""
    notes = [Note(f"{quoted(d.symbol)} is not on this compile's include path; the tree has {shown}{more}",
                  kind="definition")]
    if d.include is not None:
        notes.append(Note(f"fix: spell it #include {d.include}, or add its directory with -I", kind="fix"))
    return notes


def _no_such_file(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    where = "in the tree or on the include path" if d.verified else f"among the first {d.total:,} files of the tree"
    return [Note(f"no file {quoted(d.symbol)} exists {where}", kind="definition")]


def _error_directive(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    shown = d.file or "the header"
    return [Note(f"{shown}:{d.line} refuses this configuration or direct inclusion with #error; if that is by "
                 f"design, exclude it with a reason in the settings (exclude = [{{path = \"{shown}\", reason = "
                 "\"...\"}]) or mark it /* hdrtest: skip - reason */; otherwise the condition around the #error "
                 "names what is missing", file=d.file, line=d.line, kind="fix")]


def _unused(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    function = d.kind is K.UNUSED_STATIC_FUNCTION
    first = "make it static inline" if function else \
        "move the definition into the one source file that uses it and declare it extern here"
    return [Note(f"{quoted(d.symbol)} is a static {'function' if function else 'definition'} in a header: every "
                 "file that includes the header gets its own copy, and with -Werror each one that does not use it "
                 f"fails. Fix: {first}, or mark it __maybe_unused", file=d.file, line=d.line, kind="fix")]


def _not_explained(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    return [Note(f"hdrtest could not explain this error ({d.reason})", kind="explain-error")]


_RENDERERS: dict[DiagnosisKind, Callable[[Diagnosis, Diagnostic, str | None], list[Note]]] = {
    K.CONDITIONAL: _conditional,
    K.UNKNOWN_CONDITION: _unknown_condition,
    K.NOT_INCLUDED: _not_included,
    K.STANDARD_HEADER: _standard_header,
    K.DEFINED_HERE: _defined_here,
    K.DEFINED_AFTER_USE: _defined_here,
    K.FORWARD_ONLY: _forward_only,
    K.NOWHERE: _nowhere,
    K.NO_MEMBER: _no_member,
    K.REDEFINED: _redefined,
    K.NO_INCLUDE_GUARD: _no_guard,
    K.GUARD_INCOMPLETE: _guard_incomplete,
    K.INCLUDE_NOT_ON_PATH: _not_on_path,
    K.NO_SUCH_FILE: _no_such_file,
    K.ERROR_DIRECTIVE: _error_directive,
    K.UNUSED_STATIC_FUNCTION: _unused,
    K.UNUSED_STATIC_DATA: _unused,
    K.NOT_EXPLAINED: _not_explained,
}


def notes_for(d: Diagnosis, diag: Diagnostic, fix_diff: str | None = None, also_diff: str | None = None) -> list[Note]:
    """The notes that say what ``d`` established about ``diag`` (``fix_diff``: its edits as a unified diff;
    ``also_diff``: those of ``d.also``)."""
    notes = _RENDERERS[d.kind](d, diag, fix_diff)
    if d.forward is not None:
        notes = _forward_only(d.forward, diag, None) + notes
    if d.also is not None:
        notes += [dataclasses.replace(n, message="it is also defined unconditionally: " + n.message)
                  for n in notes_for(d.also, diag, also_diff)]
    return notes
