"""Presence conditions: small boolean formulas over configuration macros.

A presence condition says under which macro settings a line of a header is seen by
the compiler.  The formulas are deliberately simple (no SAT, no BDD): they are built
from ``#if`` expressions, simplified on construction just enough to stay readable in
messages, and evaluated three-valued against a configuration.  Anything the parser
does not understand (comparisons, arithmetic, unknown function-like macros) becomes an
opaque ``Atom`` that still remembers which macro names it mentions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Union

__all__ = [
    "Formula",
    "Const",
    "TRUE",
    "FALSE",
    "Defined",
    "Atom",
    "Not",
    "And",
    "Or",
    "conj",
    "disj",
    "neg",
    "parse_condition",
    "macros",
    "evaluate",
    "always_one_of",
    "to_c",
    "to_json",
    "from_json",
    "OptionFilter",
    "DEFAULT_OPTION_PATTERN",
]

_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Const:
    value: bool

    def __str__(self) -> str:
        return to_c(self)


@dataclass(frozen=True)
class Defined:
    """``defined(name)``."""

    name: str

    def __str__(self) -> str:
        return to_c(self)


@dataclass(frozen=True)
class Atom:
    """An opaque condition such as ``CONFIG_HZ > 100``; ``text`` is C expression text."""

    text: str

    @property
    def names(self) -> frozenset[str]:
        # Number suffixes (``10UL``) never start at a word boundary, so they are skipped.
        return frozenset(n for n in _IDENT.findall(self.text) if n != "defined")

    def __str__(self) -> str:
        return to_c(self)


@dataclass(frozen=True)
class Not:
    f: Formula

    def __str__(self) -> str:
        return to_c(self)


@dataclass(frozen=True)
class And:
    fs: tuple[Formula, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.fs, tuple):  # accept any iterable, keep hashability
            object.__setattr__(self, "fs", tuple(self.fs))

    def __str__(self) -> str:
        return to_c(self)


@dataclass(frozen=True)
class Or:
    fs: tuple[Formula, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.fs, tuple):
            object.__setattr__(self, "fs", tuple(self.fs))

    def __str__(self) -> str:
        return to_c(self)


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
    parts = _gather(fs, And)
    if parts is None:
        return FALSE
    if not parts:
        return TRUE
    if len(parts) == 1:
        return parts[0]
    return And(tuple(parts))


def disj(*fs: Formula) -> Formula:
    parts = _gather(fs, Or)
    if parts is None:
        return TRUE
    if not parts:
        return FALSE
    if len(parts) == 1:
        return parts[0]
    return Or(tuple(parts))


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


Lookup = Union[Mapping[str, Union[str, None]], Callable[[str], Union[bool, None]]]


def evaluate(f: Formula, defined: Lookup) -> bool | None:
    """Three-valued evaluation; ``None`` when the answer depends on something unknown.

    With a mapping (a complete configuration, like autoconf.h plus ``-D`` flags) a name
    is defined iff it maps to a non-None value, missing names are undefined, and atoms
    are computed when every name in them has an integer value.  With a callable
    (``name -> True/False/None``) definedness may be unknown and atoms are unknown.
    """
    if isinstance(f, Const):
        return f.value
    if isinstance(f, Defined):
        if isinstance(defined, Mapping):
            return defined.get(f.name) is not None
        return defined(f.name)
    if isinstance(f, Atom):
        if isinstance(defined, Mapping):
            return _eval_atom(f.text, defined)
        return None
    if isinstance(f, Not):
        v = evaluate(f.f, defined)
        return None if v is None else not v
    if isinstance(f, And):
        result: bool | None = True
        for g in f.fs:
            v = evaluate(g, defined)
            if v is False:
                return False
            if v is None:
                result = None
        return result
    result = False
    for g in f.fs:
        v = evaluate(g, defined)
        if v is True:
            return True
        if v is None:
            result = None
    return result


def _leaves(f: Formula, out: dict[Formula, None]) -> None:
    if isinstance(f, (Defined, Atom)):
        out[f] = None
    elif isinstance(f, Not):
        _leaves(f.f, out)
    elif isinstance(f, (And, Or)):
        for g in f.fs:
            _leaves(g, out)


def _under(f: Formula, truth: Mapping[Formula, bool]) -> bool:
    if isinstance(f, Const):
        return f.value
    if isinstance(f, (Defined, Atom)):
        return truth[f]
    if isinstance(f, Not):
        return not _under(f.f, truth)
    if isinstance(f, And):
        return all(_under(g, truth) for g in f.fs)
    return any(_under(g, truth) for g in f.fs)


def always_one_of(formulas: Sequence[Formula], max_leaves: int = 12) -> bool | None:
    """Whether in every configuration at least one of ``formulas`` holds (None: too many names to tell).

    Each ``defined(X)`` and each opaque atom counts as a free boolean: a chain
    ``#ifdef A / #elif F(4) / #else`` covers everything whatever ``F(4)`` means.  Treating
    atoms as independent can only miss a coverage that depends on what they mean, never
    invent one.
    """
    leaves: dict[Formula, None] = {}
    for f in formulas:
        _leaves(f, leaves)
    names = list(leaves)
    if len(names) > max_leaves:
        return None
    for bits in range(1 << len(names)):
        truth = {name: bool(bits >> i & 1) for i, name in enumerate(names)}
        if not any(_under(f, truth) for f in formulas):
            return False
    return True


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


# ---------------------------------------------------------------------------
# Configuration options

DEFAULT_OPTION_PATTERN = r"CONFIG_[A-Za-z0-9_]+"


@dataclass(frozen=True)
class OptionFilter:
    """Which macros are configuration options (``--option-pattern``, ``--option``).

    Names fully matching any pattern, or listed explicitly, are options.  A Kconfig
    tristate set to ``m`` shows up as ``CONFIG_X_MODULE``; its option is ``CONFIG_X``.
    """

    patterns: tuple[str, ...] = (DEFAULT_OPTION_PATTERN,)
    names: frozenset[str] = frozenset()
    _compiled: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", tuple(re.compile(p) for p in self.patterns))

    @classmethod
    def from_args(cls, patterns: Sequence[str] = (), names: Sequence[str] = ()) -> OptionFilter:
        """``--option-pattern`` replaces the default pattern; ``--option`` adds names."""
        return cls(tuple(patterns) or (DEFAULT_OPTION_PATTERN,), frozenset(names))

    def _matches(self, name: str) -> bool:
        return name in self.names or any(p.fullmatch(name) for p in self._compiled)

    def option_of(self, name: str) -> str | None:
        """The option a macro stands for, or None when it is not a configuration macro."""
        if name.endswith("_MODULE") and self._matches(name[: -len("_MODULE")]):
            return name[: -len("_MODULE")]
        return name if self._matches(name) else None

    def is_option(self, name: str) -> bool:
        return self.option_of(name) is not None

    def options(self, f: Formula) -> frozenset[str]:
        """The configuration options a formula depends on."""
        out = set()
        for m in macros(f):
            o = self.option_of(m)
            if o is not None:
                out.add(o)
        return frozenset(out)


_DEFAULT_FILTER = OptionFilter()


# ---------------------------------------------------------------------------
# #if expression parsing

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>(?:0[xX][0-9A-Fa-f]+|0[bB][01]+|[0-9]+)[uUlL]*)
    | (?P<char>'(?:\\.|[^'\\])+')
    | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>&&|\|\||<<|>>|<=|>=|==|!=|[-+*/%<>!~&|^?:(),])
    )""",
    re.X,
)


