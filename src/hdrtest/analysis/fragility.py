"""Fragile files: where an option can remove a definition that a use still needs.

File F is fragile on option X when one of its uses (``facts``) is compiled under a
condition that does not imply that a suitable definition is present in F's include
closure, and the definitions' conditions name X: remove the ``#else`` stub that covers X
being off, and every header that includes F breaks with X off, though it never names
the thing.  A header's relevant options gain the fragile options of every file in its
closure, each with its reason; the variant compile then confirms or refutes (a refuted
witness is a passing variant, never a failure).

Macros the flags define (``-dM``: the baseline configuration, compiler builtins) are
fixed to their baseline values except option macros, which are free; so are macros some
header defines (``#ifndef arch_foo``) and opaque atoms.  The decision is
``sat.is_satisfiable(use and not any(definition))``; its assignment is the witness.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..macros import defined_macros
from ..relevance import Reason
from ..scan.conditions import FALSE, TRUE, And, Atom, Const, Defined, Formula, Not, OptionFilter, conj, disj
from ..scan.conditions import evaluate, neg, to_c
from ..scan.includes import IncludeGraph
from ..scan.symbols import Definition, SymbolIndex
from . import facts as facts_mod
from ..variants import HeaderPlan, ScanContext, graph_of
from .sat import is_satisfiable


@dataclass(frozen=True)
class Fragility:
    """One fragile use: ``file:line`` needs ``name``, defined only under ``condition``."""

    option: str
    file: str  # display path
    line: int
    name: str
    need: str
    condition: Formula  # the disjunction of the definitions' conditions
    definitions: tuple[str, ...]  # "path:line" of each definition
    witness: tuple[tuple[str, bool], ...]  # option -> defined, a configuration with the use and no definition

    @property
    def reason(self) -> str:
        where = ", ".join(self.definitions[:3]) + (", ..." if len(self.definitions) > 3 else "")
        return f"{self.file}:{self.line} uses {self.name}, defined only when {to_c(self.condition)} ({where})"


def restrict(f: Formula, fixed: Mapping[str, str | None], free: frozenset[str] | set[str],
             options: OptionFilter) -> Formula:
    """``f`` with every macro that is neither an option nor in ``free`` replaced by its ``fixed`` value."""
    if isinstance(f, Const):
        return f
    if isinstance(f, Defined):
        if options.option_of(f.name) is not None or f.name in free:
            return f
        return TRUE if fixed.get(f.name) is not None else FALSE
    if isinstance(f, Atom):
        if any(options.option_of(n) is not None or n in free for n in f.names):
            return f
        value = evaluate(f, fixed)
        return f if value is None else (TRUE if value else FALSE)
    if isinstance(f, Not):
        return neg(restrict(f.f, fixed, free, options))
    parts = [restrict(g, fixed, free, options) for g in f.fs]
    return conj(*parts) if isinstance(f, And) else disj(*parts)


def _display(path: str, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return path


@dataclass
class Analysis:
    """Fragility of the files of one include graph, under one baseline configuration."""

    graph: IncludeGraph
    index: SymbolIndex
    options: OptionFilter
    baseline: Mapping[str, str | None]
    root: Path
    cache_dir: Path | None = None
    _by_file: dict[str, list[Fragility]] = field(default_factory=dict)
    _closures: dict[str, frozenset[str]] = field(default_factory=dict)
    _header_macros: set[str] | None = None

    def header_macros(self) -> set[str]:
        """Macros some indexed file defines: their value depends on what was included, not the flags."""
        if self._header_macros is None:
            self._header_macros = {d.name for f in self.index.files() for d in self.index.definitions_in(f)
                                   if d.kind == "macro"}
        return self._header_macros

    def uses(self, path: str) -> list[facts_mod.Use]:
        digest = self.index.digest(path)
        if digest is None:
            return []
        known = facts_mod.load_uses(self.cache_dir, digest)
        if known is not None:
            return known
        try:
            data = Path(path).read_bytes()
        except OSError:
            return []
        _, scan, _ = self.graph.cache.scan(path, data)
        found = facts_mod.file_uses(data, scan, self.index.definitions_in(path))
        facts_mod.store_uses(self.cache_dir, digest, found)
        return found

    def closure(self, path: str) -> frozenset[str]:
        known = self._closures.get(path)
        if known is None:
            known = self._closures[path] = frozenset(str(p) for p in self.graph.closure(path))
        return known

    def fragile(self, path: str) -> list[Fragility]:
        """The fragile uses of one file, one record per option that can remove the definition."""
        known = self._by_file.get(path)
        if known is None:
            known = self._by_file[path] = self._decide(path)
        return known

    def _decide(self, path: str) -> list[Fragility]:
        out: list[Fragility] = []
        reachable = self.closure(path)
        free = self.header_macros()
        for use in self.uses(path):
            definitions = [d for d in self.index.lookup(use.name) if d.file in reachable and use.satisfied_by(d)]
            if not definitions or any(d.condition == TRUE for d in definitions):
                continue  # missing everywhere is another problem (a missing include), not a configuration's
            out.extend(self._one(path, use, definitions, free))
        return out

    def _one(self, path: str, use: facts_mod.Use, definitions: Sequence[Definition],
             free: set[str]) -> list[Fragility]:
        present = disj(*(restrict(d.condition, self.baseline, free, self.options) for d in definitions))
        options = sorted(self.options.options(present))
        if present == TRUE or not options:
            return []
        where = restrict(use.condition, self.baseline, free, self.options)
        witness = is_satisfiable(conj(where, neg(present)))
        if witness is None:
            return []
        shown = tuple(sorted((n, v) for n, v in witness.items() if self.options.option_of(n) is not None))
        spots = tuple(f"{_display(d.file, self.root)}:{d.line}" for d in definitions)
        condition = disj(*(d.condition for d in definitions))
        return [Fragility(option, _display(path, self.root), use.line, use.name, use.need, condition, spots, shown)
                for option in options]

    def for_header(self, closure_paths: Sequence[Path]) -> list[Fragility]:
        """The fragile uses of every file in a header's closure."""
        out: list[Fragility] = []
        for p in closure_paths:
            out.extend(self.fragile(os.path.normpath(str(p))))
        return out


