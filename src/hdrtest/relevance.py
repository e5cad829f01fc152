"""Which configuration options matter for a header, and why.

A Linux header's include closure names thousands of options; flipping each is
hopeless.  An option matters for header H when:

* H's own conditionals test it;
* a name H uses (a field's type, a function it calls, a macro it expands) has
  definitions in H's include closure only under conditions on it — a name defined in
  every configuration (unconditionally, or in both ``#ifdef`` and ``#else``) cannot go
  missing, so its guards do not matter; names used by the bodies of macros, inline
  functions and typedefs H uses are followed the same way, a few levels deep;
* a change being checked touched a conditional block on it in a file of H's closure.

Pure functions over a scanned include graph and a symbol index.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .fixes import shown_path
from .scan.cindex import Definition
from .scan.formula import TRUE, Formula, evaluate, macros
from .scan.options import OptionFilter
from .scan.symbols import SymbolIndex

#: Kinds whose bodies are compiled or expanded where they are used.
_FOLLOWED_KINDS = {"macro", "function", "typedef"}
#: Brute-force coverage check limit (2**N assignments).
_MAX_COVERAGE_VARS = 12


@dataclass(frozen=True)
class Reason:
    option: str
    why: str
    #: 0: H's own conditional or a touched block; 1: a name H uses; 2+: reached through a body.
    depth: int


def covered(conditions: Sequence[Formula]) -> bool:
    """True when some definition exists in every configuration (the disjunction is a tautology).

    Opaque comparisons count as possibly true: a false alarm on them would send
    hdrtest flipping options that a value test, not a presence test, depends on.
    """
    if any(c == TRUE for c in conditions):
        return True
    names = sorted(set().union(*(macros(c) for c in conditions)))
    if not conditions or len(names) > _MAX_COVERAGE_VARS:
        return False
    for values in itertools.product((False, True), repeat=len(names)):
        assignment = {n: ("1" if v else None) for n, v in zip(names, values)}
        if not any(evaluate(c, assignment) in (True, None) for c in conditions):
            return False
    return True


def relevant_options(
    header_display: str,
    own_conditions: Sequence[tuple[int, Formula]],
    used_names: Iterable[str],
    closure: set[str],
    index: SymbolIndex,
    options: OptionFilter,
    root: Path,
    *,
    touched: Mapping[str, str] | None = None,
    max_depth: int = 3,
    max_names: int = 20000,
) -> list[Reason]:
    """Relevant options for one header, most direct first, each with its reason.

    ``own_conditions`` are (line, formula) of the header's own ``#if`` branches;
    ``closure`` the absolute paths of the files the header may include; ``touched``
    maps options guarding blocks a change edited (in the closure) to a reason.
    """
    found: dict[str, Reason] = {}
    for line, formula in own_conditions:
        for option in sorted(options.options(formula)):
            _add(found, Reason(option, f"{header_display}:{line} tests it", 0))
    for option, why in (touched or {}).items():
        _add(found, Reason(option, why, 0))

    seen: set[str] = set()
    frontier = sorted(set(used_names))
    user = {name: header_display for name in frontier}
    for depth in range(1, max_depth + 1):
        following: set[str] = set()
        for name in frontier:
            if name in seen or len(seen) >= max_names:
                continue
            seen.add(name)
            definitions = [d for d in index.lookup(name) if d.file in closure]
            if definitions:
                for reason in _guard_reasons(name, definitions, options, root, user[name], depth):
                    _add(found, reason)
                following |= _uses_to_follow(name, definitions, seen, user)
        frontier = sorted(following)
        if not frontier:
            break
    return sorted(found.values(), key=lambda r: (r.depth, r.option))


def _add(found: dict[str, Reason], reason: Reason) -> None:
    """Keep the most direct reason per option (the first one found at that depth)."""
    if reason.option not in found or found[reason.option].depth > reason.depth:
        found[reason.option] = reason


def _guard_reasons(name: str, definitions: Sequence[Definition], options: OptionFilter, root: Path, user: str,
                   depth: int) -> Iterator[Reason]:
    """The options guarding ``name``'s definitions, unless some definition exists in every configuration."""
    if covered([d.condition for d in definitions]):
        return
    for definition in definitions:
        for option in sorted(options.options(definition.condition)):
            where = f"{shown_path(Path(definition.file), root)}:{definition.line}"
            yield Reason(option, f"it guards {definition.kind} '{name}' ({where}), used by {user}", depth)


def _uses_to_follow(name: str, definitions: Sequence[Definition], seen: set[str], user: dict[str, str]) -> set[str]:
    """Names used by the bodies of ``name``'s macro, inline function or typedef definitions, not reached before."""
    following: set[str] = set()
    for definition in definitions:
        if definition.kind in _FOLLOWED_KINDS:
            for used in definition.uses:
                if used not in seen and used not in user:
                    user[used] = f"'{name}'"
                    following.add(used)
    return following
