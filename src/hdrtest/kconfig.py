"""Turn "flip option X" into a Kconfig-valid configuration and the macro changes it implies.

A header's ``#ifdef CONFIG_FOO`` only matters in configurations Kconfig can produce, so a
variant is never just "undefine CONFIG_FOO": hidden options (no prompt) change only when the
options that ``select`` them change, and ``olddefconfig`` silently turns options back on.
Every backend therefore sets what it can, lets the Kconfig engine recompute, and *reads the
value back*; ``Resolution.achieved`` and ``Resolution.changed`` come from that read-back.

Two engines:

* ``KconfiglibBackend`` - PyPI kconfiglib, in-process, for small trees.
* ``KernelConfBackend`` - the Linux tree's own ``scripts/config`` and ``make olddefconfig``
  on a private copy of ``.config`` (kconfiglib 14.1 cannot parse Linux Kconfig since 5.13).

Both share one search (``_search``): breadth-first over sets of user-visible assignments,
at most ``MAX_DEPTH`` rounds, preferring the fewest assignments, then pruned greedily.

Names: Kconfig symbols are written without the ``CONFIG_`` prefix inside Kconfig files, but
everything this module returns uses the macro name with the prefix (``CONFIG_FOO``), as the
compiler sees it.  Values are ``"y"``/``"m"``/``"n"`` for bool/tristate, the literal macro text
otherwise (strings quoted, as in ``.config``); ``"n"`` also stands for "not in the
configuration at all" (an int whose dependencies are off has no macro either).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hdrtest.atomic import write_atomic
from hdrtest.models import OptionSetting, Variant
from hdrtest.toolchain.run import run

PREFIX = "CONFIG_"
#: Rounds of the search: each round adds the options that still hold the target up.
MAX_DEPTH = 3
#: Bound on configurations evaluated per request (kconfiglib: cheap; kernel: ~1 s each).
MAX_EVALS_KCONFIGLIB = 200
MAX_EVALS_KERNEL = 10
#: Bump when the cached record's meaning changes.
_CACHE_VERSION = "hdrtest-kconfig-1"

Assignment = tuple[str, str]  # (CONFIG_NAME, value)
Assignments = tuple[Assignment, ...]
State = Mapping[str, str]

_TRI = {"n": 0, "m": 1, "y": 2}
_TRISTATE_TYPES = ("bool", "tristate")


class KconfigError(Exception):
    """A Kconfig tree that exists but cannot be read or evaluated."""


@dataclass(frozen=True)
class Resolution:
    """The outcome of asking for one option value."""

    requested: OptionSetting
    #: Read back: the requested symbol ended with the requested value.
    achieved: bool
    #: User-visible options hdrtest set to get there (the target itself when it was settable).
    via: tuple[OptionSetting, ...] = ()
    #: ``(CONFIG_NAME, old, new)`` for every symbol whose value differs from the baseline.
    changed: tuple[tuple[str, str, str], ...] = ()
    #: ``.config`` fragment that reproduces this configuration via ``olddefconfig``.
    config_lines: tuple[str, ...] = ()
    #: Macro changes in autoconf.h semantics, ``None`` meaning ``#undef``.
    defines: tuple[tuple[str, str | None], ...] = ()

    @property
    def implied(self) -> tuple[OptionSetting, ...]:
        """Changes Kconfig made on its own, beyond what hdrtest set."""
        set_names = {v.name for v in self.via}
        return tuple(OptionSetting(n, new) for n, _old, new in self.changed if n not in set_names)

    def to_variant(self, name: str, reason: str = "") -> Variant:
        return Variant(
            name=name,
            changes=self.via or (self.requested,),
            implied=self.implied,
            defines=self.defines,
            reason=reason,
            config_lines=self.config_lines,
        )


class KconfigBackend(Protocol):
    def baseline(self) -> dict[str, str]: ...

    def flip(self, option: str, value: str) -> Resolution | None: ...

    def symbol_type(self, option: str) -> str | None: ...

    def is_tristate(self, option: str) -> bool: ...

    def known(self, option: str) -> bool: ...


# --------------------------------------------------------------------------- pure helpers


def macro_name(option: str) -> str:
    """``FOO`` or ``CONFIG_FOO`` -> ``CONFIG_FOO``."""
    return option if option.startswith(PREFIX) else PREFIX + option


def symbol_name(option: str) -> str:
    """``CONFIG_FOO`` or ``FOO`` -> ``FOO`` (the name inside Kconfig files)."""
    return option[len(PREFIX):] if option.startswith(PREFIX) else option


def quote_string(raw: str) -> str:
    """A raw string value as ``.config``/C text (Kconfig escapes exactly ``\\`` and ``"``)."""
    return '"' + raw.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote_string(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def normalize_value(value: str, sym_type: str | None) -> str:
    """A requested value in this module's canonical form."""
    value = value.strip()
    if sym_type in _TRISTATE_TYPES or (sym_type is None and value.lower() in _TRI):
        return value.lower()
    if sym_type == "string":
        return value if value.startswith('"') and value.endswith('"') and len(value) >= 2 \
            else quote_string(value)
    return value


def config_line(name: str, value: str) -> str:
    """One ``.config`` line setting ``name`` (with prefix) to ``value``."""
    if value == "n":
        return f"# {name} is not set"
    return f"{name}={value}"


_CONFIG_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_CONFIG_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


def parse_dotconfig(text: str) -> dict[str, str]:
    """``.config`` text -> ``{CONFIG_NAME: value}`` ("is not set" -> ``"n"``)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        m = _CONFIG_SET.match(line)
        if m:
            values[m.group(1)] = m.group(2)
            continue
        m = _CONFIG_UNSET.match(line)
        if m:
            values[m.group(1)] = "n"
    return values


def diff_states(before: State, after: State) -> tuple[tuple[str, str, str], ...]:
    """Symbols whose value differs; a name missing on one side counts as ``"n"``."""
    out = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, "n"), after.get(name, "n")
        if old != new:
            out.append((name, old, new))
    return tuple(out)


def _c_literal(value: str, sym_type: str | None) -> str:
    if sym_type == "string":
        return value if value.startswith('"') else quote_string(value)
    if sym_type == "hex" and not value.lower().startswith("0x"):
        # conf writes hex values into autoconf.h with a 0x prefix even when .config lacks it.
        return "0x" + value
    return value


def defines_for_changes(
    changed: Sequence[tuple[str, str, str]], types: Mapping[str, str | None]
) -> tuple[tuple[str, str | None], ...]:
    """Macro changes autoconf.h would show for ``changed`` (``(name, old, new)`` triples).

    ``types`` maps CONFIG_ names to "bool"/"tristate"/"string"/"int"/"hex"; a name missing
    from it is treated as tristate when its value is y/m/n, as a literal otherwise.
    """
    out: list[tuple[str, str | None]] = []
    for name, _old, new in changed:
        sym_type = types.get(name)
        module = name + "_MODULE"
        if sym_type in _TRISTATE_TYPES or (sym_type is None and new in _TRI):
            if new == "y":
                out += [(name, "1"), (module, None)]
            elif new == "m":
                out += [(name, None), (module, "1")]
            else:
                out += [(name, None), (module, None)]
        elif new == "n":
            out.append((name, None))
        else:
            out.append((name, _c_literal(new, sym_type)))
    return tuple(out)


def plain_flip(option: str, value: str) -> Resolution:
    """A flip in a tree without Kconfig: just (un)define the macro, as ``-D``/``-U`` would.

    The old value is unknown here, so ``changed`` records it as ``"?"``.
    """
    value = value.strip()
    defines: tuple[tuple[str, str | None], ...]
    if value == "y":
        defines = ((option, "1"),)
    elif value == "n":
        defines = ((option, None),)
    elif value == "m":
        defines = ((option, None), (option + "_MODULE", "1"))
    else:
        defines = ((option, value),)
    setting = OptionSetting(option, value)
    return Resolution(
        requested=setting, achieved=True, via=(), changed=((option, "?", value),),
        config_lines=(), defines=defines,
    )


def _lowered(want: str, sym_type: str | None) -> str:
    """Value to give a selector so that it selects at most ``want``."""
    return "m" if want == "m" and sym_type == "tristate" else "n"


def _raised(want: str, sym_type: str | None) -> str:
    """Value to give a dependency so that it allows ``want``."""
    return want if sym_type == "tristate" and want in ("m", "y") else "y"


def _merge(parts: Sequence[Assignments]) -> Assignments:
    seen: dict[str, str] = {}
    for part in parts:
        for name, value in part:
            seen.setdefault(name, value)
    return tuple(seen.items())


# --------------------------------------------------------------------------- search


Evaluate = Callable[[Assignments], State]
#: Called right after ``evaluate`` of the same assignments (backends may rely on that).
Expand = Callable[[State, Assignments], list[Assignments]]


@dataclass
class _Found:
    assignments: Assignments
    state: State


def _search(
    target: str, want: str, start: Assignments, baseline: State,
    evaluate: Evaluate, expand: Expand, max_evals: int, first_hit: bool = False,
) -> _Found | None:
    """Breadth-first over assignment sets: fewest rounds first, then fewest changes.

    ``first_hit`` stops a round at its first success instead of comparing all of them
    (alternatives come best first; worth it when one evaluation costs seconds).
    """
    evals = 0
    seen: set[frozenset[Assignment]] = set()
    level: list[Assignments] = [start]
    for _depth in range(MAX_DEPTH + 1):
        hits: list[_Found] = []
        following: list[Assignments] = []
        for assigns in level:
            key = frozenset(assigns)
            if key in seen or evals >= max_evals:
                continue
            seen.add(key)
            state = evaluate(assigns)
            evals += 1
            if state.get(target, "n") == want:
                hits.append(_Found(assigns, state))
                if first_hit:
                    break
            elif not hits:
                following += expand(state, assigns)
        if hits:
            best = min(hits, key=lambda f: (len(f.assignments),
                                            len(diff_states(baseline, f.state))))
            return _prune(target, want, best, evaluate, max_evals - evals)
        level = following
        if not level or evals >= max_evals:
            break
    return None


def _prune(target: str, want: str, found: _Found, evaluate: Evaluate, budget: int) -> _Found:
    """Drop assignments that turn out unnecessary (a select whose ``if`` was false, say)."""
    current = found
    for item in found.assignments:
        if len(current.assignments) <= 1 or budget <= 0:
            break
        trial = tuple(a for a in current.assignments if a != item)
        state = evaluate(trial)
        budget -= 1
        if state.get(target, "n") == want:
            current = _Found(trial, state)
    return current


def _resolution(
    requested: OptionSetting, found: _Found | None, baseline: State,
    types: Callable[[str], str | None],
) -> Resolution | None:
    if found is None:
        return None
    changed = diff_states(baseline, found.state)
    type_map = {name: types(name) for name, _o, _n in changed}
    return Resolution(
        requested=requested,
        achieved=found.state.get(requested.name, "n") == requested.value,
        via=tuple(OptionSetting(n, v) for n, v in found.assignments),
        changed=changed,
        config_lines=tuple(config_line(n, v) for n, v in found.assignments),
        defines=defines_for_changes(changed, type_map),
    )


def _unchanged(requested: OptionSetting) -> Resolution:
    return Resolution(requested=requested, achieved=True)


# --------------------------------------------------------------------------- kconfiglib


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
            return _unchanged(requested)
        start: Assignments = ((requested.name, requested.value),) if self._has_prompt(sym) else ()
        found = _search(requested.name, requested.value, start, self._baseline,
                        self._evaluate, self._expander(sym, requested.value),
                        MAX_EVALS_KCONFIGLIB)
        self._reload()  # leave the engine in the baseline state
        return _resolution(requested, found, self._baseline, self.symbol_type)

    def _expander(self, target: Any, want: str) -> Expand:
        def expand(state: State, assigns: Assignments) -> list[Assignments]:
            assigned = {n for n, _v in assigns}
            current = _TRI.get(self._value(target))
            if target.orig_type in (self._klib.BOOL, self._klib.TRISTATE) and \
                    current is not None and current > _TRI[want]:
                alts = self._lower(target, want, assigned, 0)
            else:
                alts = self._raise(target, want, assigned, 0)
            return [_merge([assigns, alt]) for alt in alts if alt]
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
            return [((name, _lowered(want, sym_type)),)]
        if depth >= MAX_DEPTH:
            return []
        level = _TRI[want]
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
                alts.append(_merge(parts))
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
            alts.append(((name, want if sym_type not in _TRISTATE_TYPES
                          else _raised(want, sym_type)),))
            return alts
        if depth >= MAX_DEPTH:
            return []
        need = _TRI.get(want, 2)
        conds = [sym.direct_dep] + [node.prompt[1] for node in sym.nodes if node.prompt]
        unmet = sorted({s for c in conds for s in self._symbols_in(c) if s.tri_value < need},
                       key=lambda s: str(s.name))
        parts: list[Assignments] = []
        for dep in unmet:
            dep_want = _raised("y" if need == 2 else "m", str(klib.TYPE_TO_STR[dep.orig_type]))
            sub = self._raise(dep, dep_want, assigned, depth + 1)
            if sub:
                parts.append(sub[0])
        if parts:
            alts.append(_merge(parts))
        for term in klib.split_expr(sym.rev_dep, klib.OR):
            sel = self._selector(term)
            if isinstance(sel, klib.Symbol) and not sel.is_constant and sel.tri_value < need:
                alts += self._raise(sel, _raised(want, str(klib.TYPE_TO_STR[sel.orig_type])),
                                    assigned, depth + 1)[:1]
        return alts


# --------------------------------------------------------------------------- Linux


@dataclass
class _SymInfo:
    """What a line scan of Kconfig files knows about one symbol."""

    type: str | None = None
    prompt: bool = False
    #: ``(selector, "select"|"imply")``
    selected_by: list[tuple[str, str]] = field(default_factory=list)
    depends: set[str] = field(default_factory=set)
    choice: int | None = None


_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
_NOT_SYMBOLS = {"y", "m", "n", "if", "on"}


def _expr_symbols(expr: str) -> set[str]:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)
    expr = re.sub(r"\$\([^)]*\)", " ", expr)
    return {w for w in _IDENT.findall(expr) if w not in _NOT_SYMBOLS}


def _strip_comment(line: str) -> str:
    in_quote = False
    for i, ch in enumerate(line):
        if ch == '"' and (i == 0 or line[i - 1] != "\\"):
            in_quote = not in_quote
        elif ch == "#" and not in_quote:
            return line[:i]
    return line


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(indent, line)`` with continuations joined and help texts dropped."""
    raw = text.expandtabs(8).splitlines()
    i = 0
    while i < len(raw):
        line = raw[i]
        while line.endswith("\\") and i + 1 < len(raw):
            i += 1
            line = line[:-1] + " " + raw[i].strip()
        i += 1
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped in ("help", "---help---"):
            # Help text runs while lines stay indented at least as deep as its first line.
            j = i
            while j < len(raw) and not raw[j].strip():
                j += 1
            if j < len(raw):
                first = len(raw[j]) - len(raw[j].lstrip())
                if first > indent:
                    while j < len(raw) and (not raw[j].strip() or
                                            len(raw[j]) - len(raw[j].lstrip()) >= first):
                        j += 1
                    i = j
            continue
        yield indent, _strip_comment(stripped).strip()


def scan_kconfig_text(text: str, index: dict[str, _SymInfo], choice_base: int = 0) -> int:
    """Add one Kconfig file's symbols to ``index``; returns the next free choice id.

    A line scan, not a parser: enough to know types, prompts, selectors, dependencies and
    choice membership.  ``if``/``menu`` dependencies are attached to the symbols inside.
    """
    current: _SymInfo | None = None
    current_name = ""
    block_deps: list[set[str]] = []  # if/menu/choice stack
    block_kind: list[str] = []
    pending_menu: set[str] | None = None
    choice_id: int | None = None
    next_choice = choice_base
    for _indent, line in _logical_lines(text):
        if not line:
            continue
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        if word in ("config", "menuconfig") and rest:
            current_name = rest.split()[0]
            current = index.setdefault(current_name, _SymInfo())
            for deps in block_deps:
                current.depends |= deps
            if choice_id is not None:
                current.choice = choice_id
            pending_menu = None
        elif word == "choice":
            choice_id = next_choice
            next_choice += 1
            block_deps.append(set())
            block_kind.append("choice")
            current, pending_menu = None, block_deps[-1]
        elif word == "menu":
            block_deps.append(set())
            block_kind.append("menu")
            current, pending_menu = None, block_deps[-1]
        elif word == "if":
            block_deps.append(_expr_symbols(rest))
            block_kind.append("if")
            current = pending_menu = None
        elif word in ("endif", "endmenu", "endchoice"):
            kind = {"endif": "if", "endmenu": "menu", "endchoice": "choice"}[word]
            while block_kind:
                block_deps.pop()
                if block_kind.pop() == kind:
                    break
            if word == "endchoice":
                choice_id = None
            current = pending_menu = None
        elif word in ("comment", "mainmenu", "source", "osource", "rsource", "orsource"):
            current = pending_menu = None
        elif word == "depends" and rest.startswith("on"):
            deps = _expr_symbols(rest[2:])
            if current is not None:
                current.depends |= deps
            elif pending_menu is not None:
                pending_menu |= deps
        elif current is None:
            continue
        elif word in ("bool", "tristate", "string", "int", "hex"):
            current.type = current.type or word
            current.prompt = current.prompt or rest.startswith('"')
        elif word in ("def_bool", "def_tristate"):
            current.type = current.type or word[4:]
        elif word == "prompt":
            current.prompt = True
        elif word in ("select", "imply") and rest:
            target = index.setdefault(rest.split()[0], _SymInfo())
            target.selected_by.append((current_name, word))
    return next_choice


def scan_kconfig_tree(root: Path) -> dict[str, _SymInfo]:
    """Index every ``Kconfig*`` file of a tree (all architectures; the state filters)."""
    index: dict[str, _SymInfo] = {}
    next_choice = 0
    skip = {".git", "tests"}  # scripts/kconfig/tests holds toy Kconfigs named like real ones
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        for fname in sorted(filenames):
            if fname.startswith("Kconfig"):
                text = Path(dirpath, fname).read_text(encoding="utf-8", errors="replace")
                next_choice = scan_kconfig_text(text, index, next_choice)
    return index


#: Bump when ``_SymInfo`` or what ``scan_kconfig_text`` records changes.
_TREE_INDEX_VERSION = "hdrtest-kconfig-tree-1"


_Row = tuple[str | None, bool, list[tuple[str, str]], list[str], int | None]


def encode_tree_index(index: Mapping[str, _SymInfo]) -> bytes:
    rows = {name: (i.type, i.prompt, i.selected_by, sorted(i.depends), i.choice) for name, i in index.items()}
    return pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)


class TreeIndex(Mapping[str, _SymInfo]):
    """A stored ``scan_kconfig_tree``: symbols are rebuilt when asked for (a run asks for a few dozen of ~20,000)."""

    def __init__(self, rows: dict[str, _Row]) -> None:
        self._rows = rows
        self._built: dict[str, _SymInfo] = {}

    def __getitem__(self, name: str) -> _SymInfo:
        info = self._built.get(name)
        if info is None:
            kind, prompt, selected, depends, choice = self._rows[name]
            info = self._built[name] = _SymInfo(kind, bool(prompt), [(a, b) for a, b in selected], set(depends),
                                                choice)
        return info

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


def decode_tree_index(blob: bytes) -> TreeIndex:
    rows = pickle.loads(blob)
    if not isinstance(rows, dict):
        raise ValueError("damaged Kconfig index")
    return TreeIndex(rows)


_CMD_ENV = re.compile(r'^ifneq "\$\(([A-Za-z_][A-Za-z0-9_]*)\)" "(.*)"$')


def kconfig_env_from_cmd(path: Path) -> dict[str, str]:
    """The environment Kconfig was evaluated with, from ``include/config/auto.conf.cmd``.

    conf records every environment variable its macros read (CC, CC_VERSION_TEXT, SRCARCH,
    ...) as ``ifneq "$(VAR)" "value"`` so make can rerun it when one changes; replaying them
    reproduces the evaluation without make.  Empty when the file is missing.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    env: dict[str, str] = {}
    for line in text.splitlines():
        m = _CMD_ENV.match(line)
        if m:
            env[m.group(1)] = m.group(2)
    return env


def kconfig_fingerprint(root: Path) -> str:
    """Stamps of every Kconfig file conf read last time (``deps_config`` in auto.conf.cmd).

    Part of the disk-cache key: a checkout that edits a Kconfig file must not be answered
    from resolutions made against the old one.  Costs ~1,600 ``stat`` calls on Linux.
    """
    h = hashlib.sha256()
    try:
        text = (root / "include" / "config" / "auto.conf.cmd").read_text(errors="replace")
    except OSError:
        return ""
    h.update(text.encode())
    in_deps = False
    for line in text.splitlines():
        if line.startswith("deps_config :="):
            in_deps = True
            continue
        if in_deps:
            rel = line.strip().rstrip("\\").strip()
            if not rel:
                break
            try:
                st = (root / rel).stat()
                h.update(f"{rel}:{st.st_mtime_ns}:{st.st_size}\n".encode())
            except OSError:
                h.update(f"{rel}:missing\n".encode())
    return h.hexdigest()


def _tree_witnesses(root: Path) -> dict[str, tuple[float, int] | None]:
    """Stamps of the files a misdirected kconfig run would rewrite in the tree."""
    out: dict[str, tuple[float, int] | None] = {}
    for rel in (".config", ".config.old", "include/config/auto.conf",
                "include/generated/autoconf.h", "include/generated/rustc_cfg"):
        try:
            st = (root / rel).stat()
            out[rel] = (st.st_mtime, st.st_size)
        except FileNotFoundError:
            out[rel] = None
    return out


class KernelConfBackend:
    """Evaluate configurations with a Linux tree's own kconfig tools, outside the tree."""

    #: Flips may be asked for from several threads at once (``Flipper.prefetch``).
    concurrent = True

    def __init__(self, root: Path, config: Path, workdir: Path, *, arch: str | None = None,
                 make: str = "make", timeout: float = 300.0, mode: str = "auto") -> None:
        """``mode``: "make" runs ``make -C root olddefconfig``; "conf" runs the tree's built
        ``scripts/kconfig/conf`` directly in a private directory with the environment
        recorded in ``include/config/auto.conf.cmd``; "auto" picks "conf" when both exist.

        "conf" is preferred because Kconfig's ``$(cc-option)`` probes make ``.tmp_PID``
        directories in the working directory: under make that is the tree (created and
        removed again, but still writes), under "conf" it is the private directory.
        """
        self._root = root.resolve()
        self._config_bytes = config.read_bytes()
        self._baseline = parse_dotconfig(self._config_bytes.decode("utf-8", "replace"))
        self._workdir = workdir.resolve()
        self._arch = arch
        self._make = make
        self._timeout = timeout
        conf_env = kconfig_env_from_cmd(self._root / "include" / "config" / "auto.conf.cmd")
        conf_bin = self._root / "scripts" / "kconfig" / "conf"
        if mode == "auto":
            mode = "conf" if conf_env and os.access(conf_bin, os.X_OK) and arch is None \
                else "make"
        if mode not in ("make", "conf"):
            raise ValueError(f"unknown mode {mode!r}")
        if mode == "conf" and not conf_env:
            raise KconfigError(f"{self._root}: no include/config/auto.conf.cmd (run make prepare)")
        self.mode = mode
        self._conf_env = conf_env
        self._index: Mapping[str, _SymInfo] | None = None
        self._lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._memo: dict[tuple[str, str], Resolution | None] = {}
        #: Flips being evaluated, each with the event its other askers wait on.
        self._running: dict[tuple[str, str], threading.Event] = {}
        self._eval_memo: dict[frozenset[Assignment], State] = {}
        #: Wall-clock seconds of each olddefconfig run, for reports and tuning.
        self.timings: list[float] = []
        self._cache_dir = self._workdir / "cache"
        self._fingerprint: str | None = None

    # -- protocol

    def baseline(self) -> dict[str, str]:
        return dict(self._baseline)

    def known(self, option: str) -> bool:
        if macro_name(option) in self._baseline:
            return True  # olddefconfig writes every symbol it gives a value: no need to read Kconfig
        info = self._info(option)
        return info is not None and info.type is not None

    def symbol_type(self, option: str) -> str | None:
        value = self._baseline.get(macro_name(option))
        if value == "m":
            return "tristate"
        if value is not None and value.startswith('"'):
            return "string"
        info = self._info(option)
        return None if info is None else info.type

    def is_tristate(self, option: str) -> bool:
        return self.symbol_type(option) == "tristate"

    def flip(self, option: str, value: str) -> Resolution | None:
        """Thread-safe: different flips evaluate concurrently (each ``conf`` in its own directory);
        a second caller of the same flip waits for the first one's answer."""
        name = macro_name(option)
        requested = OptionSetting(name, normalize_value(value, self.symbol_type(name)))
        key = (requested.name, requested.value)
        while True:
            with self._lock:
                if key in self._memo:
                    return self._memo[key]
                running = self._running.get(key)
                if running is None:
                    running = self._running[key] = threading.Event()
                    break
            running.wait()  # the evaluating thread may fail: then this one tries for itself
        try:
            cached, hit = self._disk_get(requested)
            if not hit:
                cached = self._resolve(requested) if self.known(name) else None
                self._disk_put(requested, cached)
            with self._lock:
                self._memo[key] = cached
            return cached
        finally:
            with self._lock:
                del self._running[key]
            running.set()

    # -- index

    def _info(self, option: str) -> _SymInfo | None:
        if self._index is None:
            with self._index_lock:
                if self._index is None:
                    self._index = self._load_tree_index()
        return self._index.get(symbol_name(option))

    def _tree_index_path(self) -> Path | None:
        if self._fingerprint is None:
            self._fingerprint = kconfig_fingerprint(self._root)
        if not self._fingerprint:
            return None  # no record of which Kconfig files there are: nothing to key a cache by
        h = hashlib.sha256()
        for part in (_TREE_INDEX_VERSION.encode(), str(self._root).encode(), self._fingerprint.encode()):
            h.update(part)
            h.update(b"\0")
        return self._cache_dir / f"tree-{h.hexdigest()}.pickle"

    def _load_tree_index(self) -> Mapping[str, _SymInfo]:
        """``scan_kconfig_tree``, kept on disk under the Kconfig fingerprint (a scan reads ~1,800 files)."""
        path = self._tree_index_path()
        if path is not None:
            try:
                return decode_tree_index(path.read_bytes())
            except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, AttributeError):
                pass  # missing or damaged: scan again
        index = scan_kconfig_tree(self._root)
        if path is not None:
            write_atomic(path, encode_tree_index(index))
        return index

    # -- disk cache

    def _cache_path(self, requested: OptionSetting) -> Path:
        h = hashlib.sha256()
        if self._fingerprint is None:
            self._fingerprint = kconfig_fingerprint(self._root)
        for part in (_CACHE_VERSION.encode(), str(self._root).encode(), self._config_bytes,
                     self._fingerprint.encode(), self.mode.encode(), str(requested).encode()):
            h.update(part)
            h.update(b"\0")
        return self._cache_dir / (h.hexdigest() + ".json")

    def _disk_get(self, requested: OptionSetting) -> tuple[Resolution | None, bool]:
        try:
            data = json.loads(self._cache_path(requested).read_text())
        except (OSError, ValueError):
            return None, False
        if data.get("impossible"):
            return None, True
        return Resolution(
            requested=requested,
            achieved=bool(data["achieved"]),
            via=tuple(OptionSetting(n, v) for n, v in data["via"]),
            changed=tuple((n, o, v) for n, o, v in data["changed"]),
            config_lines=tuple(data["config_lines"]),
            defines=tuple((n, v) for n, v in data["defines"]),
        ), True

    def _disk_put(self, requested: OptionSetting, res: Resolution | None) -> None:
        data: dict[str, object]
        if res is None:
            data = {"impossible": True}
        else:
            data = {"achieved": res.achieved, "via": [[s.name, s.value] for s in res.via],
                    "changed": [list(c) for c in res.changed],
                    "config_lines": list(res.config_lines),
                    "defines": [list(d) for d in res.defines]}
        write_atomic(self._cache_path(requested), json.dumps(data).encode())

    # -- evaluation

    def _evaluate(self, assigns: Assignments) -> State:
        key = frozenset(assigns)
        if not assigns:
            # A .config the build has used is already olddefconfig's fixed point (syncconfig
            # rewrites it otherwise), so the baseline needs no run.
            return self._baseline
        if key in self._eval_memo:
            return self._eval_memo[key]
        (self._workdir / "kconfig").mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix="eval-", dir=self._workdir / "kconfig"))
        try:
            cfg = private / ".config"
            cfg.write_bytes(self._config_bytes)
            if assigns:
                self._run(["bash", str(self._root / "scripts" / "config"), "--file", str(cfg),
                           "--keep-case", *self._config_args(assigns)], private, {})
            before = _tree_witnesses(self._root)
            # conf creates auto.conf/autoconf.h/rustc_cfg when they are missing: point them
            # at the private directory so a configured but unprepared tree stays untouched.
            env = {"KCONFIG_CONFIG": str(cfg),
                   "KCONFIG_AUTOCONFIG": str(private / "auto.conf"),
                   "KCONFIG_AUTOHEADER": str(private / "autoconf.h"),
                   "KCONFIG_RUSTCCFG": str(private / "rustc_cfg")}
            started = time.monotonic()
            if self.mode == "conf":
                env.update(self._conf_env)
                env["srctree"] = str(self._root)
                self._run([str(self._root / "scripts" / "kconfig" / "conf"), "--olddefconfig",
                           str(self._root / env.get("KBUILD_KCONFIG", "Kconfig"))], private, env)
            else:
                argv = [self._make, "-s", "-C", str(self._root), f"KCONFIG_CONFIG={cfg}"]
                if self._arch:
                    argv.append(f"ARCH={self._arch}")
                self._run(argv + ["olddefconfig"], private, env)
            self.timings.append(time.monotonic() - started)
            if _tree_witnesses(self._root) != before:
                raise KconfigError(f"olddefconfig wrote into {self._root}; refusing to go on")
            state = parse_dotconfig(cfg.read_text(encoding="utf-8", errors="replace"))
        finally:
            shutil.rmtree(private, ignore_errors=True)
        self._eval_memo[key] = state
        return state

    def _config_args(self, assigns: Assignments) -> list[str]:
        args: list[str] = []
        for name, value in assigns:
            sym = symbol_name(name)
            sym_type = self.symbol_type(name)
            if value == "y":
                args += ["-e", sym]
            elif value == "m":
                args += ["-m", sym]
            elif value == "n":
                args += ["-d", sym]
            elif sym_type == "string":
                args += ["--set-str", sym, unquote_string(value)]
            else:
                args += ["--set-val", sym, value]
        return args

    def _run(self, argv: list[str], cwd: Path, extra_env: Mapping[str, str]) -> None:
        # A make jobserver inherited from an outer make would confuse the inner one, and a
        # KCONFIG_* variable from the caller's shell must not redirect the output.
        env = {k: v for k, v in os.environ.items()
               if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL") and not k.startswith("KCONFIG_")}
        env.update(extra_env)
        try:
            proc = run(argv, env=env, cwd=cwd, timeout=self._timeout)
        except OSError as e:
            raise KconfigError(f"{argv[0]} failed: {e}") from e
        if proc.timed_out:
            raise KconfigError(f"{argv[0]} did not finish within {self._timeout:g} s")
        if proc.returncode != 0:
            raise KconfigError(f"{' '.join(argv)} exited {proc.returncode}: "
                               f"{proc.err.strip()[-2000:]}")

    # -- search

    def _resolve(self, requested: OptionSetting) -> Resolution | None:
        if self._baseline.get(requested.name, "n") == requested.value:
            return _unchanged(requested)
        info = self._info(requested.name)
        start: Assignments = ((requested.name, requested.value),) \
            if info is not None and info.prompt else ()
        found = _search(requested.name, requested.value, start, self._baseline,
                        self._evaluate, self._expander(requested), MAX_EVALS_KERNEL,
                        first_hit=True)
        return _resolution(requested, found, self._baseline, self.symbol_type)

    def _expander(self, requested: OptionSetting) -> Expand:
        def expand(state: State, assigns: Assignments) -> list[Assignments]:
            assigned = {n for n, _v in assigns}
            current = _TRI.get(state.get(requested.name, "n"))
            if current is not None and requested.value in _TRI and \
                    current > _TRI[requested.value]:
                alts = self._lower(requested.name, requested.value, state, assigned, 0)
            else:
                alts = self._raise(requested.name, requested.value, state, assigned, 0)
            return [_merge([assigns, alt]) for alt in alts if alt]
        return expand

    def _lower(self, name: str, want: str, state: State, assigned: set[str],
               depth: int) -> list[Assignments]:
        info = self._info(name)
        if info is None:
            return []
        if info.prompt and name not in assigned:
            return [((name, _lowered(want, info.type)),)]
        if depth >= MAX_DEPTH:
            return []
        level = _TRI[want]
        alts: list[Assignments] = []
        active = sorted({macro_name(s) for s, kind in info.selected_by
                         if _TRI.get(state.get(macro_name(s), "n"), 0) > level
                         and (kind == "select" or not info.prompt)})
        parts: list[Assignments] = []
        for sel in active:
            sub = self._lower(sel, want, state, assigned, depth + 1)
            if not sub:
                parts = []
                break
            parts.append(sub[0])
        if parts:
            alts.append(_merge(parts))
        for dep in sorted(info.depends):
            if _TRI.get(state.get(macro_name(dep), "n"), 0) > 0:
                alts += self._lower(macro_name(dep), "n", state, assigned, depth + 1)[:1]
        if info.choice is not None and level == 0 and self._index is not None:
            for other, other_info in sorted(self._index.items()):
                if other_info.choice == info.choice and other_info.prompt and \
                        macro_name(other) != name and macro_name(other) not in assigned:
                    alts.append(((macro_name(other), "y"),))
        return alts

    def _raise(self, name: str, want: str, state: State, assigned: set[str],
               depth: int) -> list[Assignments]:
        info = self._info(name)
        if info is None:
            return []
        if info.prompt and name not in assigned:
            value = _raised(want, info.type) if info.type in _TRISTATE_TYPES else want
            return [((name, value),)]
        if depth >= MAX_DEPTH:
            return []
        need = _TRI.get(want, 2)
        parts: list[Assignments] = []
        for dep in sorted(info.depends):
            dname = macro_name(dep)
            if _TRI.get(state.get(dname, "n"), 2) < need:
                sub = self._raise(dname, "y" if need == 2 else "m", state, assigned, depth + 1)
                if sub:
                    parts.append(sub[0])
        alts: list[Assignments] = [_merge(parts)] if parts else []
        if not info.prompt:
            for sel, kind in sorted(info.selected_by):
                if kind == "select" and state.get(macro_name(sel), "n") == "n":
                    alts += self._raise(macro_name(sel), want, state, assigned, depth + 1)[:1]
        return alts


# --------------------------------------------------------------------------- detection


def is_linux_tree(root: Path) -> bool:
    kdir = root / "scripts" / "kconfig"
    return ((kdir / "conf").exists() or (kdir / "Makefile").exists()) and (root / "arch").is_dir()


def detect(root: Path, kconfig: Path | None, config: Path | None,
           workdir: Path) -> KconfigBackend | None:
    """The backend for ``root``, or None for a tree without (usable) Kconfig.

    Raises ``KconfigError`` when a Kconfig is there but kconfiglib cannot parse it: silently
    falling back to plain macro flips would test configurations Kconfig never produces.
    """
    if is_linux_tree(root) and kconfig is None:
        cfg = config or root / ".config"
        return KernelConfBackend(root, cfg, workdir) if cfg.is_file() else None
    kpath = kconfig or root / "Kconfig"
    if not kpath.is_absolute():
        kpath = root / kpath
    cfg = config or root / ".config"
    if kpath.is_file() and cfg.is_file():
        return KconfiglibBackend(root, kpath, cfg)
    return None
