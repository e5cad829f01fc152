"""A diagnosis as gcc-style notes: the one place its English is written.

Explanations establish a ``Diagnosis`` record; the notes every report format prints
(and the result cache keeps beside the record) are rendered from it here, so a test
asserts on the record and a format never rephrases what was established.
"""

from __future__ import annotations

from collections.abc import Callable

from ..models import Diagnosis, DiagnosisKind, Diagnostic, Note
from ..scan.conditions import parse_condition
from .context import quoted
from .guards import guard_directive, why_false

K = DiagnosisKind


def _where(d: Diagnosis) -> str:
    return f"{d.file}:{d.line}"


def _guard_reasons(d: Diagnosis) -> tuple[str, str]:
    """(the directive that tests the guard, why it is false here) from the record's guard and values."""
    formula = parse_condition("if", d.guard or "1")
    reasons = why_false(formula, dict(d.values))
    return guard_directive(formula), ", ".join(reasons)


def _member(d: Diagnosis, diag: Diagnostic, fix_diff: str | None) -> list[Note]:
    head = f"member {quoted(d.symbol)} of {quoted(d.context or '?')} is declared at {_where(d)} only when {d.guard}"
    if not d.verified:
        return [Note(f"{head}, whose value here is unknown (not verified: {d.reason})", file=d.file, line=d.line,
                     kind="definition")]
    directive, reasons = _guard_reasons(d)
    return [Note(f"{head}; in this configuration {reasons}", file=d.file, line=d.line, kind="definition"),
            Note(f"fix: guard the use at {diag.file}:{diag.line} with {directive}, or declare the member "
                 "unconditionally", file=diag.file, line=diag.line, kind="fix")]


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


def notes_for(d: Diagnosis, diag: Diagnostic, fix_diff: str | None = None) -> list[Note]:
    """The notes that say what ``d`` established about ``diag`` (``fix_diff``: its edits as a unified diff)."""
    if d.context is not None and d.kind in (K.CONDITIONAL, K.UNKNOWN_CONDITION):
        return _member(d, diag, fix_diff)
    return _RENDERERS[d.kind](d, diag, fix_diff)