class _ParseError(Exception):
    pass


@dataclass(frozen=True)
class _E:
    """A parsed ``#if`` expression node, with its span in the source text."""

    kind: str  # num char id defined call un bin cond paren
    start: int
    end: int
    value: str = ""  # operator, identifier or literal text
    num: int = 0
    kids: tuple[_E, ...] = ()


_BINARY = {
    "||": 1,
    "&&": 2,
    "|": 3,
    "^": 4,
    "&": 5,
    "==": 6,
    "!=": 6,
    "<": 7,
    ">": 7,
    "<=": 7,
    ">=": 7,
    "<<": 8,
    ">>": 8,
    "+": 9,
    "-": 9,
    "*": 10,
    "/": 10,
    "%": 10,
}


def _int_literal(text: str) -> int:
    digits = text.rstrip("uUlL")
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        return int(digits, 8)
    return int(digits, 0)


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks: list[tuple[str, str, int, int]] = []
        pos = 0
        n = len(text)
        while pos < n:
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                if text[pos:].strip() == "":
                    break
                raise _ParseError(text[pos:])
            kind = m.lastgroup or ""
            self.toks.append((kind, m.group(kind), m.start(kind), m.end()))
            pos = m.end()
        self.i = 0

    def peek_value(self) -> str | None:
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str, int, int]:
        if self.i >= len(self.toks):
            raise _ParseError("unexpected end")
        t = self.toks[self.i]
        if value is not None and t[1] != value:
            raise _ParseError(f"expected {value!r}")
        self.i += 1
        return t

    def parse(self) -> _E:
        e = self.expr()
        if self.i != len(self.toks):
            raise _ParseError("trailing tokens")
        return e

    def expr(self) -> _E:
        c = self.binary(1)
        if self.peek_value() == "?":
            self.take()
            a = self.expr()
            self.take(":")
            b = self.expr()
            return _E("cond", c.start, b.end, kids=(c, a, b))
        return c

    def binary(self, min_prec: int) -> _E:
        left = self.unary()
        while True:
            op = self.peek_value()
            if op is None or self.toks[self.i][0] != "op" or _BINARY.get(op, 0) < min_prec:
                return left
            self.take()
            right = self.binary(_BINARY[op] + 1)
            left = _E("bin", left.start, right.end, op, kids=(left, right))

    def unary(self) -> _E:
        kind, value, start, end = self.take()
        if kind == "op" and value in ("!", "~", "-", "+"):
            e = self.unary()
            return _E("un", start, e.end, value, kids=(e,))
        if kind == "op" and value == "(":
            e = self.expr()
            close = self.take(")")
            return _E("paren", start, close[3], kids=(e,))
        if kind == "num":
            try:
                return _E("num", start, end, value, _int_literal(value))
            except ValueError as exc:
                raise _ParseError(value) from exc
        if kind == "char":
            return _E("char", start, end, value)
        if kind != "id":
            raise _ParseError(value)
        if value == "defined":
            paren = self.peek_value() == "("
            if paren:
                self.take()
            name = self.take()
            if name[0] != "id":
                raise _ParseError("defined")
            stop = self.take(")")[3] if paren else name[3]
            return _E("defined", start, stop, name[1])
        if self.peek_value() == "(":
            self.take()
            args: list[_E] = []
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
                        raise _ParseError("call")
            return _E("call", start, stop, value, kids=tuple(args))
        return _E("id", start, end, value)


