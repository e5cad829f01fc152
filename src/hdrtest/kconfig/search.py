"""The one search: breadth-first over sets of user-visible assignments.

A backend evaluates (assignments -> the whole resulting configuration) and proposes the
next assignments to try (``Expand``); the search keeps at most ``MAX_DEPTH`` rounds,
prefers the fewest assignments, then prunes greedily.  Everything it reports comes from an
evaluation's read-back, never from what was asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hdrtest.models import OptionSetting

from .values import (Assignment, Assignments, Resolution, State, config_line, defines_for_changes,
                     diff_states)

#: Rounds of the search: each round adds the options that still hold the target up.
MAX_DEPTH = 3
#: Bound on configurations evaluated per request (kconfiglib and the kernel helper: cheap;
#: the kernel's conf: seconds each).
MAX_EVALS_KCONFIGLIB = 200
MAX_EVALS_HELPER = 100
MAX_EVALS_KERNEL = 10

def lowered(want: str, sym_type: str | None) -> str:
    """Value to give a selector so that it selects at most ``want``."""
    return "m" if want == "m" and sym_type == "tristate" else "n"


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


def to_resolution(
    requested: OptionSetting, found: Found | None, baseline: State,
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


def unchanged(requested: OptionSetting) -> Resolution:
    return Resolution(requested=requested, achieved=True)
