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
from collections.abc import Callable, Iterable

from ..scan.cindex import Definition

_IDENT = re.compile(r"[A-Za-z_]\w*")
#: Operands joined by ``##`` (a chain ``a ## b ## c`` is one match).
_PASTE = re.compile(r"[A-Za-z_0-9]\w*(?:\s*##\s*[A-Za-z_0-9]\w*)+")
_SIGNATURE = re.compile(r"#define\s+\w+\(([^)]*)\)")


def parameters(definition: Definition) -> list[str] | None:
    """The parameters of a function-like macro, None for an object-like one."""
    m = _SIGNATURE.match(definition.signature or "")
    return None if m is None else [p.strip() for p in m.group(1).split(",") if p.strip()]


def invocations(body: str, name: str) -> list[list[str]]:
    """The argument lists of every ``name(...)`` in ``body`` (split at top-level commas)."""
    out = []
    for m in re.finditer(rf"(?<![\w.>]){re.escape(name)}\s*\(", body):
        args: list[str] = []
        current: list[str] = []
        depth = 1
        for ch in body[m.end():]:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0 or (ch == "," and depth == 1):
                args.append("".join(current).strip())
                current = []
                if depth == 0:
                    break
            else:
                current.append(ch)
        if depth == 0:
            out.append(args)
    return out


def pasted(callee: Definition, args: list[str]) -> set[str]:
    """The identifiers ``callee``'s body pastes when invoked with ``args``."""
    params = parameters(callee)
    if params is None or not callee.body or "##" not in callee.body:
        return set()
    bound = dict(zip(params, args))
    out = set()
    for m in _PASTE.finditer(callee.body):
        word = "".join(bound.get(part.strip(), part.strip()) for part in m.group(0).split("##"))
        if _IDENT.fullmatch(word):
            out.add(word)
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
