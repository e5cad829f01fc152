"""Stubs for a guarded definition: the neutral text that can go into the ``#else``, and what forbids one."""

from __future__ import annotations

import re

from ..fixes import declaration_text, function_stub, macro_stub, split_function, struct_stub
from ..scan.cindex import Definition
from ..scan.formula import macros
from .context import Context, norm_path
from .files import Files
from .guards import GuardSite


def stub_for(definition: Definition, files: Files) -> str | None:
    """The neutral definition of ``definition`` that can go into an ``#else``."""
    kind = definition.kind
    name = definition.name
    path = str(definition.file)
    if kind in ("struct", "union"):
        return struct_stub(kind, name)
    if kind in ("function", "function-decl"):
        parts = split_function(definition.signature, name) if definition.signature else None
        if parts is None:
            parts = split_function(declaration_text(files.lines(path), definition.line), name)
        if parts is None:
            return None
        found_ret, params = parts
        return function_stub(name, definition.return_type or found_ret, params)
    if kind == "macro":
        for macro in files.scan(path).defines:
            if macro.name == name and macro.line == definition.line:
                return macro_stub(name, macro.params if macro.is_function_like else None, macro.body)
        return f"#define {name}"
    if kind == "typedef":
        text = declaration_text(files.lines(path), definition.line)
        if text.startswith("typedef") and "{" not in text:
            return text + ";"
    return None


_STUB_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STUB_KEYWORDS = frozenset(
    "typedef struct union enum static inline extern const volatile restrict void char short int long float "
    "double signed unsigned return do while define NULL _Bool bool false true sizeof".split())


def stub_blockers(stub: str, definition: Definition, site: GuardSite, ctx: Context) -> list[str]:
    """Names in ``stub`` that cannot exist where it goes (the guard is false there): the guard's own
    macros (``typedef OFF_T_TYPE off_type;`` under ``#ifdef OFF_T_TYPE``) and names defined only
    inside the guarded chain itself."""
    guard = macros(definition.condition) | macros(site.block.condition)
    path = norm_path(definition.file)
    blockers: list[str] = []
    for word in dict.fromkeys(_STUB_WORD.findall(stub)):
        if word == definition.name or word in _STUB_KEYWORDS:
            continue
        if word in guard:
            blockers.append(word)
            continue
        found = [d for d in ctx.index.lookup(word) if d.complete]
        if found and all(norm_path(d.file) == path and site.first_line < d.line < site.endif_line for d in found):
            blockers.append(word)
    return blockers
