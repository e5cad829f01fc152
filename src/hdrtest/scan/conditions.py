"""The presence condition of one ``#if``/``#elif``/``#ifdef`` branch, as a formula.

``#if`` text is parsed by ``cexpr`` and turned into a ``formula.Formula``: the
boolean structure (``defined``, ``!``, ``&&``, ``||``, ``?:``, ``IS_ENABLED()``)
becomes formula nodes, everything else stays an opaque ``Atom``.
"""

from __future__ import annotations

import re

from .cexpr import Expr, ExprParser, ParseError, config_call
from .formula import (
    FALSE,
    TRUE,
    Atom,
    Defined,
    Formula,
    conj,
    disj,
    neg,
)
from .options import OptionFilter

_DEFAULT_FILTER = OptionFilter()


def _to_formula(e: Expr, text: str, options: OptionFilter) -> Formula:
    if e.kind == "paren":
        return _to_formula(e.kids[0], text, options)
    if e.kind == "num":
        return TRUE if e.num else FALSE
    if e.kind == "defined":
        return Defined(e.value)
    if e.kind == "id" and options.is_option(e.value):
        # A Kconfig bool/tristate macro is either undefined or 1, so "X" means defined(X).
        return Defined(e.value)
    call = config_call(e)
    if call is not None:
        return disj(*map(Defined, call))
    if e.kind == "un" and e.value == "!":
        return neg(_to_formula(e.kids[0], text, options))
    if e.kind == "bin" and e.value in ("&&", "||"):
        a = _to_formula(e.kids[0], text, options)
        b = _to_formula(e.kids[1], text, options)
        return conj(a, b) if e.value == "&&" else disj(a, b)
    if e.kind == "bin" and e.value in ("==", "!=") and e.kids[1].kind == "num" and e.kids[1].num == 0:
        # "IS_ENABLED(X) == 0" on a boolean operand is its negation ("!= 0": itself).
        if _is_boolean(e.kids[0], options):
            f = _to_formula(e.kids[0], text, options)
            return neg(f) if e.value == "==" else f
    if e.kind == "cond":
        c, a, b = (_to_formula(k, text, options) for k in e.kids)
        return disj(conj(c, a), conj(neg(c), b))
    return Atom(" ".join(text[e.start : e.end].split()))


def _is_boolean(e: Expr, options: OptionFilter) -> bool:
    if e.kind == "paren":
        return _is_boolean(e.kids[0], options)
    if e.kind == "defined" or config_call(e) is not None:
        return True
    if e.kind == "id":
        return options.is_option(e.value)
    if e.kind == "un":
        return e.value == "!"
    return e.kind == "bin" and e.value in ("&&", "||", "==", "!=", "<", ">", "<=", ">=")


def parse_condition(directive: str, expr: str, options: OptionFilter | None = None) -> Formula:
    """The formula of one ``#if``/``#elif``/``#ifdef``/``#ifndef`` branch (not its context).

    ``directive`` is the keyword with or without ``#``; ``#else`` gives TRUE (its
    meaning comes from its siblings).  Text that cannot be parsed becomes an ``Atom``.
    Plain identifiers that are configuration options (per ``options``, default
    ``CONFIG_*``) mean ``defined(X)``; other plain identifiers stay atoms.
    """
    d = directive.lstrip("#").strip()
    text = expr.strip()
    if d in ("ifdef", "elifdef", "ifndef", "elifndef"):
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text)
        if not m:
            return Atom(text or "?")
        f: Formula = Defined(m.group(0))
        return neg(f) if d in ("ifndef", "elifndef") else f
    if d == "else":
        return TRUE
    if not text:
        return Atom("?")
    if text.count("(") > _MAX_PAREN_DEPTH and _paren_depth(text) > _MAX_PAREN_DEPTH:
        return Atom(" ".join(text.split()))  # the formula would be too deep for every later walk over it
    try:
        e = ExprParser(text).parse()
        return _to_formula(e, text, options or _DEFAULT_FILTER)
    except (ParseError, RecursionError):  # RecursionError: hostile text such as a thousand '!'s
        return Atom(" ".join(text.split()))


#: Deeper than any real condition; a formula this deep still leaves Python's stack room for the walks over it.
_MAX_PAREN_DEPTH = 200


def _paren_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    return deepest
