"""Sorting compiler errors into the classes hdrtest knows how to explain.

gcc and clang word the same problem differently (and gcc quotes with ‘’ in a UTF-8
locale, '' otherwise); this module maps both to one category and the name the error
is about.  For an incomplete type the name is the *type* (``struct foo``), which gcc's
"field ‘x’ has incomplete type" does not print: it is taken from clang's child note
("forward declaration of 'struct foo'") or from the declaration at the error's line.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .models import Diagnostic

INCOMPLETE_TYPE = "incomplete-type"
UNKNOWN_TYPE = "unknown-type"
IMPLICIT_FUNCTION = "implicit-function"
UNDECLARED_IDENTIFIER = "undeclared-identifier"
NO_MEMBER = "no-member"
REDEFINITION = "redefinition"
MISSING_INCLUDE = "missing-include"
INCLUDE_GUARD = "include-guard"
#: ``#error`` fired: the header refuses to be compiled this way (often "include foo.h instead").
ERROR_DIRECTIVE = "error-directive"
#: A static function or constant the header defines and nothing uses, with -Werror (Linux's -S header test).
UNUSED_DEFINITION = "unused-definition"
OTHER = "other"

CATEGORIES = (ERROR_DIRECTIVE, INCOMPLETE_TYPE, UNKNOWN_TYPE, IMPLICIT_FUNCTION, UNDECLARED_IDENTIFIER, NO_MEMBER, REDEFINITION,
              MISSING_INCLUDE, INCLUDE_GUARD, UNUSED_DEFINITION, OTHER)

@dataclass(frozen=True)
class Classification:
    category: str
    #: What the error is about: a type ("struct foo"), function, identifier, member or include spelling.
    symbol: str | None = None
    #: For no-member: the type that lacks the member; for a field/variable: the declared name.
    context: str | None = None


_Q = "'"
_NAME = r"'(?P<name>[^']+)'"
_TYPE = r"'(?P<type>[^']+)'(?: \(aka '(?P<aka>[^']+)'\))?"

# Each pattern is matched with ``search`` against the message with quotes normalised.
_INCOMPLETE_DECL = [  # gcc: names the declaration, not its type
    re.compile(r"^field " + _NAME + r" has incomplete type"),
    re.compile(r"^storage size of " + _NAME + r" isn't known"),
    re.compile(r"^parameter \d+ \(" + _NAME + r"\) has incomplete type"),
    re.compile(r"^type of formal parameter \d+ is incomplete"),
    re.compile(r"^return type is an incomplete type"),
]
_INCOMPLETE_TYPE = [
    re.compile(r"incomplete (?:element |result |return |non-array )?type(?:def)? " + _TYPE),
    re.compile(r"invalid use of undefined type " + _TYPE),
    re.compile(r"incomplete definition of type " + _TYPE),
    re.compile(r"tentative definition has type " + _TYPE + r" that is never completed"),
    re.compile(r"argument type " + _TYPE + r" is incomplete"),
    re.compile(r"^variable has incomplete type " + _TYPE),
]
_UNKNOWN_TYPE = [
    re.compile(r"^unknown type name " + _NAME),
    # gcc, for a field or parameter whose type name it does not know.
    re.compile(r"^expected specifier-qualifier-list before " + _NAME),
    re.compile(r"^expected declaration specifiers or '\.\.\.' before " + _NAME),
    # g++
    re.compile(r"^" + _NAME + r" does not name a type"),
    re.compile(r"^" + _NAME + r" has not been declared"),
]
# gcc only, and only past parsing (-S, not -fsyntax-only); clang warns about unused statics
# of the main file alone, never of an -include'd header.
_UNUSED = [re.compile(r"^" + _NAME + r" defined but not used")]
_IMPLICIT = [
    re.compile(r"implicit declaration of function " + _NAME),
    re.compile(r"call to undeclared function " + _NAME),
]
_UNDECLARED = [
    re.compile(r"^" + _NAME + r" undeclared"),
    re.compile(r"use of undeclared identifier " + _NAME),
    re.compile(r"^" + _NAME + r" was not declared in this scope"),
]
_NO_MEMBER = [
    re.compile(r"^'(?P<type>[^']+)' has no member named " + _NAME),
    re.compile(r"no member named " + _NAME + r" in '(?P<type>[^']+)'"),
]
_REDEFINITION = [
    re.compile(r"^(?:nested )?redefinition of (?:typedef |enumerator )?" + _NAME),
    re.compile(r"^redeclaration of (?:enumerator )?" + _NAME),
    re.compile(r"^conflicting types for " + _NAME),
    re.compile(r"^typedef redefinition with different types"),
    re.compile(r"^conflicting type qualifiers for " + _NAME),
]
_MISSING_INCLUDE = [
    re.compile(r"^(?P<name>[^:]+): No such file or directory$"),
    re.compile(r"^" + _NAME + r" file not found"),
]
_FORWARD_NOTE = re.compile(r"forward declaration of '(?P<type>[^']+)'")
_PREVIOUS_NOTE = re.compile(r"previous (?:definition|declaration)|originally defined here|unguarded header")

#: What a symbol can be: gcc's "expected ... before '*' token" quotes punctuation and keywords too.
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:::[A-Za-z_$][A-Za-z0-9_$]*)*")
#: Keywords gcc quotes in syntax errors ("before 'int'"); scan.uses has the full list but loads tree-sitter.
_KEYWORDS = frozenset("""
    auto break case char const continue default do double else enum extern float for goto if inline int long
    register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
    _Bool _Complex _Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert _Thread_local asm __asm__
    __attribute__ typeof __typeof__ __extension__
    """.split())
_TAGGED = re.compile(r"\b(struct|union|enum)\s+([A-Za-z_]\w*)")
_WORD = re.compile(r"[A-Za-z_]\w*")
_QUALIFIERS = frozenset({
    "const", "volatile", "restrict", "__restrict", "__restrict__", "static", "extern", "register", "inline",
    "__inline", "__inline__", "auto", "_Thread_local", "__thread", "signed", "unsigned", "typedef",
})


def normalise_quotes(message: str) -> str:
    """gcc's typographic quotes as ASCII, so one pattern serves every locale and clang."""
    return message.replace("\u2018", _Q).replace("\u2019", _Q).replace("`", _Q)


