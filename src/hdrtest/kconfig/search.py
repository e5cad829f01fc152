"""The one search: breadth-first over sets of user-visible assignments.

A backend evaluates (assignments -> the whole resulting configuration) and proposes the
next assignments to try (``Expand``); the search keeps at most ``MAX_DEPTH`` rounds,
prefers the fewest assignments, then prunes greedily.  Everything it reports comes from an
evaluation's read-back, never from what was asked for.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from hdrtest.models import OptionSetting

from .values import (
    TRI,
    TRISTATE_TYPES,
    Assignment,
    Assignments,
    Resolution,
    State,
    config_line,
    defines_for_changes,
    diff_states,
)

#: Rounds of the search: each round adds the options that still hold the target up.
MAX_DEPTH = 3
#: Bound on configurations evaluated per request (kconfiglib and the kernel helper: cheap;
#: the kernel's conf: seconds each).
MAX_EVALS_KCONFIGLIB = 200
MAX_EVALS_HELPER = 100
MAX_EVALS_KERNEL = 10

def raised(want: str, sym_type: str | None) -> str:
    """Value to give a dependency so that it allows ``want``."""
    return want if sym_type == "tristate" and want in ("m", "y") else "y"


def merge(parts: Sequence[Assignments]) -> Assignments:
    seen: dict[str, str] = {}
    for part in parts:
        for name, value in part:
            seen.setdefault(name, value)
    return tuple(seen.items())


Evaluate = Callable[[Assignments], State]
#: Called right after ``evaluate`` of the same assignments (backends may rely on that).
Expand = Callable[[State, Assignments], list[Assignments]]


@dataclass
class Found:
    assignments: Assignments
    state: State


def search(
    target: str, want: str, start: Assignments, baseline: State,
    evaluate: Evaluate, expand: Expand, max_evals: int, first_hit: bool = False,
) -> Found | None:
    """Breadth-first over assignment sets: fewest rounds first, then fewest changes.

    ``first_hit`` stops a round at its first success instead of comparing all of them
    (alternatives come best first; worth it when one evaluation costs seconds).
    """
    evals = 0
    seen: set[frozenset[Assignment]] = set()
    level: list[Assignments] = [start]
    for _depth in range(MAX_DEPTH + 1):
        hits: list[Found] = []
        following: list[Assignments] = []
        for assigns in level:
            key = frozenset(assigns)
            if key in seen or evals >= max_evals:
                continue
            seen.add(key)
            state = evaluate(assigns)
            evals += 1
            if state.get(target, "n") == want:
                hits.append(Found(assigns, state))
                if first_hit:
                    break
            elif not hits:
                following += expand(state, assigns)
        if hits:
            best = min(hits, key=lambda f: (len(f.assignments),
                                            len(diff_states(baseline, f.state))))
            return prune(target, want, best, evaluate, max_evals - evals)
        level = following
        if not level or evals >= max_evals:
            break
    return None


def prune(target: str, want: str, found: Found, evaluate: Evaluate, budget: int) -> Found:
    """Drop assignments that turn out unnecessary (a select whose ``if`` was false, say)."""
    current = found
    for item in found.assignments:
        if len(current.assignments) <= 1 or budget <= 0:
            break
        trial = tuple(a for a in current.assignments if a != item)
        state = evaluate(trial)
        budget -= 1
        if state.get(target, "n") == want:
            current = Found(trial, state)
    return current


def resolve(requested: OptionSetting, baseline: State, prompt: bool, evaluate: Evaluate, model: SymbolModel,
            types: Callable[[str], str | None], max_evals: int, first_hit: bool = False) -> Resolution | None:
    """A flip through the one search: the assignments that give ``requested``, read back from evaluations."""
    if baseline.get(requested.name, "n") == requested.value:
        return Resolution(requested=requested, achieved=True)
    start: Assignments = ((requested.name, requested.value),) if prompt else ()
    found = search(requested.name, requested.value, start, baseline, evaluate,
                   expander(model, requested.name, requested.value), max_evals, first_hit)
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


# --------------------------------------------------------------------------- what to try next


@dataclass(frozen=True)
class SymbolFacts:
    """What the search needs to know about one symbol, in the state just evaluated.

    Backends answer from their own knowledge (kconfiglib's expressions, or a scan of the
    Kconfig files plus the evaluated values); the search itself is the same for all.
    """

    type: str | None
    #: Has a prompt somewhere: a user can set it (when visible).
    prompt: bool
    #: Its prompt is visible now (a backend that cannot tell says ``prompt``).
    visible: bool
    #: ``(selector or None when not a plain symbol, "select"|"imply", value 0/1/2 of the term now)``
    selectors: tuple[tuple[str | None, str, int], ...] = ()
    #: Symbols its ``depends on`` names.
    depends: tuple[str, ...] = ()
    #: Symbols the conditions of its prompt name (raising needs them too).
    prompt_depends: tuple[str, ...] = ()
    #: Symbols of the first default whose condition holds now, and of that condition.
    default_symbols: tuple[str, ...] = ()
    #: Other members of its choice a user could pick instead.
    choice_alternatives: tuple[str, ...] = ()


class SymbolModel(Protocol):
    def facts(self, name: str, state: State) -> SymbolFacts | None:
        """``name`` with the CONFIG_ prefix; None for a symbol the model does not know."""


def _tri(state: State, name: str) -> int:
    return TRI.get(state.get(name, "n"), 0)


def expander(model: SymbolModel, target: str, want: str) -> Expand:
    """Next assignment sets to try: lower what holds ``target`` up, or raise what holds it down."""
    def expand(state: State, assigns: Assignments) -> list[Assignments]:
        assigned = {n for n, _v in assigns}
        facts = model.facts(target, state)
        current = TRI.get(state.get(target, "n"))
        if facts is not None and facts.type in TRISTATE_TYPES and current is not None and want in TRI \
                and current > TRI[want]:
            alts = lower(model, target, want, state, assigned, 0)
        else:
            alts = raise_(model, target, want, state, assigned, 0)
        return [merge([assigns, alt]) for alt in alts if alt]
    return expand


def lower(model: SymbolModel, name: str, want: str, state: State, assigned: set[str],
          depth: int) -> list[Assignments]:
    """Alternatives, best first, each a set of assignments that may bring ``name`` to ``want`` or lower."""
    facts = model.facts(name, state)
    if facts is None:
        return []
    if facts.visible and name not in assigned:
        return [((name, "m" if want == "m" and facts.type == "tristate" else "n"),)]  # at most ``want``
    if depth >= MAX_DEPTH:
        return []
    level = TRI[want]
    alts: list[Assignments] = []
    # Every active select (and, for a symbol a user cannot set, imply) must go.
    active = list(dict.fromkeys(sel for sel, kind, value in facts.selectors
                                if value > level and (kind == "select" or not facts.visible)))
    subs = (lower(model, sel, want, state, assigned, depth + 1) if sel is not None else [] for sel in active)
    parts = [sub[0] for sub in itertools.takewhile(bool, subs)]  # stops at the first selector it cannot lower
    if active and len(parts) == len(active):
        alts.append(merge(parts))
    # Or cut a dependency, or what its default follows.
    for dep in facts.depends:
        if _tri(state, dep) > 0:
            alts += lower(model, dep, "n", state, assigned, depth + 1)[:1]
    for item in facts.default_symbols:
        if _tri(state, item) > level:
            alts += lower(model, item, want, state, assigned, depth + 1)[:1]
    if level == 0:
        alts += [((other, "y"),) for other in facts.choice_alternatives if other != name and other not in assigned]
    return alts


def raise_(model: SymbolModel, name: str, want: str, state: State, assigned: set[str],
           depth: int) -> list[Assignments]:
    """Alternatives, best first, each a set of assignments that may bring ``name`` up to ``want``."""
    facts = model.facts(name, state)
    if facts is None:
        return []
    if facts.prompt and name not in assigned:
        return [((name, raised(want, facts.type) if facts.type in TRISTATE_TYPES else want),)]
    if depth >= MAX_DEPTH:
        return []
    need = TRI.get(want, 2)
    parts: list[Assignments] = []
    for dep in sorted(set(facts.depends) | set(facts.prompt_depends)):
        if _tri(state, dep) < need:
            dep_facts = model.facts(dep, state)
            dep_want = raised("y" if need == 2 else "m", dep_facts.type if dep_facts else None)
            sub = raise_(model, dep, dep_want, state, assigned, depth + 1)
            if sub:
                parts.append(sub[0])
    alts: list[Assignments] = [merge(parts)] if parts else []
    for sel, kind, _value in facts.selectors:
        if sel is not None and kind == "select" and _tri(state, sel) < need:
            sel_facts = model.facts(sel, state)
            alts += raise_(model, sel, raised(want, sel_facts.type if sel_facts else None), state, assigned,
                           depth + 1)[:1]
    return alts
