"""Guard reasoning: why a condition is false here, how C spells a test of it, which conditional hides a line."""

from __future__ import annotations

from dataclasses import dataclass

from ..scan.directives import CondBlock, FileScan
from ..scan.formula import Atom, Defined, Formula, Not, Or, evaluate, false_leaves, macros, to_c
from .config import Values


def why_false(formula: Formula, values: Values) -> list[str]:
    """Phrases saying why ``formula`` is false here ("CONFIG_X is not set")."""
    return [_why_leaf_false(leaf, values) for leaf in false_leaves(formula, values)]


def _why_leaf_false(leaf: Formula, values: Values) -> str:
    if isinstance(leaf, Defined):
        return f"{leaf.name} is not set"
    if isinstance(leaf, Not):
        inner = leaf.f
        if isinstance(inner, Defined):
            value = values.get(inner.name)
            return f"{inner.name} is set" + (f" (to {value})" if value not in (None, "", "1") else "")
        return f"{to_c(inner)} holds"
    if isinstance(leaf, Atom):
        shown = [f"{n}={values[n]}" if values.get(n) is not None else f"{n} unset" for n in sorted(macros(leaf))]
        return f"{leaf.text} is false" + (f" ({', '.join(shown)})" if shown else "")
    return f"{to_c(leaf)} is false"


def guard_directive(formula: Formula) -> str:
    """How a C programmer writes a test of ``formula`` (``#ifdef X``, ``#if IS_ENABLED(X)``)."""
    if isinstance(formula, Defined):
        return f"#ifdef {formula.name}"
    if isinstance(formula, Not) and isinstance(formula.f, Defined):
        return f"#ifndef {formula.f.name}"
    if isinstance(formula, Or) and len(formula.fs) == 2:
        first, second = formula.fs
        if isinstance(first, Defined) and isinstance(second, Defined) and second.name == first.name + "_MODULE":
            return f"#if IS_ENABLED({first.name})"
    return f"#if {to_c(formula)}"


def _chain_of(scan: FileScan, block: CondBlock) -> list[CondBlock]:
    """The branches of the ``#if``/``#elif``/``#else`` chain that ``block`` belongs to."""
    blocks = [b for b in scan.conditionals if b.depth == block.depth]
    index = blocks.index(block)
    start = index
    while start > 0 and blocks[start].kind not in ("if", "ifdef", "ifndef") \
            and blocks[start - 1].end_line == blocks[start].start_line:
        start -= 1
    end = index
    while end + 1 < len(blocks) and blocks[end + 1].kind not in ("if", "ifdef", "ifndef") \
            and blocks[end + 1].start_line == blocks[end].end_line:
        end += 1
    return blocks[start:end + 1]


@dataclass(frozen=True)
class GuardSite:
    """The conditional that hides a definition in this configuration."""

    block: CondBlock  # the branch holding the definition
    chain: tuple[CondBlock, ...]
    #: Where a stub goes: before this line (the closing #elif/#else/#endif of a true branch, or the #endif).
    insert_line: int
    needs_else: bool

    @property
    def first_line(self) -> int:
        return self.chain[0].start_line

    @property
    def endif_line(self) -> int:
        return self.chain[-1].end_line


def hiding_guard(scan: FileScan, line: int, values: Values) -> GuardSite | None:
    """The outermost conditional around ``line`` whose branch is false here, and where a stub fits."""
    around = sorted((b for b in scan.conditionals if b.start_line < line < b.end_line and not b.is_guard),
                    key=lambda b: b.depth)
    for block in around:
        if evaluate(block.condition, values) is not False:
            continue
        chain = _chain_of(scan, block)
        true_branches = [b for b in chain if evaluate(b.condition, values) is True]
        if true_branches:
            target = true_branches[0]
            if target is block:
                return None
            return GuardSite(block, tuple(chain), target.end_line, False)
        if any(b.kind == "else" for b in chain):
            return None  # the #else is there and false too: an enclosing condition decides
        return GuardSite(block, tuple(chain), chain[-1].end_line, True)
    return None
