"""Kconfig evaluation in-process with PyPI kconfiglib (small, non-Linux trees)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hdrtest.models import OptionSetting

from .search import MAX_DEPTH, MAX_EVALS_KCONFIGLIB, Expand, lowered, merge, raised, search, to_resolution, unchanged
from .values import (TRI, TRISTATE_TYPES, Assignments, KconfigError, Resolution, State, macro_name,
                     normalize_value, quote_string, symbol_name, unquote_string)

_SRCTREE_LOCK = threading.Lock()


@contextlib.contextmanager
def _srctree(root: Path) -> Iterator[None]:
    # kconfiglib reads $srctree once, in Kconfig.__init__; restore it so callers see no change.
    with _SRCTREE_LOCK:
        old = os.environ.get("srctree")
        os.environ["srctree"] = str(root)
        try:
            yield
        finally:
            if old is None:
                del os.environ["srctree"]
            else:
                os.environ["srctree"] = old


class KconfiglibBackend:
    """In-process Kconfig evaluation with PyPI kconfiglib (small, non-Linux trees)."""

    def __init__(self, root: Path, kconfig: Path, config: Path) -> None:
        import kconfiglib

        self._klib: Any = kconfiglib
        self._root = root.resolve()
        self._config = config.resolve()
        kpath = kconfig if kconfig.is_absolute() else self._root / kconfig
        try:
            with _srctree(self._root):
                self._kconf: Any = kconfiglib.Kconfig(
                    str(kpath), warn=True, warn_to_stderr=False, suppress_traceback=False)
        except (kconfiglib.KconfigError, OSError) as e:
            raise KconfigError(f"cannot parse {kpath}: {e}") from e
        self._lock = threading.Lock()
        self._reload()
        self._baseline = self._snapshot()
        self._cache: dict[tuple[str, str], Resolution | None] = {}

    # -- protocol

    def baseline(self) -> dict[str, str]:
        return dict(self._baseline)

    def known(self, option: str) -> bool:
        return self._sym(option) is not None

    def symbol_type(self, option: str) -> str | None:
        sym = self._sym(option)
        if sym is None:
            return None
        return str(self._klib.TYPE_TO_STR[sym.orig_type])

    def is_tristate(self, option: str) -> bool:
        return self.symbol_type(option) == "tristate"

    def flip(self, option: str, value: str) -> Resolution | None:
        name = macro_name(option)
        sym = self._sym(name)
        requested = OptionSetting(name, normalize_value(value, self.symbol_type(name)))
        key = (requested.name, requested.value)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = None if sym is None else self._resolve(sym, requested)
            return self._cache[key]

    # -- internals

    def _sym(self, option: str) -> Any:
        sym = self._kconf.syms.get(symbol_name(option))
        if sym is None or not sym.nodes or sym.orig_type == self._klib.UNKNOWN:
            return None
        return sym

    def _reload(self) -> None:
        try:
            self._kconf.load_config(str(self._config), replace=True)
        except OSError as e:
            raise KconfigError(f"cannot read {self._config}: {e}") from e

    def _value(self, sym: Any) -> str:
        if sym.orig_type in (self._klib.BOOL, self._klib.TRISTATE):
            return str(sym.str_value)
        if not sym.config_string:  # not written: the macro does not exist
            return "n"
        if sym.orig_type == self._klib.STRING:
            return quote_string(str(sym.str_value))
        return str(sym.str_value)

    def _snapshot(self) -> dict[str, str]:
        return {self._kconf.config_prefix + s.name: self._value(s)
                for s in self._kconf.unique_defined_syms if s.orig_type != self._klib.UNKNOWN}

    def _evaluate(self, assigns: Assignments) -> State:
        self._reload()
        for name, value in assigns:
            sym = self._sym(name)
            raw = unquote_string(value) if sym.orig_type == self._klib.STRING else value
            sym.set_value(raw)
        return self._snapshot()

    def _has_prompt(self, sym: Any) -> bool:
        return any(node.prompt for node in sym.nodes)

    def _resolve(self, sym: Any, requested: OptionSetting) -> Resolution | None:
        if self._baseline.get(requested.name, "n") == requested.value:
            return unchanged(requested)
        start: Assignments = ((requested.name, requested.value),) if self._has_prompt(sym) else ()
        found = search(requested.name, requested.value, start, self._baseline,
                        self._evaluate, self._expander(sym, requested.value),
                        MAX_EVALS_KCONFIGLIB)
        self._reload()  # leave the engine in the baseline state
        return to_resolution(requested, found, self._baseline, self.symbol_type)

    def _expander(self, target: Any, want: str) -> Expand:
        def expand(state: State, assigns: Assignments) -> list[Assignments]:
            assigned = {n for n, _v in assigns}
            current = TRI.get(self._value(target))
            if target.orig_type in (self._klib.BOOL, self._klib.TRISTATE) and \
                    current is not None and current > TRI[want]:
                alts = self._lower(target, want, assigned, 0)
            else:
                alts = self._raise(target, want, assigned, 0)
            return [merge([assigns, alt]) for alt in alts if alt]
        return expand

    def _symbols_in(self, expr: Any) -> list[Any]:
        items = self._klib.expr_items(expr)
        out = [s for s in items if isinstance(s, self._klib.Symbol) and not s.is_constant
               and s.nodes]
        return sorted(out, key=lambda s: str(s.name))

    def _selector(self, term: Any) -> Any:
        # select terms are built as AND(selector, condition): the selector is leftmost.
        while isinstance(term, tuple):
            term = term[1]
        return term

    def _lower(self, sym: Any, want: str, assigned: set[str], depth: int) -> list[Assignments]:
        """Alternatives, best first, each a set of assignments that may bring ``sym`` to
        ``want`` or lower (given the current evaluated state)."""
        klib = self._klib
        name = self._kconf.config_prefix + sym.name
        sym_type = str(klib.TYPE_TO_STR[sym.orig_type])
        if self._has_prompt(sym) and name not in assigned and sym.visibility:
            return [((name, lowered(want, sym_type)),)]
        if depth >= MAX_DEPTH:
            return []
        level = TRI[want]
        alts: list[Assignments] = []
        # Every active select (and, for hidden symbols, imply) must go.
        terms = [t for t in klib.split_expr(sym.rev_dep, klib.OR) if klib.expr_value(t) > level]
        if not self._has_prompt(sym) or not sym.visibility:
            terms += [t for t in klib.split_expr(sym.weak_rev_dep, klib.OR)
                      if klib.expr_value(t) > level]
        if terms:
            parts: list[Assignments] = []
            for term in terms:
                sel = self._selector(term)
                sub = self._lower(sel, want, assigned, depth + 1) \
                    if isinstance(sel, klib.Symbol) else []
                if not sub:
                    parts = []
                    break
                parts.append(sub[0])
            if parts:
                alts.append(merge(parts))
        # Or cut a dependency (hidden symbols with defaults, or anything under `depends on`).
        for dep in self._symbols_in(sym.direct_dep):
            if dep.tri_value > 0:
                alts += self._lower(dep, "n", assigned, depth + 1)[:1]
        for default, cond in sym.defaults:
            if klib.expr_value(cond):
                for item in self._symbols_in(default) + self._symbols_in(cond):
                    if item.tri_value > level:
                        alts += self._lower(item, want, assigned, depth + 1)[:1]
                break
        if sym.choice is not None and level == 0:
            for other in sym.choice.syms:
                other_name = self._kconf.config_prefix + other.name
                if other is not sym and other.visibility and other_name not in assigned:
                    alts.append(((other_name, "y"),))
        return alts

    def _raise(self, sym: Any, want: str, assigned: set[str], depth: int) -> list[Assignments]:
        klib = self._klib
        name = self._kconf.config_prefix + sym.name
        sym_type = str(klib.TYPE_TO_STR[sym.orig_type])
        alts: list[Assignments] = []
        if self._has_prompt(sym) and name not in assigned:
            alts.append(((name, want if sym_type not in TRISTATE_TYPES
                          else raised(want, sym_type)),))
            return alts
        if depth >= MAX_DEPTH:
            return []
        need = TRI.get(want, 2)
        conds = [sym.direct_dep] + [node.prompt[1] for node in sym.nodes if node.prompt]
        unmet = sorted({s for c in conds for s in self._symbols_in(c) if s.tri_value < need},
                       key=lambda s: str(s.name))
        parts: list[Assignments] = []
        for dep in unmet:
            dep_want = raised("y" if need == 2 else "m", str(klib.TYPE_TO_STR[dep.orig_type]))
            sub = self._raise(dep, dep_want, assigned, depth + 1)
            if sub:
                parts.append(sub[0])
        if parts:
            alts.append(merge(parts))
        for term in klib.split_expr(sym.rev_dep, klib.OR):
            sel = self._selector(term)
            if isinstance(sel, klib.Symbol) and not sel.is_constant and sel.tri_value < need:
                alts += self._raise(sel, raised(want, str(klib.TYPE_TO_STR[sel.orig_type])),
                                    assigned, depth + 1)[:1]
        return alts