def clean_type(text: str) -> str:
    """``const struct foo *[3]`` -> ``struct foo``: the name to look up."""
    return _type_name(_TAGGED.search(text), text) or text.strip()


def _type_name(tagged: re.Match[str] | None, text: str) -> str | None:
    """The type ``tagged`` names (``struct foo``), else the last word of ``text`` that is not a qualifier (a
    typedef name)."""
    if tagged is not None:
        return f"{tagged.group(1)} {tagged.group(2)}"
    words = _unqualified_words(text)
    return words[-1] if words else None


def _unqualified_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text) if w not in _QUALIFIERS]


def read_line(path: str, line: int) -> str | None:
    """A source line, for the declarations gcc names but does not show."""
    try:
        with Path(path).open(encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, 1):
                if number == line:
                    return text.rstrip("\n")
    except OSError:
        return None
    return None


def type_of_declaration(path: str, line: int, column: int, name: str | None) -> str | None:
    """The type written before the declared ``name`` at ``path:line:column``.

    Looks at the text before the name (and at the line before, for declarations split
    across lines): the last ``struct/union/enum TAG`` there, else the last identifier
    that is not a qualifier (a typedef name).
    """
    text = read_line(path, line)
    if text is None:
        return None
    cut = column - 1 if column > 0 else len(text)
    if name:
        found = [m.start() for m in re.finditer(r"\b" + re.escape(name) + r"\b", text)]
        before = [s for s in found if s <= cut]
        if before:
            cut = before[-1]
        elif found:
            cut = found[0]
    prefix = text[:cut]
    # Only the current declaration matters: stop at the previous ';', '{', '(' or ','.
    parts = re.split(r"[;{(,]", prefix)
    decl = parts[-1]
    if not _unqualified_words(decl) and line > 1:
        previous = read_line(path, line - 1) or ""
        decl = re.split(r"[;{(,]", previous)[-1] + " " + decl
    decl = decl.replace("*", " ")
    tagged = list(_TAGGED.finditer(decl))
    return _type_name(tagged[-1] if tagged else None, decl)


def _search(patterns: Sequence[re.Pattern[str]], message: str) -> re.Match[str] | None:
    return next((match for pattern in patterns if (match := pattern.search(message)) is not None), None)


def is_symbol(text: str) -> bool:
    """Whether ``text`` names something an index can hold (never ``*``, ``(`` or ``int``)."""
    words = text.split()
    if len(words) == 2 and words[0] in ("struct", "union", "enum", "class"):
        words = words[1:]
    return len(words) == 1 and _IDENTIFIER.fullmatch(words[0]) is not None and words[0] not in _KEYWORDS


def _is_guard_failure(diag: Diagnostic, related: Sequence[Diagnostic]) -> bool:
    """Whether a redefinition's earlier definition is the very same place (the header read twice)."""
    for note in [*diag.children, *related]:
        message = normalise_quotes(note.message)
        if "unguarded header" in message or "included multiple times" in message:
            return True
        if _PREVIOUS_NOTE.search(message) and note.file == diag.file and note.line == diag.line:
            return True
    return False


