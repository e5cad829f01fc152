"""Stubs for a guarded definition: the neutral text that can go into the ``#else``, the declarations it
copies, and what forbids one."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..scan.cindex import Definition
from ..scan.formula import macros
from ..scan.uses import call_arguments
from .context import Context, norm_path
from .files import Files
from .guards import GuardSite

_SPACE = re.compile(r"\s+")


def _squash(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def struct_stub(tag: str, name: str) -> str:
    return f"{tag} {name} {{}};"


def function_stub(name: str, return_type: str, params: str) -> str:
    """``static inline RET NAME(PARAMS)`` with a body that returns a neutral value."""
    ret = _squash(" ".join(w for w in return_type.split()
                           if w not in ("extern", "static", "inline", "__inline", "__inline__")))
    params = _squash(params) or "void"
    if ret == "void":
        body = "{ }"
    elif "*" in ret:
        body = "{ return NULL; }"
    elif ret in ("bool", "_Bool"):
        body = "{ return false; }"
    elif re.match(r"(?:const\s+)?(?:struct|union)\b", ret):
        body = f"{{ return ({ret}){{ 0 }}; }}"
    else:
        body = "{ return 0; }"
    star = "" if ret.endswith("*") else " "
    return f"static inline {ret}{star}{name}({params}) {body}"


def macro_stub(name: str, params: Sequence[str] | None, body: str) -> str:
    """An empty or neutral macro: ``do { } while (0)`` for statement macros, ``0`` for values."""
    head = f"#define {name}" + (f"({', '.join(params)})" if params is not None else "")
    text = body.strip()
    if not text:
        return head
    if text.startswith("do"):
        return head + " do { } while (0)"
    return head + " 0" if params is None else head + " (0)"


_DECL_END = re.compile(r"[;{]")


def declaration_text(lines: Sequence[str], line: int, limit: int = 20) -> str:
    """The declaration starting at a 1-based line, up to its ``;`` or ``{`` (that char excluded)."""
    collected: list[str] = []
    for text in lines[line - 1: line - 1 + limit]:
        code = re.sub(r"//.*|/\*.*?\*/", " ", text)
        match = _DECL_END.search(code)
        if match is not None:
            collected.append(code[: match.start()])
            break
        collected.append(code)
    return _squash(" ".join(collected))


def split_function(declaration: str, name: str) -> tuple[str, str] | None:
    """``("int", "struct kvm *kvm, gfn_t gfn")`` from a prototype's text."""
    match = re.search(r"\b" + re.escape(name) + r"\s*\(", declaration)
    found = call_arguments(declaration, match.end() - 1, "(") if match is not None else None
    if match is None or found is None:
        return None
    ret = re.sub(r"\b__attribute__\s*\(\(.*?\)\)", " ", declaration[: match.start()])
    return _squash(ret), declaration[match.end():found[1] - 1]  # the parameters as written


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
