"""Does a failing configuration break a real build, or only the header test?

A header's failure matters to a real build when some translation unit that reads it
is compiled in that configuration.  The compile database lists the units; an include
scan finds the ones that may reach it (every ``#include`` line, whatever guards it);
what a unit's compile really reads in the configuration comes from its dependency
list or a ``-M`` run (``graph.reads``), never from the scan alone; in a Kbuild tree
the ``obj-$(CONFIG_…)`` / ``foo-$(CONFIG_…)`` lines of the Makefiles say under which
configuration each unit is built.  When what a unit reads is not known, neither is
the verdict.  The kernel fixes header-test-only failures with stubs too, so they are
still reported, only labelled.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .compdb import Entry
from .fixes.edits import shown_path
from .graph.includes import IncludeGraph, load_graph
from .graph.reads import UnitReads
from .graph.resolve import Chains, SearchPath
from .graph.store import GraphStore
from .makefile import logical_lines
from .models import BASELINE, Variant
from .scan.formula import TRUE, Defined, Formula, conj, disj, evaluate, false_leaves, to_c

REAL_BUILD = "real-build"
HEADER_TEST_ONLY = "header-test-only"
#: Units per failing header whose compile is preprocessed (-M) to learn whether it reads the header.
MAX_PREPROCESSED = 16

_MAKEFILES = ("Kbuild", "Makefile")
# "obj-$(CONFIG_FOO) += a.o b/", "kvmgt-y := x.o", "i915-objs += ...", with continuations joined.
_RULE = re.compile(r"^\s*(?P<target>[A-Za-z0-9_.\-]+)-(?P<sel>\$\((?P<cfg>CONFIG_[A-Za-z0-9_]+)\)|y|m|objs)"
                   r"\s*(?:\+=|:=|=)\s*(?P<rhs>.*)$")


@dataclass(frozen=True)
class Rule:
    makefile: Path
    line: int
    target: str  # "obj" or a composite object's name ("kvmgt")
    condition: Formula  # TRUE for "-y" / "-objs"
    tokens: tuple[str, ...]


@dataclass
class Kbuild:
    """Makefile rules of a tree, read on demand and kept per directory."""

    root: Path
    _rules: dict[Path, list[Rule]] = field(default_factory=dict)
    #: Per rule, what each of its tokens names (from every base it may be relative to) -> that base.
    _named: dict[Rule, tuple[dict[str, Path], dict[str, Path]]] = field(default_factory=dict)
    _conditions: dict[Path, Formula | None] = field(default_factory=dict)

    def rules_in(self, directory: Path) -> list[Rule]:
        if directory not in self._rules:
            self._rules[directory] = [rule for name in _MAKEFILES if (directory / name).is_file()
                                      for rule in parse_rules(directory / name)]
        return self._rules[directory]

    def is_kbuild(self, unit: Path) -> bool:
        """Whether any Makefile from the unit's directory up to the root has Kbuild rules."""
        return any(self.rules_in(d) for d in self._up(unit.parent))

    def _up(self, directory: Path) -> list[Path]:
        """``directory`` and its parents up to the root; only ``directory`` when it is outside the root."""
        if self.root not in directory.parents:
            return [directory]
        return [directory, *directory.parents[:len(directory.parents) - len(self.root.parents)]]

    def object_condition(self, obj: Path, depth: int = 0) -> Formula | None:
        """When ``obj`` (an absolute ``.o`` path or a ``dir/`` path) is built; None if no rule names it."""
        if depth > 12:
            return None
        if obj not in self._conditions:
            self._conditions[obj] = self._object_condition(obj, depth)
        return self._conditions[obj]

    def _object_condition(self, obj: Path, depth: int) -> Formula | None:
        found: list[Formula] = []
        is_dir = obj.suffix != ".o"
        for directory in self._up(obj.parent):
            for rule in self.rules_in(directory):
                base = self._matching_base(rule, obj, is_dir)
                if base is None:
                    continue
                if rule.target in ("obj", "lib", "core", "drivers", "subdir"):
                    found.append(conj(rule.condition, self.directory_condition(base, depth + 1)))
                else:
                    composite = self.object_condition(base / (rule.target + ".o"), depth + 1)
                    found.append(conj(rule.condition, composite if composite is not None else TRUE))
            if found:
                break
        return disj(*found) if found else None

    def directory_condition(self, directory: Path, depth: int = 0) -> Formula:
        """When Kbuild descends into ``directory``.

        A directory no Makefile names (the top-level ones come from the main Makefile's
        own variables) takes its parent's condition: it cannot be built more often.
        """
        if directory == self.root or self.root not in directory.parents or depth > 12:
            return TRUE
        found = self.object_condition(directory / "", depth)
        return found if found is not None else self.directory_condition(directory.parent, depth + 1)

    def _matching_base(self, rule: Rule, obj: Path, is_dir: bool) -> Path | None:
        """The directory a rule's token is relative to, when one of its tokens names ``obj``.

        A Makefile included from its parent's (i915's gvt/Makefile) spells objects
        relative to the parent, so every ancestor of the Makefile is tried.
        """
        named = self._named.get(rule)
        if named is None:
            files: dict[str, Path] = {}
            dirs: dict[str, Path] = {}
            bases = self._up(rule.makefile.parent)
            for token in rule.tokens:
                into = dirs if token.endswith("/") else files
                for base in bases:
                    into.setdefault(os.path.normpath(os.path.join(base, token.rstrip("/"))), base)
            named = self._named[rule] = (files, dirs)
        return named[1 if is_dir else 0].get(str(obj).rstrip("/"))


