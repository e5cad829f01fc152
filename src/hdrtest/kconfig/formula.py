"""A propositional formula of the valid bool/tristate configurations of a Kconfig model.

A configuration is valid when the evaluator, given it as a complete ``.config``, gives it back
unchanged (``olddefconfig``'s fixed point).  Each bool/tristate symbol gets two variables,
"value >= m" and "value >= y"; each symbol contributes the equation ``sym_calc_value`` applies
to it (user value within visibility, raised by selects; or, when invisible, its first active
default, implies and selects; choices: exactly one visible member).

Scope, stated rather than hidden: int/hex/string symbols keep their baseline values inside
comparisons (except prompt-less ones whose defaults are constants: those are computed), and MODULES
keeps its baseline value.  Whatever the formula says is checked
against the evaluator before anything is reported (tests compare both on random models).
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pysat.solvers import Solver  # type: ignore[import-untyped]  # python-sat ships no type information

from .model import Const, Expr, Model, ModelSymbol
from .values import PREFIX, TRISTATE_TYPES, State, config_line

Pair = tuple[int, int]  # literals: (value >= m, value >= y)


class Formula:
    """CNF clauses (DIMACS integers) over ``var(NAME)``; build once, query with a SAT solver."""

    def __init__(self, model: Model, baseline: Mapping[str, str]) -> None:
        self.model = model
        self._baseline = baseline
        self.clauses: list[list[int]] = []
        self._next = 1
        self.true = self._new()
        self.clauses.append([self.true])
        self._modules = baseline.get(PREFIX + "MODULES", "n") == "y"
        tristates = [sym for sym in model.symbols.values() if sym.type in TRISTATE_TYPES]
        self.vars: dict[str, Pair] = {sym.name: self._symbol_vars(sym) for sym in tristates}
        for sym in tristates:
            self._constrain(sym)
        for choice in model.choices:
            self._choice([m for m in choice.members if m in self.vars])
        if "MODULES" in self.vars:  # the m semantics above were chosen by it
            self.clauses += [[lit] for lit in self.assumption("MODULES", "y" if self._modules else "n")]

    # -- reading models back

    @property
    def variables(self) -> int:
        """The highest variable number in use."""
        return self._next - 1

    def baseline_value(self, name: str) -> str:
        return self._baseline.get(PREFIX + name, "n")

    def value(self, solution: set[int], name: str) -> str:
        ge_m, ge_y = self.vars[name]
        return "y" if ge_y in solution else "m" if ge_m in solution else "n"

    def assumption(self, name: str, value: str) -> list[int]:
        """Unit literals forcing ``name`` (no prefix) to ``value``."""
        ge_m, ge_y = self.vars[name]
        return {"y": [ge_m, ge_y], "m": [ge_m, -ge_y], "n": [-ge_m, -ge_y]}[value]

    # -- building

    def _new(self) -> int:
        var = self._next
        self._next += 1
        return var

    def _symbol_vars(self, sym: ModelSymbol) -> Pair:
        ge_m, ge_y = self._new(), self._new()
        self.clauses.append([-ge_y, ge_m])
        if sym.type == "bool" or not self._modules:
            self.clauses.append([-ge_m, ge_y])  # no m
        return ge_m, ge_y

    def _and(self, a: int, b: int) -> int:
        t = self.true
        if a == -t or b == -t:
            return -t
        if a == t:
            return b
        if b == t or a == b:
            return a
        x = self._new()
        self.clauses += [[-x, a], [-x, b], [x, -a, -b]]
        return x

    def _or(self, a: int, b: int) -> int:
        return -self._and(-a, -b)

    def _ite(self, c: int, a: int, b: int) -> int:
        return self._or(self._and(c, a), self._and(-c, b))

    @staticmethod
    def _pairwise(op: Callable[[int, int], int], a: Pair, b: Pair) -> Pair:
        """``op`` on both literals of two values: Kconfig's &/| act on "value >= m" and "value >= y" alike."""
        return op(a[0], b[0]), op(a[1], b[1])

    def _ite_pair(self, c: int, a: Pair, b: Pair) -> Pair:
        return self._ite(c, a[0], b[0]), self._ite(c, a[1], b[1])

    def _const(self, text: str) -> Pair:
        t = self.true
        return {"y": (t, t), "m": (t, -t)}.get(text, (-t, -t))

    def expr(self, e: Expr | None, default: str = "y") -> Pair:
        if e is None:
            return self._const(default)
        if isinstance(e, Const):
            return self._const(e.text)
        if isinstance(e, str):
            return self.vars.get(e, self._const("n"))
        op = e[0]
        assert isinstance(op, str)
        if op == "!":
            m, y = self.expr(e[1])
            return -y, -m
        if op in ("&", "|"):
            return self._pairwise(self._and if op == "&" else self._or, self.expr(e[1]), self.expr(e[2]))
        return self._compare(op, e[1], e[2])

    def _compare(self, op: str, left: Expr, right: Expr) -> Pair:
        if self._tristate_operand(left) and self._tristate_operand(right):
            # Tristates compare as n < m < y ("depends on TEE >= TRUSTED_KEYS").
            (m1, y1), (m2, y2) = self.expr(left), self.expr(right)
            ge = self._and(self._or(-m2, m1), self._or(-y2, y1))  # left >= right
            le = self._and(self._or(-m1, m2), self._or(-y1, y2))
            truth = {"=": self._and(ge, le), "!=": -self._and(ge, le), ">=": ge, "<=": le,
                     ">": -le, "<": -ge}[op]
            return truth, truth
        left_texts, right_texts = self._texts(left), self._texts(right)
        if left_texts is None or right_texts is None:
            free = self._new()  # an operand the formula does not model: left open
            return free, free
        truth = -self.true
        for la, ta in left_texts:
            for lb, tb in right_texts:
                if _kconfig_compare(op, ta, tb):
                    truth = self._or(truth, self._and(la, lb))
        return truth, truth

    def _texts(self, e: Expr) -> list[tuple[int, str]] | None:
        """The texts an operand can have, each with the literal under which it has it (exclusive and
        exhaustive).  A prompt-less int/hex/string symbol whose defaults are constants is what Kconfig
        computes: the first default whose condition holds, "" when none does (x86's PGTABLE_LEVELS, from
        X86_5LEVEL/X86_64/X86_PAE, decides a select of ARCH_HAS_NONLEAF_PMD_YOUNG).  Any other operand
        keeps its baseline text."""
        defaults = self._computed_defaults(e)
        if defaults is None:
            text = self._fixed_text(e)
            return None if text is None else [(self.true, text)]
        out: list[tuple[int, str]] = []
        none_before = self.true
        for text, cond in defaults:
            active = self.expr(cond)[0]
            out.append((self._and(none_before, active), text))
            none_before = self._and(none_before, -active)
        out.append((none_before, ""))
        return out

    def _computed_defaults(self, e: Expr) -> list[tuple[str, Expr | None]] | None:
        if not isinstance(e, str):
            return None
        sym = self.model.symbols.get(e)
        if sym is None or sym.type in TRISTATE_TYPES or sym.prompts or sym.ranges or sym.choice is not None:
            return None
        if not sym.defaults or not all(isinstance(value, Const) for value, _c in sym.defaults):
            return None
        return [(value.text, cond) for value, cond in sym.defaults if isinstance(value, Const)]

    def _tristate_operand(self, e: Expr) -> bool:
        if isinstance(e, Const):
            return e.text in ("y", "m", "n")
        return isinstance(e, str) and e in self.vars

    def _fixed_text(self, e: Expr) -> str | None:
        if isinstance(e, Const):
            return e.text
        if isinstance(e, str):
            sym = self.model.symbols.get(e)
            if sym is None or sym.type in TRISTATE_TYPES:
                return None
            value = self._baseline.get(PREFIX + e, "")
            return value[1:-1] if value.startswith('"') else value
        return None

    def _constrain(self, sym: ModelSymbol) -> None:
        bool_like = sym.type == "bool" or not self._modules

        def conv(pair: Pair) -> Pair:
            # Kconfig turns m into y for bool symbols (and for tristates without MODULES).
            return (pair[0], pair[0]) if bool_like else pair

        own = self.vars[sym.name]
        vis: Pair = self._const("n")
        for cond in sym.prompts:
            vis = self._pairwise(self._or, vis, self.expr(cond))
        vis = conv(vis)
        if sym.choice is not None:
            # Visible members are set by the choice (exactly one y); invisible ones stay n.
            self.clauses += [[vis[0], -own[0]]]
            return
        dir_dep = conv(self.expr(sym.depends))
        rev = conv(self.expr(sym.selected_by, "n"))
        imp = conv(self.expr(sym.implied_by, "n"))
        default = self._const("n")
        for value, cond in reversed(sym.defaults):  # the first active default wins
            c = self.expr(cond)
            active = self._pairwise(self._and, self.expr(value, "n"), c)
            default = self._ite_pair(c[0], active, default)
        with_imp = (self._and(self._or(default[0], imp[0]), dir_dep[0]),
                    self._and(self._or(default[1], imp[1]), dir_dep[1]))
        unset = self._ite_pair(imp[0], with_imp, default)
        user = self._pairwise(self._and, own, vis)
        result = self._ite_pair(vis[0], user, unset)
        final = conv(self._pairwise(self._or, result, rev))
        for a, b in zip(own, final):
            self.clauses += [[-a, b], [a, -b]]

    def _choice(self, members: list[str]) -> None:
        if not members:
            return
        ys = [self.vars[m][1] for m in members]
        anyvis = functools.reduce(self._or, [self.vars_visible(m) for m in members])
        self.clauses.append([-anyvis] + ys)
        self.clauses += [[-a, -b] for a, b in itertools.combinations(ys, 2)]

    def vars_visible(self, name: str) -> int:
        return functools.reduce(self._or, (self.expr(cond)[0] for cond in self.model.symbols[name].prompts),
                                self._const("n")[0])


