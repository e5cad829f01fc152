"""Names a macro body makes by token pasting (``maskname##word``), where it is invoked.

A body such as ``CHECK_BIT_IN_MASK_WORD(DISABLED_MASK, 16, bit)`` names ``DISABLED_MASK16``
only through the callee's ``maskname##word``: the word never appears in any text, so following
macro bodies by the identifiers in them never meets it.  Here the callee's parameters are bound
to the arguments of each invocation in the caller's body and the pasted operands joined.  Only
pastes whose result is an identifier count; an argument that is itself an expression makes no
name.  Pure functions over macro definitions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from ..scan.cindex import Definition, index_symbols, macro_parameters
from ..scan.formula import FALSE, Formula, conj
from ..scan.uses import call_arguments

_IDENT = re.compile(r"[A-Za-z_]\w*")
#: Operands joined by ``##`` (a chain ``a ## b ## c`` is one match).
_PASTE = re.compile(r"[A-Za-z_0-9]\w*(?:\s*##\s*[A-Za-z_0-9]\w*)+")


def invocations(body: str, name: str) -> list[list[str]]:
    """The argument lists of every ``name(...)`` in ``body`` (split at top-level commas)."""
    calls = (call_arguments(body, m.end() - 1, "(")
             for m in re.finditer(rf"(?<![\w.>]){re.escape(name)}\s*\(", body))
    return [found[0] for found in calls if found is not None]


def _joined(m: re.Match[str], bound: dict[str, str]) -> str:
    """A paste ``a ## b`` with the parameters among its operands bound."""
    return "".join(bound.get(part.strip(), part.strip()) for part in m.group(0).split("##"))


def pasted(callee: Definition, args: list[str]) -> set[str]:
    """The identifiers ``callee``'s body pastes when invoked with ``args``."""
    params = macro_parameters(callee.signature)
    if params is None or not callee.body or "##" not in callee.body:
        return set()
    bound = dict(zip(params, args))
    return {word for word in (_joined(m, bound) for m in _PASTE.finditer(callee.body)) if _IDENT.fullmatch(word)}


def substituted(callee: Definition, args: list[str]) -> str | None:
    """``callee``'s body with its parameters bound to ``args``: pastes joined, ``#param`` an empty string
    (None for an object-like macro).  Arguments are not expanded first: a name made by pasting an argument
    that is itself a macro is missed (no definition found: errs towards a fragility the compile refutes)."""
    params = macro_parameters(callee.signature)
    if params is None or callee.body is None:
        return None
    bound = dict(zip(params, args))
    if params and params[-1].endswith("..."):
        bound[params[-1].rstrip(".").strip() or "__VA_ARGS__"] = ", ".join(args[len(params) - 1:])
    text = _PASTE.sub(lambda m: _joined(m, bound), callee.body)
    text = _STRINGIFY.sub(lambda m: '""' if m.group(1) in bound else m.group(0), text).replace("##", " ")
    return _IDENT.sub(lambda m: bound.get(m.group(0), m.group(0)), text)


_STRINGIFY = re.compile(r"(?<!#)#(?!#)\s*([A-Za-z_]\w*)")


def expanded(text: str, macros: Callable[[str], Sequence[Definition]], depth: int) -> str:
    """``text`` with the function-like macros it invokes expanded, ``depth`` levels (the first of a name's
    definitions that takes parameters; names ``macros`` does not know stay as they are)."""
    if depth <= 0:
        return text
    out: list[str] = []
    done = 0
    for m in _CALL.finditer(text):
        if m.start() < done:
            continue
        callee = next((d for d in macros(m.group(1)) if macro_parameters(d.signature) is not None), None)
        if callee is None:
            continue
        found = call_arguments(text, m.end() - 1, "(")
        body = substituted(callee, found[0]) if found is not None else None
        if found is None or body is None:
            continue
        out.append(text[done:m.start()])
        out.append(" " + expanded(body, macros, depth - 1) + " ")
        done = found[1]
    out.append(text[done:])
    return "".join(out)


_CALL = re.compile(r"(?<![\w.>])([A-Za-z_]\w*)\s*\(")


def pastes(name: str, macros: Callable[[str], Sequence[Definition]], depth: int,
           memo: dict[tuple[str, int], bool]) -> bool:
    """Whether expanding macro ``name`` pastes tokens, in its body or in the bodies it invokes, ``depth`` deep."""
    key = (name, depth)
    if key not in memo:
        memo[key] = False  # a macro that names itself does not expand again
        memo[key] = any(d.body is not None and ("##" in d.body or (depth > 1 and any(
            pastes(n, macros, depth - 1, memo) for n in sorted(d.uses)))) for d in macros(name))
    return memo[key]


def made_definitions(calls: Iterable[tuple[str, str, tuple[str, ...], int, Formula]],
                     macros: Callable[[str], Sequence[Definition]], depth: int) -> dict[str, list[Definition]]:
    """What file-scope invocations of pasting macros define (``calls``: path, macro, arguments, line, condition),
    by name: ``FOLIO_FLAG_FALSE(swapcache)`` defines ``folio_test_swapcache``, which no text spells.  Each
    invocation is expanded ``depth`` levels and the result indexed as C; its definitions are placed at the
    invocation, under its condition and the condition of the macro's definition expanded (a macro defined empty
    where an option is off defines nothing there)."""
    memo: dict[tuple[str, int], bool] = {}
    out: dict[str, list[Definition]] = {}
    for path, name, args, line, condition in calls:
        if not pastes(name, macros, depth, memo):
            continue
        for callee in macros(name):
            body = substituted(callee, list(args))
            if body is None:
                continue
            text = expanded(body, macros, depth - 1).encode("utf-8", "surrogateescape")
            where = conj(condition, callee.condition)
            for d in index_symbols(path, text).definitions(path):
                if d.kind != "macro" and where != FALSE:
                    out.setdefault(d.name, []).append(replace(d, line=line, end_line=line, condition=where))
    return out


def pasted_names(caller: Definition, macros: Callable[[str], Iterable[Definition]]) -> set[str]:
    """Names the macros ``caller``'s body invokes paste from its arguments (``macros``: a name's
    macro definitions that count)."""
    if not caller.body or "(" not in caller.body:
        return set()
    out: set[str] = set()
    for name in caller.uses:
        for callee in macros(name):
            if callee.body and "##" in callee.body:
                for args in invocations(caller.body, name):
                    out |= pasted(callee, args)
    return out