_CONFIG_MACROS = {"IS_ENABLED", "IS_BUILTIN", "IS_MODULE", "IS_REACHABLE"}


def _config_call(e: _E) -> tuple[str, str] | None:
    """``IS_ENABLED(X)`` -> ("IS_ENABLED", "X")."""
    if e.kind == "call" and e.value in _CONFIG_MACROS and len(e.kids) == 1 and e.kids[0].kind == "id":
        return e.value, e.kids[0].value
    return None


def _to_formula(e: _E, text: str, options: OptionFilter) -> Formula:
    if e.kind == "paren":
        return _to_formula(e.kids[0], text, options)
    if e.kind == "num":
        return TRUE if e.num else FALSE
    if e.kind == "defined":
        return Defined(e.value)
    if e.kind == "id" and options.is_option(e.value):
        # A Kconfig bool/tristate macro is either undefined or 1, so "X" means defined(X).
        return Defined(e.value)
    call = _config_call(e)
    if call is not None:
        macro, x = call
        if macro == "IS_BUILTIN":
            return Defined(x)
        if macro == "IS_MODULE":
            return Defined(x + "_MODULE")
        # IS_REACHABLE also depends on the caller being built in; approximate as IS_ENABLED.
        return disj(Defined(x), Defined(x + "_MODULE"))
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


def _is_boolean(e: _E, options: OptionFilter) -> bool:
    if e.kind == "paren":
        return _is_boolean(e.kids[0], options)
    if e.kind == "defined" or _config_call(e) is not None:
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
        e = _Parser(text).parse()
        return _to_formula(e, text, options or _DEFAULT_FILTER)
    except (_ParseError, RecursionError):  # RecursionError: hostile text such as a thousand '!'s
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


# ---------------------------------------------------------------------------
# Atom evaluation (integer arithmetic the way cpp does it, as far as we can)


class _Unknown(Exception):
    pass


def _eval_atom(text: str, values: Mapping[str, str | None]) -> bool | None:
    try:
        return bool(_eval_int(_Parser(text).parse(), values, 0))
    except (_ParseError, _Unknown, ZeroDivisionError, ValueError, RecursionError):
        return None


def _value_of(name: str, values: Mapping[str, str | None], depth: int) -> int:
    raw = values.get(name)
    if raw is None:
        return 0  # cpp: an identifier that is not a macro is 0 in #if
    if not raw.strip() or depth > 8:
        raise _Unknown(name)
    try:
        return _eval_int(_Parser(raw).parse(), values, depth + 1)
    except _ParseError as exc:
        raise _Unknown(name) from exc


_ARITH: dict[str, Callable[[int, int], int]] = {
    "|": lambda x, y: x | y,
    "^": lambda x, y: x ^ y,
    "&": lambda x, y: x & y,
    "==": lambda x, y: int(x == y),
    "!=": lambda x, y: int(x != y),
    "<": lambda x, y: int(x < y),
    ">": lambda x, y: int(x > y),
    "<=": lambda x, y: int(x <= y),
    ">=": lambda x, y: int(x >= y),
    "<<": lambda x, y: x << y,
    ">>": lambda x, y: x >> y,
    "+": lambda x, y: x + y,
    "-": lambda x, y: x - y,
    "*": lambda x, y: x * y,
    "/": lambda x, y: int(x / y),
    "%": lambda x, y: x - int(x / y) * y,
}


def _eval_int(e: _E, values: Mapping[str, str | None], depth: int) -> int:
    if e.kind == "num":
        return e.num
    if e.kind == "paren":
        return _eval_int(e.kids[0], values, depth)
    if e.kind == "defined":
        return int(values.get(e.value) is not None)
    if e.kind == "id":
        return _value_of(e.value, values, depth)
    call = _config_call(e)
    if call is not None:
        macro, x = call
        y = values.get(x) is not None
        m = values.get(x + "_MODULE") is not None
        return int(y if macro == "IS_BUILTIN" else m if macro == "IS_MODULE" else y or m)
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
