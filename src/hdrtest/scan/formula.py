"""Presence conditions: small boolean formulas over configuration macros.

A presence condition says under which macro settings a line of a header is seen by
the compiler.  The formulas are deliberately simple (no SAT, no BDD): they are built
from ``#if`` expressions (``conditions.parse_condition``), simplified on construction
just enough to stay readable in messages, and evaluated three-valued against a
configuration.  Anything the parser does not understand (comparisons, arithmetic,
unknown function-like macros) becomes an opaque ``Atom`` that still remembers which
macro names it mentions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Union

from .cexpr import eval_atom

_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*")


class _Node:
    def __str__(self) -> str:
        return to_c(self)  # type: ignore[arg-type]  # every subclass is a Formula


@dataclass(frozen=True)
class Const(_Node):
    value: bool


@dataclass(frozen=True)
class Defined(_Node):
    """``defined(name)``."""

    name: str


@dataclass(frozen=True)
class Atom(_Node):
    """An opaque condition such as ``CONFIG_HZ > 100``; ``text`` is C expression text."""

    text: str

    @property
    def names(self) -> frozenset[str]:
        # Number suffixes (``10UL``) never start at a word boundary, so they are skipped.
        return frozenset(n for n in _IDENT.findall(self.text) if n != "defined")


@dataclass(frozen=True)
class Not(_Node):
    f: Formula


@dataclass(frozen=True)
class _Nary(_Node):
    fs: tuple[Formula, ...]  # a tuple: formulas are hashed (deduplicated, used as keys)


@dataclass(frozen=True)
class And(_Nary):
    pass


@dataclass(frozen=True)
class Or(_Nary):
    pass


Formula = Union[Const, Defined, Atom, Not, And, Or]

TRUE: Formula = Const(True)
FALSE: Formula = Const(False)


# ---------------------------------------------------------------------------
# Simplifying constructors


def neg(f: Formula) -> Formula:
    if isinstance(f, Const):
        return FALSE if f.value else TRUE
    if isinstance(f, Not):
        return f.f
    return Not(f)


def _gather(fs: Iterable[Formula], kind: type[And] | type[Or]) -> list[Formula] | None:
    """Flatten, drop neutral elements, dedupe; ``None`` means the absorbing constant."""
    neutral, absorbing = (TRUE, FALSE) if kind is And else (FALSE, TRUE)
    out: list[Formula] = []
    seen: set[Formula] = set()
    stack = list(fs)
    stack.reverse()
    while stack:
        f = stack.pop()
        if f == absorbing:
            return None
        if f == neutral:
            continue
        if isinstance(f, kind):
            stack.extend(reversed(f.fs))
            continue
        if f in seen:
            continue
        if neg(f) in seen:  # x and !x
            return None
        seen.add(f)
        out.append(f)
    return out


def conj(*fs: Formula) -> Formula:
    return _combine(fs, And)


def disj(*fs: Formula) -> Formula:
    return _combine(fs, Or)


def _combine(fs: Iterable[Formula], kind: type[And] | type[Or]) -> Formula:
    parts = _gather(fs, kind)
    if parts is None:
        return FALSE if kind is And else TRUE
    if not parts:
        return TRUE if kind is And else FALSE
    return parts[0] if len(parts) == 1 else kind(tuple(parts))


# ---------------------------------------------------------------------------
# Queries


def macros(f: Formula) -> frozenset[str]:
    """Every macro name the formula depends on (including names inside atoms)."""
    out: set[str] = set()
    stack = [f]
    while stack:
        g = stack.pop()
        if isinstance(g, Defined):
            out.add(g.name)
        elif isinstance(g, Atom):
            out |= g.names
        elif isinstance(g, Not):
            stack.append(g.f)
        elif isinstance(g, (And, Or)):
            stack.extend(g.fs)
    return frozenset(out)


def evaluate(f: Formula, defined: Mapping[str, str | None]) -> bool | None:
    """Three-valued evaluation against a complete configuration (like autoconf.h plus ``-D`` flags): a name is
    defined iff it maps to a non-None value, missing names are undefined, and atoms are computed when every name in
    them has an integer value; ``None`` when an atom cannot be computed."""
    if isinstance(f, Const):
        return f.value
    if isinstance(f, Defined):
        return defined.get(f.name) is not None
    if isinstance(f, Atom):
        return eval_atom(f.text, defined)
    if isinstance(f, Not):
        v = evaluate(f.f, defined)
        return None if v is None else not v
    # And and Or differ only in the value that settles them: False for And, True for Or.
    settles = isinstance(f, Or)
    result: bool | None = not settles
    for g in f.fs:
        v = evaluate(g, defined)
        if v is settles:
            return settles
        if v is None:
            result = None
    return result


def false_leaves(f: Formula, defined: Mapping[str, str | None]) -> list[Formula]:
    """The leaves of ``f`` that are false under ``defined``, in order, once each (none when ``f`` is not false).

    ``defined(X_MODULE)`` is left out beside ``defined(X)``: a tristate option is one reason, not two.
    """
    if evaluate(f, defined) is not False:
        return []
    if not isinstance(f, (And, Or)):
        return [f]
    leaves = list(dict.fromkeys(leaf for part in f.fs for leaf in false_leaves(part, defined)))
    unset = {leaf.name for leaf in leaves if isinstance(leaf, Defined)}
    return [leaf for leaf in leaves
            if not (isinstance(leaf, Defined) and leaf.name.endswith("_MODULE") and leaf.name[:-7] in unset)]


def _simple(f: Formula) -> bool:
    """True when ``f`` renders as one operand that needs no parentheses."""
    if isinstance(f, Atom):
        return re.fullmatch(r"[A-Za-z_0-9]+(\([^()]*\))?", f.text) is not None
    return isinstance(f, (Const, Defined, Not))


def to_c(f: Formula) -> str:
    """Render as a preprocessor expression, e.g. ``defined(A) && !defined(B)``."""
    if isinstance(f, Const):
        return "1" if f.value else "0"
    if isinstance(f, Defined):
        return f"defined({f.name})"
    if isinstance(f, Atom):
        return f.text
    if isinstance(f, Not):
        inner = to_c(f.f)
        return "!" + (inner if _simple(f.f) else f"({inner})")
    # Operands that are themselves And/Or or comparisons get parentheses even where
    # precedence would not need them: gcc's -Wparentheses style reads better.
    op = " && " if isinstance(f, And) else " || "
    return op.join(to_c(g) if _simple(g) else f"({to_c(g)})" for g in f.fs)


def to_json(f: Formula) -> object:
    """A JSON-able form: ``true``/``false``, ``["defined", n]``, ``["atom", t]``, ``["not", f]``..."""
    if isinstance(f, Const):
        return f.value
    if isinstance(f, Defined):
        return ["defined", f.name]
    if isinstance(f, Atom):
        return ["atom", f.text]
    if isinstance(f, Not):
        return ["not", to_json(f.f)]
    return ["and" if isinstance(f, And) else "or", [to_json(g) for g in f.fs]]


def from_json(obj: object) -> Formula:
    if isinstance(obj, bool):
        return TRUE if obj else FALSE
    if isinstance(obj, list) and len(obj) == 2:
        tag, arg = obj
        if tag == "defined" and isinstance(arg, str):
            return Defined(arg)
        if tag == "atom" and isinstance(arg, str):
            return Atom(arg)
        if tag == "not":
            return Not(from_json(arg))
        if tag in ("and", "or") and isinstance(arg, list):
            parts = tuple(from_json(a) for a in arg)
            return And(parts) if tag == "and" else Or(parts)
    raise ValueError(f"not a formula: {obj!r}")
