"""The Kconfig model as the tree's own parser sees it (``kconfig-eval``'s MODEL answer).

For every symbol: type, visibility (its prompts' conditions), ``depends on``, reverse
dependencies (``select``) and weak ones (``imply``), defaults with their conditions, ranges,
choice membership; for every choice, its visibility and default member.  Expressions are
kept as nested tuples: ``("&", a, b)``, ``("|", a, b)``, ``("!", a)``, ``("=", a, b)`` (and
``!=``, ``<``, ``<=``, ``>``, ``>=``), a symbol name (``"FOO"``, without the prefix) or a constant
(``Const("y")``).  None stands for "no expression" (always true where a condition is meant).

This is the input of a propositional encoding of the valid configurations; nothing here
decides validity, which only the evaluator does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Const:
    """A constant operand: ``y``/``m``/``n`` or a literal (``"foo"``, ``100``)."""

    text: str


Expr = Union[str, Const, tuple["Expr", ...]]


@dataclass
class ModelSymbol:
    name: str
    type: str
    #: One condition per prompt; empty when the symbol has no prompt (hidden).
    prompts: list[Expr | None] = field(default_factory=list)
    depends: Expr | None = None
    selected_by: Expr | None = None
    implied_by: Expr | None = None
    #: ``(value, condition)`` in order: the first whose condition holds applies.
    defaults: list[tuple[Expr | None, Expr | None]] = field(default_factory=list)
    ranges: list[tuple[Expr, Expr, Expr | None]] = field(default_factory=list)
    choice: int | None = None


@dataclass
class ModelChoice:
    index: int
    prompts: list[Expr | None] = field(default_factory=list)
    defaults: list[tuple[Expr | None, Expr | None]] = field(default_factory=list)
    members: list[str] = field(default_factory=list)


@dataclass
class Model:
    symbols: dict[str, ModelSymbol]
    choices: list[ModelChoice]


class ModelError(ValueError):
    """A MODEL answer this parser does not understand (a helper from another version)."""


#: kconfig's sym_type_name() spellings -> the ones .config users (and this package) use.
_TYPES = {"boolean": "bool", "integer": "int"}
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')
_BINARY = {"&", "|", "=", "!=", "<", "<=", ">", ">="}


def parse_expr(items: list[str], pos: int = 0) -> tuple[Expr | None, int]:
    """One prefix expression from ``items[pos:]``; returns it and the position after it."""
    if pos >= len(items):
        raise ModelError("expression ends early")
    tok = items[pos]
    if tok == "-":
        return None, pos + 1
    if tok in _BINARY:
        left, pos = parse_expr(items, pos + 1)
        right, pos = parse_expr(items, pos)
        if left is None or right is None:
            raise ModelError(f"operator {tok} without operands")
        return (tok, left, right), pos
    if tok == "!":
        inner, pos = parse_expr(items, pos + 1)
        if inner is None:
            raise ModelError("! without operand")
        return ("!", inner), pos
    if tok == "?":
        raise ModelError("an expression kind the helper could not print")
    if tok.startswith('"'):
        return Const(re.sub(r"\\(.)", r"\1", tok[1:-1])), pos + 1
    return tok, pos + 1


def _exprs(text: str, count: int) -> list[Expr | None]:
    items = _TOKEN.findall(text)
    out: list[Expr | None] = []
    pos = 0
    for _ in range(count):
        expr, pos = parse_expr(items, pos)
        out.append(expr)
    if pos != len(items):
        raise ModelError(f"trailing tokens in {text!r}")
    return out


@dataclass
class _Reading:
    """The records read so far: a symbol's (S) or a choice's (K) lines follow it."""

    symbols: dict[str, ModelSymbol] = field(default_factory=dict)
    choices: dict[int, ModelChoice] = field(default_factory=dict)
    sym: ModelSymbol | None = None
    choice: ModelChoice | None = None

    def symbol(self, kind: str) -> ModelSymbol:
        if self.sym is None:
            raise ModelError(f"{kind} outside a symbol")
        return self.sym

    def entry(self, kind: str) -> ModelSymbol | ModelChoice:
        target = self.sym if self.sym is not None else self.choice
        if target is None:
            raise ModelError(f"{kind} before any symbol")
        return target

    def start_symbol(self, rest: str) -> None:
        name, _, sym_type = rest.partition(" ")
        self.sym = self.symbols[name] = ModelSymbol(name, _TYPES.get(sym_type, sym_type))
        self.choice = None

    def start_choice(self, rest: str) -> None:
        index = int(rest)
        self.choice = self.choices.setdefault(index, ModelChoice(index))
        self.sym = None

    def prompt(self, rest: str) -> None:
        self.entry("V").prompts.append(_exprs(rest, 1)[0])

    def default(self, rest: str) -> None:
        value, cond = _exprs(rest, 2)
        self.entry("F").defaults.append((value, cond))

    def range(self, rest: str) -> None:
        sym = self.symbol("N")
        low, high, cond = _exprs(rest, 3)
        if low is None or high is None:
            raise ModelError("range without bounds")
        sym.ranges.append((low, high, cond))

    def member(self, rest: str) -> None:
        sym = self.symbol("C")
        sym.choice = int(rest)
        self.choices.setdefault(sym.choice, ModelChoice(sym.choice)).members.append(sym.name)


_RECORDS: dict[str, Callable[[_Reading, str], None]] = {
    "S": _Reading.start_symbol, "K": _Reading.start_choice, "V": _Reading.prompt, "F": _Reading.default,
    "D": lambda r, rest: setattr(r.symbol("D"), "depends", _exprs(rest, 1)[0]),
    "R": lambda r, rest: setattr(r.symbol("R"), "selected_by", _exprs(rest, 1)[0]),
    "I": lambda r, rest: setattr(r.symbol("I"), "implied_by", _exprs(rest, 1)[0]),
    "N": _Reading.range, "C": _Reading.member,
}


def parse_model(lines: Iterable[str]) -> Model:
    reading = _Reading()
    for line in lines:
        kind, _, rest = line.partition(" ")
        handle = _RECORDS.get(kind)
        if handle is None:
            raise ModelError(f"unknown record {kind!r}")
        handle(reading, rest)
    return Model(reading.symbols, [reading.choices[i] for i in sorted(reading.choices)])


def symbols_in(expr: Expr | None) -> set[str]:
    """Symbol names an expression reads (constants excluded)."""
    if expr is None or isinstance(expr, Const):
        return set()
    if isinstance(expr, str):
        return {expr}
    out: set[str] = set()
    for part in expr[1:]:
        out |= symbols_in(part)
    return out
