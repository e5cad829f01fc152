"""Which non-Kconfig option macros are switches, and to which values a variant may set them.

Outside Kconfig an ``--option-pattern`` such as ``FMT_[A-Z0-9_]+`` matches far more than
switches: hook macros the code expands (``FMT_THROW(x)``, ``FMT_BEGIN_NAMESPACE``) and
values the headers compute themselves (``FMT_GCC_VERSION``).  Setting those to ``1`` only
produces failures no user configuration has.  A macro is flipped here only when

* the code tests it in a conditional (``#ifdef``, ``defined``, ``#if X``, ``#if X == 2``);
* it is never function-like (defined with parameters, or invoked with ``(``);
* the headers do not define it themselves in every configuration (a default under
  ``#ifndef X`` is fine: that is what a knob looks like);
* when the code expands it, every definition of it is an integer: a macro whose default
  is code is a hook, not a switch;

and only to the values the code tests.  Pure functions over directive scans and text;
the caller reads the files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..relevance import covered
from ..scan.cexpr import int_literal
from ..scan.directives import FileScan, strip_comments
from ..scan.formula import Formula, macros
from ..scan.options import OptionFilter
from ..scan.scancache import ScanCache, read_bytes, read_text

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_CALLED = re.compile(rf"\b({_IDENT})\s*\(")
_WORD = re.compile(rf"\b{_IDENT}")
_NUMBER = r"(?:0[xX][0-9A-Fa-f]+|[0-9]+)[uUlL]*"
_INTEGER_BODY = re.compile(rf"\(*\s*-?\s*{_NUMBER}\s*\)*")
_COMPARISON = re.compile(rf"\b({_IDENT})\s*(==|!=|<=|>=|<|>)\s*({_NUMBER})\b|\b({_NUMBER})\s*(==|!=|<=|>=|<|>)\s*({_IDENT})\b")
_DEFINED = re.compile(rf"\bdefined\s*\(?\s*({_IDENT})|\bIS_(?:ENABLED|BUILTIN|MODULE|REACHABLE)\s*\(\s*({_IDENT})")
_CONFIG_TEST = re.compile(rf"\bIS_(?:ENABLED|BUILTIN|MODULE|REACHABLE)\s*\(\s*{_IDENT}\s*\)")
_CONTINUATION = re.compile(r"\\[ \t]*\n")
_DIRECTIVE_LINE = re.compile(r"^[ \t]*#.*$", re.M)
#: The value that makes ``X op N`` true, for the comparison as written (``N op X`` is mirrored).
#: Values per knob at most: each is a compile or at least a preprocessing.
_MAX_VALUES = 4
_MIRROR = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}


def _satisfying(op: str, n: int) -> list[int]:
    """Values on both sides of ``X op n``: the code's two branches."""
    return {"==": [n], "!=": [n], "<": [n - 1, n], ">": [n + 1, n], "<=": [n, n + 1], ">=": [n, n - 1]}[op]


@dataclass
class MacroTests:
    """How the code tests one macro in its conditionals."""

    presence: bool = False  # #ifdef X, defined(X)
    truth: bool = False  # #if X
    values: set[int] = field(default_factory=set)  # #if X == 2, X >= 3 ...


@dataclass
class FileFacts:
    """What one file says about macros: the knob-relevant part of its text, cached by content."""

    tests: dict[str, MacroTests] = field(default_factory=dict)
    called: set[str] = field(default_factory=set)
    expanded: set[str] = field(default_factory=set)  # named in code or in a macro body
    function_like: set[str] = field(default_factory=set)
    #: name -> [(presence condition, body)] of its object-like definitions
    definitions: dict[str, list[tuple[Formula, str]]] = field(default_factory=dict)


def _note_condition(expr: str, kind: str, tests: dict[str, MacroTests], called: set[str]) -> None:
    if kind in ("ifdef", "ifndef", "elifdef", "elifndef"):
        first = re.match(_IDENT, expr.strip())
        if first:
            tests.setdefault(first.group(0), MacroTests()).presence = True
        return
    presence = {m.group(1) or m.group(2) for m in _DEFINED.finditer(expr)}
    for name in presence:
        tests.setdefault(name, MacroTests()).presence = True
    called.update(n for n in _CALLED.findall(expr) if n != "defined")
    compared: set[str] = set()
    for m in _COMPARISON.finditer(expr):
        if m.group(1):
            name, op, number = m.group(1), m.group(2), m.group(3)
        else:
            name, op, number = m.group(6), _MIRROR[m.group(5)], m.group(4)
        compared.add(name)
        tests.setdefault(name, MacroTests()).values.update(_satisfying(op, int_literal(number)))
    for word in set(_WORD.findall(expr)) - presence - compared - {"defined"}:
        tests.setdefault(word, MacroTests()).truth = True


