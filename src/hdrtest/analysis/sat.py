"""Satisfiability of presence conditions, with a witness.

The one question fragility asks: can this formula be true, given these fixed values, and
under which assignment?  Macros and opaque atoms are free boolean variables here (an
atom such as ``CONFIG_HZ > 100`` may be either).  The formula is turned into clauses with
Tseitin's encoding, so its size stays linear.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pycosat

from ..scan.formula import And, Atom, Const, Defined, Formula, Not

Clause = list[int]


@dataclass
class Encoder:
    """Variables for macros (``defined(X)``) and atoms (by text), and the clauses built so far."""

    variables: dict[str, int] = field(default_factory=dict)
    clauses: list[Clause] = field(default_factory=list)
    _next: int = 1

    def var(self, key: str) -> int:
        number = self.variables.get(key)
        if number is None:
            number = self.variables[key] = self._fresh()
        return number

    def _fresh(self) -> int:
        number = self._next
        self._next += 1
        return number

    def literal(self, f: Formula) -> int:
        """A literal equivalent to ``f`` (auxiliary variables and their clauses added)."""
        if isinstance(f, Const):
            top = self.var("\0true")
            self.clauses.append([top])
            return top if f.value else -top
        if isinstance(f, Defined):
            return self.var(f.name)
        if isinstance(f, Atom):
            return self.var("\0atom:" + f.text)
        if isinstance(f, Not):
            return -self.literal(f.f)
        parts = [self.literal(g) for g in f.fs]
        out = self._fresh()
        if isinstance(f, And):
            self.clauses.extend([-out, p] for p in parts)
            self.clauses.append([out, *(-p for p in parts)])
        else:
            self.clauses.append([-out, *parts])
            self.clauses.extend([out, -p] for p in parts)
        return out


def is_satisfiable(formula: Formula, assumptions: Mapping[str, bool] | None = None) -> dict[str, bool] | None:
    """A satisfying assignment of the macros in ``formula`` (``name -> defined``), or None; ``assumptions`` fix
    some macros."""
    enc = Encoder()
    root = enc.literal(formula)
    clauses: list[Clause] = [*enc.clauses, [root]]
    for name, value in (assumptions or {}).items():
        number = enc.var(name)
        clauses.append([number if value else -number])
    solution = pycosat.solve(clauses)
    if not isinstance(solution, list):
        return None
    true = {abs(lit) for lit in solution if lit > 0}
    return {name: number in true for name, number in enc.variables.items() if not name.startswith("\0")}



def always_one_of(formulas: Sequence[Formula], max_leaves: int = 12) -> bool | None:
    """Whether in every configuration at least one of ``formulas`` holds (None: more than ``max_leaves`` names
    and atoms to tell by).

    Each ``defined(X)`` and each opaque atom counts as a free boolean: a chain
    ``#ifdef A / #elif F(4) / #else`` covers everything whatever ``F(4)`` means.  Treating
    atoms as independent can only miss a coverage that depends on what they mean, never
    invent one.
    """
    enc = Encoder()
    literals = [enc.literal(f) for f in formulas]
    if sum(key != "\0true" for key in enc.variables) > max_leaves:
        return None
    return bool(pycosat.solve([*enc.clauses, *([-literal] for literal in literals)]) == "UNSAT")