def _kconfig_compare(op: str, a: str, b: str) -> bool:
    """Kconfig compares as numbers when both sides read as numbers, else as strings."""
    def number(text: str) -> int | None:
        try:
            return int(text, 16) if re.fullmatch(r"0[xX][0-9a-fA-F]+", text) else int(text)
        except ValueError:
            return None
    x, y = number(a), number(b)
    cmp = (x > y) - (x < y) if x is not None and y is not None else (a > b) - (a < b)
    return {"=": cmp == 0, "!=": cmp != 0, "<": cmp < 0, "<=": cmp <= 0, ">": cmp > 0, ">=": cmp >= 0}[op]


@dataclass(frozen=True)
class Closest:
    """A valid configuration with some symbols fixed, as close to the baseline as was established.

    ``distance`` counts the bool/tristate symbols whose value differs from the baseline (the fixed
    ones included); ``lower_bound`` is what any valid configuration with these values must differ
    by (one symbol per disjoint unsatisfiable core, plus the fixed ones that differ).  ``proven`` is
    ``distance == lower_bound``: only then is it the closest, otherwise the closest found.
    """

    values: dict[str, str]
    changed: tuple[tuple[str, str, str], ...]
    distance: int
    lower_bound: int
    proven: bool
    solver_calls: int


class FormulaSolver:
    """The formula loaded once into an incremental SAT solver (CaDiCaL through python-sat); every
    query passes its values as assumptions, so a query costs a search, not a re-read of the ~1.1 M
    clauses Linux gives (2.6 s to load, then ~0.1 s a query, against 7-12 s a query with pycosat)."""

    def __init__(self, formula: Formula, *, solver: str = "cadical153") -> None:
        self.formula = formula
        self._solver = Solver(name=solver, bootstrap_with=formula.clauses)
        self.calls = 0
        self._base = {name: _tristate_value(formula.baseline_value(name)) for name in formula.vars}
        #: One selector per symbol: assumed, it holds the symbol at its baseline value.
        self._keep = {name: formula.variables + 1 + i for i, name in enumerate(sorted(formula.vars))}
        for name, selector in self._keep.items():
            for lit in formula.assumption(name, self._base[name]):
                self._solver.add_clause([-selector, lit])

    def __enter__(self) -> FormulaSolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._solver.delete()

    def solution(self, assumptions: list[int]) -> set[int] | None:
        self.calls += 1
        if not self._solver.solve(assumptions=assumptions):
            return None
        return {lit for lit in self._solver.get_model() or () if lit > 0}

    def _literals(self, values: Mapping[str, str]) -> list[int]:
        unknown = sorted(set(values) - set(self.formula.vars))
        if unknown:
            raise KeyError(f"not a bool/tristate symbol of the formula: {', '.join(unknown[:5])}")
        return [lit for name, value in sorted(values.items()) for lit in self.formula.assumption(name, value)]

    def valid(self, values: Mapping[str, str]) -> bool:
        """Whether some valid configuration has these values (a complete assignment: whether it is valid)."""
        return self.solution(self._literals(values)) is not None

    def model(self, values: Mapping[str, str]) -> dict[str, str] | None:
        """A valid configuration with these values, every symbol's value; None when there is none."""
        solution = self.solution(self._literals(values))
        return None if solution is None else self._values(solution)

    def _values(self, solution: set[int]) -> dict[str, str]:
        return {name: self.formula.value(solution, name) for name in self.formula.vars}

    def closest(self, fixed: Mapping[str, str], *, max_calls: int = 200) -> Closest | None:
        """A valid configuration with ``fixed`` (no prefix: value), fewest symbols off the baseline.

        Core-guided: every symbol not fixed is held at its baseline value by assumption; each
        unsatisfiable core releases its symbols (cores are disjoint, so each adds one to the lower
        bound).  The model found is then improved greedily, one released symbol at a time, within
        ``max_calls`` solver calls (past them, the cores stop: every symbol is released at once).
        None when no valid configuration has ``fixed``.
        """
        fixed_lits = self._literals(fixed)
        held = {self._keep[name] for name in self.formula.vars if name not in fixed}
        cores = 0
        calls = self.calls
        while True:
            solution = self.solution(fixed_lits + sorted(held))
            if solution is not None:
                break
            core = set(self._solver.get_core() or ()) & held
            if not core:
                return None  # the fixed values alone have no valid configuration
            held -= core
            cores += 1
            if self.calls - calls >= max_calls:
                held = set()  # out of budget: any valid configuration, the bound stays what it is
        values = self._values(solution)
        for name in sorted(n for n, v in values.items() if v != self._base[n] and n not in fixed):
            if self.calls - calls >= max_calls:
                break
            better = self.solution(fixed_lits + sorted(held | {self._keep[name]}))
            if better is not None:
                held.add(self._keep[name])
                values = self._values(better)
        changed = tuple((name, self._base[name], values[name]) for name in sorted(values)
                        if values[name] != self._base[name])
        lower = cores + sum(1 for name, value in fixed.items() if value != self._base[name])
        return Closest(values=values, changed=changed, distance=len(changed), lower_bound=lower,
                       proven=len(changed) == lower, solver_calls=self.calls - calls)