def file_facts(scan: FileScan, text: str) -> FileFacts:
    """The macro facts of one file from its directive scan and its text."""
    facts = FileFacts()
    for block in scan.conditionals:
        if block.kind != "else" and not block.is_guard:
            _note_condition(block.expr, block.kind, facts.tests, facts.called)
    for define in scan.defines:
        if define.is_function_like:
            facts.function_like.add(define.name)
        else:
            facts.definitions.setdefault(define.name, []).append((define.condition, define.body))
        facts.called.update(_CALLED.findall(define.body))
        facts.expanded.update(_WORD.findall(define.body))
    code = _DIRECTIVE_LINE.sub("", _CONTINUATION.sub("", strip_comments(text)))
    code = _CONFIG_TEST.sub(" ", code)  # if (IS_ENABLED(CONFIG_X)) tests X, it does not expand it
    facts.called.update(_CALLED.findall(code))
    facts.expanded.update(_WORD.findall(code))
    return facts


@dataclass
class KnobTable:
    """The switches among the option macros of a set of files."""

    #: switch -> how the code tests it
    knobs: dict[str, MacroTests]

    def flippable(self, option: str) -> bool:
        return option in self.knobs

    def targets(self, option: str, current: str | None) -> list[str]:
        """Values to try for ``option`` (``"n"`` undefines it), given its value in the baseline."""
        tests = self.knobs.get(option)
        if tests is None:
            return []
        defined = current is not None
        out: list[str] = []
        if tests.presence or tests.truth:
            out.append("n" if defined else "y")
        if tests.truth and defined and current != "0":
            out.append("0")  # a default under #ifndef X comes back when X is undefined: 0 differs
        out.extend(str(v) for v in sorted(tests.values, key=abs)[:_MAX_VALUES] if str(v) != current)
        return list(dict.fromkeys(out))


def knob_table(facts: Iterable[FileFacts], options: OptionFilter) -> KnobTable:
    """Merge per-file facts and decide, per tested option macro, whether it is a switch."""
    merged = FileFacts()  # of the options' tests only
    for one in facts:
        for name, t in one.tests.items():
            if options.option_of(name) is not None:
                into = merged.tests.setdefault(name, MacroTests())
                into.presence |= t.presence
                into.truth |= t.truth
                into.values |= t.values
        merged.called |= one.called
        merged.expanded |= one.expanded
        merged.function_like |= one.function_like
        for name, defs in one.definitions.items():
            merged.definitions.setdefault(name, []).extend(defs)
    return KnobTable({name: t for name, t in sorted(merged.tests.items()) if _not_a_switch(name, merged) is None})


def _not_a_switch(name: str, facts: FileFacts) -> str | None:
    """Why the tested option ``name`` is not flipped; None for a switch."""
    definitions = facts.definitions.get(name, [])
    if name in facts.function_like or name in facts.called:
        return "function-like: a value would only break its uses"
    own = [cond for cond, _ in definitions if name not in macros(cond)]  # not a default under #ifndef X
    if own and covered(own):
        return "the headers define it in every configuration"
    if name in facts.expanded and (not definitions or
                                   not all(_INTEGER_BODY.fullmatch(body) for _, body in definitions)):
        return "a hook the code expands, not a switch"
    return None


_CONDITIONAL_LINE = re.compile(r"^[ \t]*#[ \t]*(?:el)?if(?:n?def)?\b(.*)$", re.M)


# ---------------------------------------------------------------------------
# Reading files (the I/O edge)

#: FileFacts by content hash, for the process: the same header is read by many runs of a test session.
_FACTS: dict[str, FileFacts] = {}


def read_knob_table(paths: Iterable[Path], scans: ScanCache, options: OptionFilter) -> KnobTable:
    """``knob_table`` over the files at ``paths`` (unreadable ones are skipped: they cannot test anything)."""
    facts = []
    for path in paths:
        data = read_bytes(path)
        if data is None:
            continue
        digest, scan, _ = scans.scan(str(path), data)
        known = _FACTS.get(digest)
        if known is None:
            known = _FACTS[digest] = file_facts(scan, read_text(data))
        facts.append(known)
    return knob_table(facts, options)


def options_possible(paths: Iterable[Path], options: OptionFilter) -> bool:
    """Whether some file's conditional lines name an option (a comment may give a false hit: harmless); stops at the
    first that does."""
    for path in paths:
        data = read_bytes(path)
        lines = _CONDITIONAL_LINE.finditer(read_text(data)) if data is not None else ()
        if any(options.option_of(w) is not None for m in lines for w in _WORD.findall(m.group(1))):
            return True
    return False