def closure_reasons(found: Sequence[Fragility], known: Sequence[Reason]) -> list[Reason]:
    """Reasons for the options ``found`` adds to ``known`` (first use per option, nearest file first)."""
    have = {r.option for r in known}
    out: dict[str, Reason] = {}
    for fragility in found:
        if fragility.option not in have and fragility.option not in out:
            out[fragility.option] = Reason(fragility.option, fragility.reason, 1)
    return list(out.values())


def add_closure_fragility(plans: Sequence[HeaderPlan], context: ScanContext, options: OptionFilter, root: Path,
                          cache_dir: Path | None, max_options: int,
                          keep: Callable[[str], bool] | None = None) -> dict[tuple[str, str], Fragility]:
    """Give each plan the fragile options of its header's include closure (within ``max_options``).

    Returns, per (header, option) added, the fragile use behind it (for root-cause reports).
    """
    analyses: dict[int, Analysis] = {}
    behind: dict[tuple[str, str], Fragility] = {}
    for plan in plans:
        job = plan.job
        graph = graph_of(context, job)
        analysis = analyses.get(id(graph))
        if analysis is None:
            baseline: dict[str, str | None] = dict(defined_macros(job))
            analysis = analyses[id(graph)] = Analysis(graph, context.index, options, baseline, root, cache_dir)
        found = analysis.for_header(graph.closure(job.header))
        extra = [r for r in closure_reasons(found, plan.reasons) if keep is None or keep(r.option)]
        room = max(0, max_options - len(plan.reasons))
        plan.reasons = plan.reasons + extra[:room]
        plan.dropped_options += max(0, len(extra) - room)
        first: dict[str, Fragility] = {}
        for fragility in found:
            first.setdefault(fragility.option, fragility)
        behind.update(((job.display, r.option), first[r.option]) for r in extra[:room])
    return behind