def analyse(diag: Diagnostic, *, related: Sequence[Diagnostic] = (), check_guard: bool = False) -> Classification:
    """Classify one diagnostic, whichever compiler wrote it (every pattern is specific enough for both).

    ``related`` are notes that gcc's JSON output lists after the error instead of as
    its children; ``check_guard`` says the header was included twice, so that a
    redefinition at the same place is an include-guard failure.
    """
    message = normalise_quotes(diag.message)
    return (_error_directive(diag, message)
            or _incomplete(diag, message, [*diag.children, *related])
            or _missing_name(message)
            or _misplaced_name(diag, message, related, check_guard)
            or Classification(OTHER, None))


def _error_directive(diag: Diagnostic, message: str) -> Classification | None:
    if message.startswith("#error"):  # gcc quotes the directive
        return Classification(ERROR_DIRECTIVE, message[len("#error"):].strip() or None)
    source = diag.abs_file or diag.file
    text = read_line(source, diag.line) if source and diag.line else None
    if text is not None and re.match(r"\s*#\s*error\b", text):  # clang prints only the text
        return Classification(ERROR_DIRECTIVE, message.strip() or None)
    return None


def _incomplete(diag: Diagnostic, message: str, notes: Sequence[Diagnostic]) -> Classification | None:
    """An unused definition, or a use of an incomplete type (with the type, found in a note or the source)."""
    match = _search(_UNUSED, message)
    if match is not None:
        return Classification(UNUSED_DEFINITION, match.group("name"))
    match = _search(_INCOMPLETE_TYPE, message)
    if match is not None:
        return Classification(INCOMPLETE_TYPE, clean_type(match["aka"] or match["type"]))
    match = _search(_INCOMPLETE_DECL, message)
    if match is not None:
        declared = match.groupdict().get("name")
        forward = next((m for n in notes if (m := _FORWARD_NOTE.search(normalise_quotes(n.message))) is not None), None)
        if forward is not None:
            return Classification(INCOMPLETE_TYPE, clean_type(forward.group("type")), declared)
        source = diag.abs_file or diag.file
        found = type_of_declaration(source, diag.line, diag.column, declared) if source else None
        return Classification(INCOMPLETE_TYPE, found, declared)
    if "incomplete type" in message:  # a wording not listed above
        quoted = re.findall(r"'([^']+)'", message)
        return Classification(INCOMPLETE_TYPE, clean_type(quoted[-1]) if quoted else None)
    return None


def _missing_name(message: str) -> Classification | None:
    """An unknown type, an implicit function or an undeclared identifier (a non-name there is a syntax error)."""
    for patterns, category in ((_UNKNOWN_TYPE, UNKNOWN_TYPE), (_IMPLICIT, IMPLICIT_FUNCTION),
                               (_UNDECLARED, UNDECLARED_IDENTIFIER)):
        match = _search(patterns, message)
        if match is not None:
            if not is_symbol(match.group("name")):
                return Classification(OTHER, None)  # a syntax error, not a missing name
            return Classification(category, match.group("name"))
    return None


def _misplaced_name(diag: Diagnostic, message: str, related: Sequence[Diagnostic],
                    check_guard: bool) -> Classification | None:
    """A missing member, a redefinition (an include-guard failure when the header was read twice), a missing include."""
    match = _search(_NO_MEMBER, message)
    if match is not None and is_symbol(match.group("name")):
        return Classification(NO_MEMBER, match.group("name"), clean_type(match.group("type")))
    match = _search(_REDEFINITION, message)
    if match is not None:
        name = match.groupdict().get("name")
        if name is not None and not is_symbol(name):
            return Classification(OTHER, None)
        category = INCLUDE_GUARD if check_guard and _is_guard_failure(diag, related) else REDEFINITION
        return Classification(category, name)
    match = _search(_MISSING_INCLUDE, message)
    if match is not None:
        return Classification(MISSING_INCLUDE, match.group("name").strip())
    return None


def related_notes(diagnostics: Sequence[Diagnostic], index: int) -> list[Diagnostic]:
    """Top-level notes right after ``diagnostics[index]``: gcc's JSON does not nest every note."""
    return list(itertools.takewhile(lambda diag: diag.severity == "note", diagnostics[index + 1:]))


def classify_all(diagnostics: Sequence[Diagnostic], *, check_guard: bool = False) -> None:
    """Set ``category`` and ``symbol`` on every error and warning (notes are left alone)."""
    for index, diag in enumerate(diagnostics):
        if diag.severity == "note" or diag.category is not None:
            continue
        found = analyse(diag, related=related_notes(diagnostics, index), check_guard=check_guard)
        diag.category = found.category
        diag.symbol = found.symbol
