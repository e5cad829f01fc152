"""``#if`` expressions: tokenised, parsed to a tree, and evaluated as integers the way cpp does.

Both the presence-condition builder (``conditions``) and the evaluation of opaque
atoms against a configuration (``formula.evaluate``) read ``#if`` text; they share
this one parser.  Nodes keep their span in the source so that whatever a caller
cannot interpret can be kept verbatim.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>(?:0[xX][0-9A-Fa-f]+|0[bB][01]+|[0-9]+)[uUlL]*)
    | (?P<char>'(?:\\.|[^'\\])+')
    | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>&&|\|\||<<|>>|<=|>=|==|!=|[-+*/%<>!~&|^?:(),])
    )""",
    re.X,
)


class ParseError(Exception):
    pass


@dataclass(frozen=True)
class Expr:
    """A parsed ``#if`` expression node, with its span in the source text."""

    kind: str  # num char id defined call un bin cond paren
    start: int
    end: int
    value: str = ""  # operator, identifier or literal text
    num: int = 0
    kids: tuple[Expr, ...] = ()


#: Binary operators by precedence, loosest first.
_BINARY = {op: precedence for precedence, ops in enumerate(
    ("||", "&&", "|", "^", "&", "== !=", "< > <= >=", "<< >>", "+ -", "* / %"), 1) for op in ops.split()}


def int_literal(text: str) -> int:
    """A C integer literal's value (octal, hex, binary, suffixes ignored); ValueError when it is none."""
    digits = text.rstrip("uUlL")
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        return int(digits, 8)
    return int(digits, 0)


class ExprParser:
    def __init__(self, text: str) -> None:
        self.toks: list[tuple[str, str, int, int]] = []
        pos = 0
        n = len(text)
        while pos < n:
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                if text[pos:].strip() == "":
                    break
                raise ParseError(text[pos:])
            kind = m.lastgroup or ""
            self.toks.append((kind, m.group(kind), m.start(kind), m.end()))
            pos = m.end()
        self.i = 0

    def peek_value(self) -> str | None:
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str, int, int]:
        if self.i >= len(self.toks):
            raise ParseError("unexpected end")
        t = self.toks[self.i]
        if value is not None and t[1] != value:
            raise ParseError(f"expected {value!r}")
        self.i += 1
        return t

    def parse(self) -> Expr:
        e = self.expr()
        if self.i != len(self.toks):
            raise ParseError("trailing tokens")
        return e

    def expr(self) -> Expr:
        c = self.binary(1)
        if self.peek_value() == "?":
            self.take()
            a = self.expr()
            self.take(":")
            b = self.expr()
            return Expr("cond", c.start, b.end, kids=(c, a, b))
        return c

    def binary(self, min_prec: int) -> Expr:
        left = self.unary()
        while True:
            op = self.peek_value()
            if op is None or self.toks[self.i][0] != "op" or _BINARY.get(op, 0) < min_prec:
                return left
            self.take()
            right = self.binary(_BINARY[op] + 1)
            left = Expr("bin", left.start, right.end, op, kids=(left, right))

    def unary(self) -> Expr:
        kind, value, start, end = self.take()
        if kind == "op" and value in ("!", "~", "-", "+"):
            e = self.unary()
            return Expr("un", start, e.end, value, kids=(e,))
        if kind == "op" and value == "(":
            e = self.expr()
            close = self.take(")")
            return Expr("paren", start, close[3], kids=(e,))
        if kind == "num":
            try:
                return Expr("num", start, end, value, int_literal(value))
            except ValueError as exc:
                raise ParseError(value) from exc
        if kind == "char":
            return Expr("char", start, end, value)
        if kind != "id":
            raise ParseError(value)
        if value == "defined":
            paren = self.peek_value() == "("
            if paren:
                self.take()
            name = self.take()
            if name[0] != "id":
                raise ParseError("defined")
            stop = self.take(")")[3] if paren else name[3]
            return Expr("defined", start, stop, name[1])
        if self.peek_value() == "(":
            self.take()
            args: list[Expr] = []
            if self.peek_value() == ")":
                stop = self.take()[3]
            else:
                while True:
                    args.append(self.expr())
                    sep = self.take()
                    if sep[1] == ")":
                        stop = sep[3]
                        break
                    if sep[1] != ",":
                        raise ParseError("call")
            return Expr("call", start, stop, value, kids=tuple(args))
        return Expr("id", start, end, value)


