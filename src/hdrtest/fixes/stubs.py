"""Stub text: the neutral definitions that go into an ``#else``, and the declarations they copy."""

from __future__ import annotations

import re
from collections.abc import Sequence

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
    if match is None:
        return None
    depth = 0
    start = match.end()
    for index in range(start - 1, len(declaration)):
        char = declaration[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                ret = declaration[: match.start()]
                ret = re.sub(r"\b__attribute__\s*\(\(.*?\)\)", " ", ret)
                return _squash(ret), declaration[start:index]
    return None
