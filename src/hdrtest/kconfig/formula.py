"""A propositional formula of the valid bool/tristate configurations of a Kconfig model.

A configuration is valid when the evaluator, given it as a complete ``.config``, gives it back
unchanged (``olddefconfig``'s fixed point).  Each bool/tristate symbol gets two variables,
"value >= m" and "value >= y"; each symbol contributes the equation ``sym_calc_value`` applies
to it (user value within visibility, raised by selects; or, when invisible, its first active
default, implies and selects; choices: exactly one visible member).

Scope, stated rather than hidden: int/hex/string symbols keep their baseline values inside
comparisons, and MODULES keeps its baseline value.  Whatever the formula says is checked
against the evaluator before anything is reported (tests compare both on random models).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .model import Const, Expr, Model, ModelSymbol
from .values import PREFIX

Pair = tuple[int, int]  # literals: (value >= m, value >= y)
_TRISTATE = ("bool", "tristate")


class Formula:
    """CNF clauses (DIMACS integers) over ``var(NAME)``; build once, query with a SAT solver."""

    def __init__(self, model: Model, baseline: Mapping[str, str]) -> None:
        self.model = model
        self._baseline = baseline
        self.clauses: list[list[int]] = []
        self._next = 1
        self.true = self._new()
        self.clauses.append([self.true])
        self.vars: dict[str, Pair] = {}
        self._modules = baseline.get(PREFIX + "MODULES", "n") == "y"
        for sym in model.symbols.values():
            if sym.type in _TRISTATE:
                self.vars[sym.name] = self._symbol_vars(sym)
        for sym in model.symbols.values():
            if sym.type in _TRISTATE:
                self._constrain(sym)
        for choice in model.choices:
            self._choice([m for m in choice.members if m in self.vars])
        if "MODULES" in self.vars:  # the m semantics above were chosen by it
            self.clauses += [[lit] for lit in self.assumption("MODULES", "y" if self._modules else "n")]

    # -- reading models back

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

    def _iff(self, a: int, b: int) -> int:
        return self._or(self._and(a, b), self._and(-a, -b))

    def _ite(self, c: int, a: int, b: int) -> int:
        return self._or(self._and(c, a), self._and(-c, b))

    def _const(self, text: str) -> Pair:
        t = self.true
        return {"y": (t, t), "m": (t, -t)}.get(text, (-t, -t))

    def _bool(self, pair: Pair) -> Pair:
        """Kconfig turns m into y for bool symbols (and for tristates without MODULES)."""
        return pair[0], pair[0]

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
            (m1, y1), (m2, y2) = self.expr(e[1]), self.expr(e[2])
            if op == "&":
                return self._and(m1, m2), self._and(y1, y2)
            return self._or(m1, m2), self._or(y1, y2)
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
        a, b = self._fixed_text(left), self._fixed_text(right)
        if a is None or b is None:
            free = self._new()  # an operand the formula does not model: left open
            return free, free
        return self._const("y" if _kconfig_compare(op, a, b) else "n")

    def _tristate_operand(self, e: Expr) -> bool:
        if isinstance(e, Const):
            return e.text in ("y", "m", "n")
        return isinstance(e, str) and e in self.vars

    def _fixed_text(self, e: Expr) -> str | None:
        if isinstance(e, Const):
            return e.text
        if isinstance(e, str):
            sym = self.model.symbols.get(e)
            if sym is None or sym.type in _TRISTATE:
                return None
            value = self._baseline.get(PREFIX + e, "")
            return value[1:-1] if value.startswith('"') else value
        return None

    def _constrain(self, sym: ModelSymbol) -> None:
        bool_like = sym.type == "bool" or not self._modules

        def conv(pair: Pair) -> Pair:
            return self._bool(pair) if bool_like else pair

        own = self.vars[sym.name]
        vis: Pair = self._const("n")
        for cond in sym.prompts:
            m, y = self.expr(cond)
            vis = (self._or(vis[0], m), self._or(vis[1], y))
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
            v = self.expr(value, "n")
            active = (self._and(v[0], c[0]), self._and(v[1], c[1]))
            default = (self._ite(c[0], active[0], default[0]), self._ite(c[0], active[1], default[1]))
        with_imp = (self._and(self._or(default[0], imp[0]), dir_dep[0]),
                    self._and(self._or(default[1], imp[1]), dir_dep[1]))
        unset = (self._ite(imp[0], with_imp[0], default[0]), self._ite(imp[0], with_imp[1], default[1]))
        user = (self._and(own[0], vis[0]), self._and(own[1], vis[1]))
        result = (self._ite(vis[0], user[0], unset[0]), self._ite(vis[0], user[1], unset[1]))
        final = conv((self._or(result[0], rev[0]), self._or(result[1], rev[1])))
        for a, b in zip(own, final):
            self.clauses += [[-a, b], [a, -b]]

    def _choice(self, members: list[str]) -> None:
        if not members:
            return
        ys = [self.vars[m][1] for m in members]
        visible = [self.vars_visible(m) for m in members]
        anyvis = visible[0]
        for v in visible[1:]:
            anyvis = self._or(anyvis, v)
        self.clauses.append([-anyvis] + ys)
        for i in range(len(ys)):
            for j in range(i + 1, len(ys)):
                self.clauses.append([-ys[i], -ys[j]])

    def vars_visible(self, name: str) -> int:
        vis = self._const("n")[0]
        for cond in self.model.symbols[name].prompts:
            vis = self._or(vis, self.expr(cond)[0])
        return vis


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


def solve(formula: Formula, assumptions: list[int]) -> set[int] | None:
    """A model of the formula under ``assumptions`` (pycosat: no incremental state, one call each)."""
    import pycosat  # optional heavy dependency: only the formula's users load it

    result = pycosat.solve(formula.clauses + [[lit] for lit in assumptions])
    if isinstance(result, list):
        return {lit for lit in result if lit > 0}
    return None