def _tristate_value(text: str) -> str:
    return text if text in ("y", "m") else "n"


@dataclass(frozen=True)
class Disagreement:
    """A configuration on which the formula and the evaluator disagree."""

    #: The values the random draw fixed.
    drawn: tuple[tuple[str, str], ...]
    #: "evaluator-changes-model" (the formula calls valid what olddefconfig changes) or
    #: "formula-rejects-evaluated" (the formula rejects a configuration olddefconfig gave).
    kind: str
    #: ``(symbol, formula's value, evaluator's value)``, at most ten.
    symbols: tuple[tuple[str, str, str], ...]


@dataclass
class Crosscheck:
    models: int = 0
    #: Draws with no valid configuration (skipped, not counted as models).
    unsatisfiable_draws: int = 0
    disagreements: list[Disagreement] = field(default_factory=list)


def crosscheck(solver: FormulaSolver, evaluate: Callable[[str], State], other_lines: list[str],
               count: int, seed: int) -> Crosscheck:
    """``count`` random models of the formula, each evaluated as a complete ``.config``.

    A model the evaluator changes is one the formula wrongly calls valid; the evaluator's own
    answer is then given back to the formula, which must accept it.  ``other_lines`` are the
    ``.config`` lines of the symbols the formula does not cover (int, hex, string), kept as they are.
    """
    formula = solver.formula
    names = sorted(formula.vars)
    rng = random.Random(seed)
    out = Crosscheck()
    while out.models < count:
        drawn = tuple((n, rng.choice("ynm")) for n in rng.sample(names, min(len(names), rng.randint(1, 6))))
        values = solver.model(dict(drawn))
        if values is None:
            out.unsatisfiable_draws += 1
            continue
        out.models += 1
        text = "\n".join(other_lines + [config_line(PREFIX + n, v) for n, v in values.items()]) + "\n"
        state = evaluate(text)
        got = {n: _tristate_value(state.get(PREFIX + n, "n")) for n in names}
        wrong = tuple((n, values[n], got[n]) for n in names if values[n] != got[n])
        if wrong:
            out.disagreements.append(Disagreement(drawn, "evaluator-changes-model", wrong[:10]))
        if not solver.valid(got):
            out.disagreements.append(Disagreement(drawn, "formula-rejects-evaluated", ()))
    return out