def parse_rules(path: Path) -> list[Rule]:
    """The ``X-$(CONFIG_Y) += objs`` lines of one Makefile."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    rules: list[Rule] = []
    for start, logical in logical_lines(text):
        match = _RULE.match(logical)
        if match is None:
            continue
        tokens = tuple(t for t in match.group("rhs").split() if t.endswith((".o", "/")) and "$" not in t)
        if not tokens:
            continue
        cfg = match.group("cfg")
        condition = disj(Defined(cfg), Defined(cfg + "_MODULE")) if cfg else TRUE
        rules.append(Rule(path, start, match.group("target"), condition, tokens))
    return rules


def unit_condition(unit: Path, kbuild: Kbuild) -> Formula | None:
    """When a translation unit is compiled; None outside Kbuild (always built, as far as we know)."""
    if not kbuild.is_kbuild(unit):
        return None
    found = kbuild.object_condition(unit.with_suffix(".o"))
    return found if found is not None else kbuild.directory_condition(unit.parent)


def unbuilt_reason(header: Path, macros: Callable[[], Mapping[str, str | None]], kbuild: Kbuild) -> str | None:
    """Why no build compiles ``header`` in the configuration ``macros()``: Kbuild does not enter its directory.

    None when it does, when that is unknown, or outside Kbuild (``macros`` is only asked then).
    """
    if not kbuild.is_kbuild(header):
        return None
    built_when = kbuild.directory_condition(header.parent)
    if built_when == TRUE or evaluate(built_when, macros()) is not False:
        return None
    return (f"Kbuild does not build {shown_path(header.parent, kbuild.root)}/ in this configuration "
            f"(needs {to_c(built_when)}): nothing compiles the header here, so no verdict on it is established")


class UnitGraphs:
    """The include graphs of a compile database's units, one per search path, built once and shared.

    Reaching a header along any branch is all triage asks, so these are the change
    graphs (every ``#include`` line, whatever guards it), kept in ``store`` between runs.
    """

    def __init__(self, entries: Sequence[Entry], store: GraphStore | None = None) -> None:
        self.entries = list(entries)
        self.store = store
        self._graphs: list[tuple[IncludeGraph, list[Entry]]] | None = None
        #: What each unit's compile reads, per configuration, shared by every header judged.
        self.reads = UnitReads()
        self._reaching: dict[str, list[Entry]] | None = None

    def graphs(self) -> list[tuple[IncludeGraph, list[Entry]]]:
        if self._graphs is None:
            groups: dict[Chains, list[Entry]] = {}
            for entry in self.entries:
                chains = Chains.of(SearchPath.from_flags(entry.flags, entry.directory))
                groups.setdefault(chains, []).append(entry)
            self._graphs = [(load_graph(chains, [str(e.file) for e in group], self.store), group)
                            for chains, group in groups.items()]
        return self._graphs

    def reaching(self, header: Path) -> list[Entry]:
        """``including``, answered from one forward walk per unit: cheap when asked for every header of a tree."""
        if self._reaching is None:
            index: dict[str, list[Entry]] = {}
            for graph, group in self.graphs():
                for entry in group:
                    for path in graph.reach([os.path.normpath(entry.file)]):
                        index.setdefault(path, []).append(entry)
            self._reaching = index
        return list(self._reaching.get(os.path.normpath(header), []))

    @property
    def scanned(self) -> int:
        """Files read to build the graphs (for tests and measurements)."""
        return sum(graph.rescanned for graph, _ in self._graphs or [])

    def including(self, header: Path) -> list[Entry]:
        """Units whose include closure (every branch) reaches ``header``."""
        target = os.path.normpath(header)
        found: list[Entry] = []
        for graph, group in self.graphs():
            reaching = graph.reach_back([target])
            found.extend(e for e in group if os.path.normpath(e.file) in reaching)
        return found


@dataclass(frozen=True)
class Verdict:
    label: str | None  # REAL_BUILD, HEADER_TEST_ONLY, or None when unknown
    message: str
    built: tuple[str, ...] = ()  # units built in this configuration that read the header


def _closest_first(units: Sequence[Entry], header: Path) -> list[Entry]:
    """Units nearest the header first: the ones most likely to read it are asked first."""
    return sorted(units, key=lambda e: (-len(os.path.commonpath([str(e.file.parent), str(header.parent)])),
                                        str(e.file)))


@dataclass
class _Tally:
    built: list[str] = field(default_factory=list)
    how: list[str] = field(default_factory=list)
    not_built: list[str] = field(default_factory=list)
    off: list[str] = field(default_factory=list)
    not_read: list[str] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    unexamined: int = 0


def _tally(header: Path, units: Sequence[Entry], values: Mapping[str, str | None], root: Path, kb: Kbuild,
           reads: UnitReads, variant: Variant) -> _Tally:
    tally = _Tally()
    budget = reads.runs + MAX_PREPROCESSED
    for entry in _closest_first(units, header):
        condition = unit_condition(entry.file, kb)
        shown = shown_path(entry.file, root)
        built = True if condition is None else evaluate(condition, values)
        if built is False and condition is not None:
            tally.not_built.append(shown)
            # the options whose being unset leaves the unit out (CONFIG_X for defined(CONFIG_X) || ..._MODULE)
            tally.off.extend(leaf.name if isinstance(leaf, Defined) else to_c(leaf)
                             for leaf in false_leaves(condition, values))
            continue
        settled = bool(tally.built)  # one unit that is built and reads it settles the verdict: no more -M runs
        if reads.runs >= budget and not settled:
            tally.unexamined += 1
            continue
        read, how = reads.reads(entry, header, variant, run_if_needed=not settled and reads.runs < budget)
        if settled and read is None:
            continue
        if read is False:
            tally.not_read.append(shown)
        elif read is None:
            tally.unknown.append((shown, how))
        elif built is None:
            tally.unknown.append((shown, "whether it is built here is unknown"))
        else:
            tally.built.append(shown)
            tally.how.append(how)
    return tally


def triage(header: Path, entries: Sequence[Entry], values: Mapping[str, str | None], root: Path, *,
           preferred: Iterable[str] = (), kbuild: Kbuild | None = None, graphs: UnitGraphs | None = None,
           variant: Variant = BASELINE) -> Verdict:
    """Judge one header failing in ``variant``, whose configuration is ``values`` (macro name -> value).

    ``preferred`` are option names to mention first when saying which options keep
    the units from being built (the variant's own changes).  ``graphs``: the units' include
    graphs, and what they read, when several headers are judged against the same database.
    """
    graphs = graphs or UnitGraphs(entries)
    units = graphs.including(header)
    if not units:
        return Verdict(None, "no translation unit in the compile database includes it; "
                             "whether a real build breaks is unknown")
    tally = _tally(header, units, values, root, kbuild or Kbuild(root), graphs.reads, variant)
    if tally.built:
        return Verdict(REAL_BUILD, f"real build breaks: {tally.built[0]} reads it here ({tally.how[0]}) and is "
                                   "built in this configuration", tuple(tally.built))
    if tally.unknown or tally.unexamined:
        if tally.unknown:
            unit, why = tally.unknown[0]
            detail = f"{unit} may include it, and {why}"
        else:
            detail = f"{tally.unexamined} unit(s) that may include it were not examined"
        return Verdict(None, f"whether a real build breaks is unknown: {detail}")
    return Verdict(HEADER_TEST_ONLY, _test_only_message(tally, preferred))


def _test_only_message(tally: _Tally, preferred: Iterable[str]) -> str:
    parts: list[str] = []
    if tally.not_built:
        wanted = set(preferred)
        names = sorted(dict.fromkeys(tally.off), key=lambda n: n not in wanted)  # stable: preferred ones first
        when = f"when {_join(names)} {'is' if len(names) == 1 else 'are'} off" if names else "in this configuration"
        parts.append(f"no translation unit that includes it is built {when}; {len(tally.not_built)} including "
                     f"unit(s), e.g. {tally.not_built[0]}")
    if tally.not_read:
        parts.append(f"{len(tally.not_read)} built unit(s) do not read it in this configuration, "
                     f"e.g. {tally.not_read[0]}")
    return "header-test-only (" + "; ".join(parts) + ")"


def _join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    if len(names) > 3:
        names = names[:3] + [f"{len(names) - 3} other(s)"]
    return ", ".join(names[:-1]) + " and " + names[-1]