#: Kconfig's test macros, by the suffixes of the macros whose definition makes them true: ``IS_ENABLED(X)`` is
#: ``defined(X) || defined(X_MODULE)``.  IS_REACHABLE also depends on the caller being built in; approximated as
#: IS_ENABLED.
_CONFIG_MACROS = {"IS_ENABLED": ("", "_MODULE"), "IS_BUILTIN": ("",), "IS_MODULE": ("_MODULE",),
                 "IS_REACHABLE": ("", "_MODULE")}


def config_call(e: Expr) -> tuple[str, ...] | None:
    """``IS_ENABLED(X)`` -> ("X", "X_MODULE"): the macros whose definition makes it true."""
    if e.kind == "call" and e.value in _CONFIG_MACROS and len(e.kids) == 1 and e.kids[0].kind == "id":
        return tuple(e.kids[0].value + suffix for suffix in _CONFIG_MACROS[e.value])
    return None



# ---------------------------------------------------------------------------
# Atom evaluation (integer arithmetic the way cpp does it, as far as we can)


class _Unknown(Exception):
    pass


def eval_atom(text: str, values: Mapping[str, str | None]) -> bool | None:
    try:
        return bool(_eval_int(ExprParser(text).parse(), values, 0))
    except (ParseError, _Unknown, ZeroDivisionError, ValueError, RecursionError):
        return None


def _value_of(name: str, values: Mapping[str, str | None], depth: int) -> int:
    raw = values.get(name)
    if raw is None:
        return 0  # cpp: an identifier that is not a macro is 0 in #if
    if not raw.strip() or depth > 8:
        raise _Unknown(name)
    try:
        return _eval_int(ExprParser(raw).parse(), values, depth + 1)
    except ParseError as exc:
        raise _Unknown(name) from exc


# Comparisons give a bool, which is the int 0 or 1 cpp gives; division truncates toward zero, as in C.
_ARITH: dict[str, Callable[[int, int], int]] = {
    "|": operator.or_, "^": operator.xor, "&": operator.and_, "==": operator.eq, "!=": operator.ne,
    "<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge, "<<": operator.lshift,
    ">>": operator.rshift, "+": operator.add, "-": operator.sub, "*": operator.mul,
    "/": lambda x, y: int(x / y), "%": lambda x, y: x - int(x / y) * y,
}


def _eval_int(e: Expr, values: Mapping[str, str | None], depth: int) -> int:
    if e.kind == "num":
        return e.num
    if e.kind == "paren":
        return _eval_int(e.kids[0], values, depth)
    if e.kind == "defined":
        return int(values.get(e.value) is not None)
    if e.kind == "id":
        return _value_of(e.value, values, depth)
    call = config_call(e)
    if call is not None:
        return int(any(values.get(name) is not None for name in call))
    if e.kind == "un":
        v = _eval_int(e.kids[0], values, depth)
        return {"!": int(not v), "~": ~v, "-": -v, "+": v}[e.value]
    if e.kind == "bin":
        a = _eval_int(e.kids[0], values, depth)
        if e.value == "&&":
            return int(bool(a) and bool(_eval_int(e.kids[1], values, depth)))
        if e.value == "||":
            return int(bool(a) or bool(_eval_int(e.kids[1], values, depth)))
        return _ARITH[e.value](a, _eval_int(e.kids[1], values, depth))
    if e.kind == "cond":
        c = _eval_int(e.kids[0], values, depth)
        return _eval_int(e.kids[1] if c else e.kids[2], values, depth)
    raise _Unknown(e.kind)
