"""Kconfig evaluation in-process with PyPI kconfiglib (small, non-Linux trees)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hdrtest.models import OptionSetting

from .search import MAX_EVALS_KCONFIGLIB, SymbolFacts, resolve
from .values import (
    Assignments,
    KconfigError,
    Resolution,
    State,
    macro_name,
    normalize_value,
    quote_string,
    symbol_name,
    unquote_string,
)

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
        kpath = self._root / kconfig  # an absolute path stays itself
        try:
            with _srctree(self._root):
                self._kconf: Any = kconfiglib.Kconfig(
                    str(kpath), warn=True, warn_to_stderr=False, suppress_traceback=False)
        except (kconfiglib.KconfigError, OSError) as e:
            raise KconfigError(f"cannot parse {kpath}: {e}") from e
        self._lock = threading.Lock()
        self._reload()
        self._baseline = self._snapshot()
        self._cache: dict[OptionSetting, Resolution | None] = {}

    # -- protocol

    def baseline(self) -> dict[str, str]:
        return dict(self._baseline)

    def known(self, option: str) -> bool:
        return self._sym(option) is not None

    def symbol_type(self, option: str) -> str | None:
        sym = self._sym(option)
        return None if sym is None else str(self._klib.TYPE_TO_STR[sym.orig_type])

    def flip(self, option: str, value: str) -> Resolution | None:
        name = macro_name(option)
        sym = self._sym(name)
        requested = OptionSetting(name, normalize_value(value, self.symbol_type(name)))
        with self._lock:
            if requested not in self._cache:
                self._cache[requested] = None if sym is None else self._resolve(sym, requested)
            return self._cache[requested]

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
        found = resolve(requested, self._baseline, self._has_prompt(sym), self._evaluate, self, self.symbol_type,
                        MAX_EVALS_KCONFIGLIB)
        self._reload()  # leave the engine in the baseline state
        return found

    # -- the search's view (SymbolModel): the engine holds the state just evaluated

    def facts(self, name: str, state: State) -> SymbolFacts | None:
        sym = self._sym(name)
        if sym is None:
            return None
        klib = self._klib
        prompt = self._has_prompt(sym)
        visible = prompt and bool(sym.visibility)
        selectors = [(self._selector(t), kind, int(klib.expr_value(t)))
                     for kind, rev_dep in (("select", sym.rev_dep), ("imply", sym.weak_rev_dep))
                     for t in klib.split_expr(rev_dep, klib.OR)]
        active = next(((default, cond) for default, cond in sym.defaults if klib.expr_value(cond)), None)
        defaults = [] if active is None else self._names_in(active[0]) + self._names_in(active[1])
        others = sym.choice.syms if sym.choice is not None else ()
        choice = [self._name(other) for other in others if other is not sym and other.visibility]
        return SymbolFacts(
            type=str(klib.TYPE_TO_STR[sym.orig_type]), prompt=prompt, visible=visible,
            selectors=tuple(selectors), depends=tuple(self._names_in(sym.direct_dep)),
            prompt_depends=tuple(n for node in sym.nodes if node.prompt for n in self._names_in(node.prompt[1])),
            default_symbols=tuple(defaults), choice_alternatives=tuple(choice))

    def _name(self, sym: Any) -> str:
        return str(self._kconf.config_prefix + sym.name)

    def _names_in(self, expr: Any) -> list[str]:
        items = self._klib.expr_items(expr)
        out = [s for s in items if isinstance(s, self._klib.Symbol) and not s.is_constant and s.nodes]
        return [self._name(s) for s in sorted(out, key=lambda s: str(s.name))]

    def _selector(self, term: Any) -> str | None:
        # select terms are built as AND(selector, condition): the selector is leftmost.
        while isinstance(term, tuple):
            term = term[1]
        if isinstance(term, self._klib.Symbol) and not term.is_constant:
            return self._name(term)
        return None
