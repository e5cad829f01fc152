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

from ..fixes import shown_path
from ..graph.includes import IncludeGraph
from ..kbuild_flags import ABI_OPTIONS
from ..kconfig import Resolution
from ..macros import defined_macros
from ..relevance import Reason
from ..scan.cindex import Definition
from ..scan.formula import FALSE, TRUE, And, Atom, Const, Defined, Formula, Not, conj, disj, evaluate, neg, to_c
from ..scan.formula import macros as macros_of
from ..scan.options import OptionFilter
from ..scan.scancache import read_bytes
from ..scan.symbols import SymbolIndex
from ..variants import Flipper, HeaderPlan, ScanContext, graph_of
from . import facts as facts_mod
from .expansion import made_definitions, pasted_names
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
    #: The macros whose expansion at ``file:line`` names ``name``, outermost first (empty: named there).
    via: tuple[str, ...] = ()
    #: How many options the definitions' presence depends on, the flags' other macros fixed: 1 is a
    #: definition under that option alone, the shape of a missing ``#else`` stub.
    guards: int = 1
    #: When the use is compiled and no suitable definition is present, the flags' other macros fixed and the
    #: options free: what a configuration must satisfy to be a witness (``witness_holds``).
    broken: Formula = TRUE

    @property
    def rank(self) -> tuple[int, bool]:
        """Evidence first: fewer options behind the definitions (a presence spread over several options is where
        the modelled configuration is likeliest to differ from what Kconfig builds), then a flip that turns the
        option off (the side an ``#else`` stub covers) before one that turns it on."""
        return self.guards, dict(self.witness).get(self.option, False)

    @property
    def reason(self) -> str:
        where = ", ".join(self.definitions[:3]) + (", ..." if len(self.definitions) > 3 else "")
        through = f" through {' -> '.join(self.via)}" if self.via else ""
        return (f"{self.file}:{self.line} uses {self.name}{through}, defined only when {to_c(self.condition)} "
                f"({where})")


#: How deep a header macro's own definition conditions are followed.
_MACRO_DEPTH = 2

#: How many macro bodies deep a use is followed: a macro whose body names a macro whose body names a
#: macro whose body names the thing that can go missing.
EXPANSION_DEPTH = 3

#: How many includers up a file is followed to learn when the closure includes it at all.
_ENTRY_DEPTH = 4

#: An inclusion condition naming more options than this is taken as always true: it errs towards a
#: definition being present (a fragility missed), never towards a false one, and keeps the SAT queries small.
_ENTRY_MAX_OPTIONS = 8

#: A header macro's meaning in a condition: a formula, or None when it stays a free variable.
MacroMeaning = Callable[[str, int], "Formula | None"]


def restrict(f: Formula, fixed: Mapping[str, str | None], meaning: MacroMeaning, options: OptionFilter,
             depth: int = 0) -> Formula:
    """``f`` with the flags' macros fixed to their baseline values, options free, and header macros
    replaced by ``meaning`` (the conditions under which the headers define them)."""
    if isinstance(f, Const):
        return f
    if isinstance(f, Defined):
        if options.option_of(f.name) is not None:
            return f
        if f.name in fixed:
            return TRUE if fixed[f.name] is not None else FALSE
        found = meaning(f.name, depth)
        return f if found is None else found
    if isinstance(f, Atom):
        if any(options.option_of(n) is not None or n not in fixed for n in f.names):
            return f
        value = evaluate(f, fixed)
        return f if value is None else (TRUE if value else FALSE)
    if isinstance(f, Not):
        return neg(restrict(f.f, fixed, meaning, options, depth))
    parts = [restrict(g, fixed, meaning, options, depth) for g in f.fs]
    return conj(*parts) if isinstance(f, And) else disj(*parts)


@dataclass
class Analysis:
    """Fragility of the files of one include graph, under one baseline configuration."""

    graph: IncludeGraph
    index: SymbolIndex
    options: OptionFilter
    baseline: Mapping[str, str | None]
    root: Path
    cache_dir: Path | None = None
    #: What file-scope invocations of pasting macros define, by name (``expansion.made_definitions``).
    made: Mapping[str, Sequence[Definition]] = field(default_factory=dict)
    _by_file: dict[str, list[Fragility]] = field(default_factory=dict)
    _closures: dict[str, frozenset[str]] = field(default_factory=dict)
    #: The closure the macro meanings of the file being decided are taken from.
    _reachable: frozenset[str] = frozenset()
    _meanings: dict[tuple[frozenset[str], str, int], Formula | None] = field(default_factory=dict)
    _entries: dict[tuple[str, int], Formula] = field(default_factory=dict)
    _arounds: dict[str, frozenset[str]] = field(default_factory=dict)
    _presence: dict[Definition, Formula] = field(default_factory=dict)

    def entered(self, path: str, depth: int = 0) -> Formula:
        """When the graph's files include ``path`` at all: over its includers, the ``#include``'s condition and,
        ``_ENTRY_DEPTH`` includers up, the includer's own.

        A definition's condition is local to its file: page_32_types.h defines ``__PAGE_OFFSET``
        unconditionally, but only a 32-bit build includes that file.  A file nobody includes (the header
        checked, a forced include) is always there; an ``#include`` whose condition names a macro other
        than an option (``__ASSEMBLY__``) counts as taken.
        """
        key = (path, depth)
        known = self._entries.get(key)
        if known is not None:
            return known
        parts: list[Formula] = []
        if depth < _ENTRY_DEPTH:
            for includer in sorted(str(p) for p in self.graph.includers(path)):
                for edge in self.graph.edges(includer):
                    if edge.target is not None and os.path.normpath(str(edge.target)) == path:
                        parts.append(conj(self._taken(edge.condition), self.entered(includer, depth + 1)))
                if parts and parts[-1] == TRUE:
                    break
        found = disj(*parts) if parts else TRUE
        if len(macros_of(found)) > _ENTRY_MAX_OPTIONS:
            found = TRUE
        self._entries[key] = found
        return found

    def _taken(self, condition: Formula) -> Formula:
        """An ``#include``'s condition with the flags' macros fixed; TRUE when it names a macro that is no option."""
        fixed = restrict(condition, self.baseline, lambda _name, _depth: None, self.options)
        return fixed if all(self.options.option_of(m) is not None for m in macros_of(fixed)) else TRUE

    def present(self, definition: Definition) -> Formula:
        """When ``definition`` is there: its condition in its file, and the file included."""
        known = self._presence.get(definition)
        if known is None:
            known = self._presence[definition] = conj(definition.condition,
                                                      self.entered(os.path.normpath(definition.file)))
        return known

    def meaning(self, name: str, depth: int) -> Formula | None:
        """When the closure's headers define macro ``name``, as a formula (None: leave it free).

        ``#ifndef X / #define X`` (a default, an include guard) reads as "not defined before": the
        default applies, so ``defined(X)`` is false in the guard.  Other macros mean the disjunction
        of their definitions' conditions, followed ``_MACRO_DEPTH`` levels; not defined anywhere in
        the closure (nor by the flags) means undefined.
        """
        key = (self._reachable, name, depth)
        if key in self._meanings:
            return self._meanings[key]
        sites = [d for d in self.index.lookup(name, "macro") if d.file in self._reachable]
        found: Formula | None
        if not sites or any(name in macros_of(d.condition) for d in sites):
            found = FALSE
        elif depth >= _MACRO_DEPTH:
            found = None
        else:
            found = disj(*(restrict(self.present(d), self.baseline, self.meaning, self.options, depth + 1)
                           for d in sites))
        self._meanings[key] = found
        return found

    def uses(self, path: str) -> list[facts_mod.Use]:
        digest = self.index.digest(path)
        if digest is None:
            return []
        known = facts_mod.load_uses(self.cache_dir, digest)
        if known is not None:
            return known
        data = read_bytes(Path(path))
        if data is None:
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
        reachable = self._reachable = self.closure(path)
        seen: set[tuple[str, str, Formula]] = set()
        for use in self.uses(path):
            for one, via in self._expanded(path, use, reachable, seen):
                out.extend(self._check(path, one, via, reachable))
        return out

    def _around(self, path: str) -> frozenset[str]:
        """What the files that include ``path`` include (every branch): where a use finds its definition when
        the file relies on its includer (pgtable.h defines ``pti_set_user_pgtbl``, then includes pgtable_64.h,
        which calls it)."""
        known = self._arounds.get(path)
        if known is None:
            known = self._arounds[path] = frozenset().union(*(self.closure(str(p)) for p in self.graph.includers(path)))
        return known

    def _reached(self, path: str, anywhere: Sequence[Definition], reachable: frozenset[str]) -> list[Definition]:
        """Of ``anywhere``, the definitions ``path``'s closure reaches, else those its includers' closures reach
        (``_around``)."""
        found = [d for d in anywhere if d.file in reachable]
        if anywhere and not found:
            around = self._around(path)
            found = [d for d in anywhere if d.file in around]
        return found

    def _check(self, path: str, use: facts_mod.Use, via: tuple[str, ...],
               reachable: frozenset[str]) -> list[Fragility]:
        if use.name in macros_of(use.condition) and is_satisfiable(conj(use.condition,
                                                                          neg(Defined(use.name)))) is None:
            return []  # used only under "#ifdef NAME": where the definition goes, so does the use
        found = self._reached(path, [*self.index.lookup(use.name), *self.made.get(use.name, ())], reachable)
        if use.need == facts_mod.EXPANDED and not any(d.kind == "macro" for d in found):
            return []  # a plain declaration (a prototype, a field name) needs nothing
        definitions = [d for d in found if use.satisfied_by(d)]
        if not definitions or any(self.present(d) == TRUE for d in definitions):
            return []  # missing everywhere is another problem (a missing include), not a configuration's
        return self._one(path, use, definitions, via)

    def _expanded(self, path: str, use: facts_mod.Use, reachable: frozenset[str],
                  seen: set[tuple[str, str, Formula]]) -> list[tuple[facts_mod.Use, tuple[str, ...]]]:
        """``use`` and the names the bodies of the macros it expands name, ``EXPANSION_DEPTH`` deep.

        A name met in a body is used where the outermost macro is expanded (its line), under that
        use's condition and the condition of each definition followed; each (name, need, condition)
        is taken once per file, so a macro expanded a hundred times is followed once.  A macro the file's
        closure does not define is looked up in its includers' closures (``_around``), as a name is.
        """
        key = (use.name, use.need, use.condition)
        if key in seen:
            return []
        seen.add(key)
        out: list[tuple[facts_mod.Use, tuple[str, ...]]] = [(use, ())]
        frontier = list(out)

        def macros(name: str) -> list[Definition]:
            return self._reached(path, self.index.lookup(name, "macro"), reachable)

        for _ in range(EXPANSION_DEPTH):
            following = []
            for one, via in frontier:
                for definition in macros(one.name):
                    condition = conj(one.condition, self.present(definition))
                    if condition == FALSE:
                        continue
                    for name in sorted(definition.uses | pasted_names(definition, macros)):
                        derived = facts_mod.Use(name, facts_mod.DECLARED, use.line, condition)
                        if (name, facts_mod.DECLARED, condition) not in seen:
                            seen.add((name, facts_mod.DECLARED, condition))
                            following.append((derived, (*via, one.name)))
            out.extend(following)
            frontier = following
        return out

    def _one(self, path: str, use: facts_mod.Use, definitions: Sequence[Definition],
             via: tuple[str, ...] = ()) -> list[Fragility]:
        present = disj(*(restrict(self.present(d), self.baseline, self.meaning, self.options) for d in definitions))
        options = sorted(self.options.options(present) - ABI_OPTIONS)
        if present == TRUE or not options:
            return []
        where = restrict(conj(use.condition, self.entered(path)), self.baseline, self.meaning, self.options)
        broken = conj(where, neg(present))
        if is_satisfiable(broken) is None:
            return []
        spots = tuple(f"{shown_path(Path(d.file), self.root)}:{d.line}" for d in definitions)
        condition = disj(*(self.present(d) for d in definitions))
        out = []
        for option in options:
            # A variant flips one option and keeps the others: a witness that needs two changes
            # (JUMP_LABEL on with its arch's RELATIVE variant off) is no single flip's failure.
            witness = is_satisfiable(broken, self._single_flip(broken, option))
            if witness is not None:
                shown = tuple(sorted((n, v) for n, v in witness.items() if self.options.option_of(n) is not None))
                out.append(Fragility(option, shown_path(Path(path), self.root), use.line, use.name, use.need, condition,
                                     spots, shown, via, len(options), broken))
        return out

    def _single_flip(self, formula: Formula, option: str) -> dict[str, bool]:
        """Option macros of ``formula`` at their baseline values, except ``option`` turned the other way."""
        fixed = {m: self.baseline.get(m) is not None for m in macros_of(formula)
                 if self.options.option_of(m) not in (None, option)}
        on = self.baseline.get(option) is not None or self.baseline.get(option + "_MODULE") is not None
        fixed[option] = not on
        fixed[option + "_MODULE"] = False
        return fixed


def strongest(found: Sequence[Fragility], known: Sequence[Reason]) -> list[Fragility]:
    """Per option ``found`` adds to ``known``, its strongest use (``Fragility.rank``; the nearest file among
    equals), strongest first: the order a header's cap on flipped options takes them in."""
    have = {r.option for r in known}
    best: dict[str, Fragility] = {}
    for fragility in found:
        if fragility.option not in have and (fragility.option not in best
                                             or fragility.rank < best[fragility.option].rank):
            best[fragility.option] = fragility
    return sorted(best.values(), key=lambda f: f.rank)  # stable: closure order among equals


def witness_holds(fragility: Fragility, resolution: Resolution, baseline: Mapping[str, str | None],
                  options: OptionFilter) -> bool:
    """Whether ``fragility``'s use is still compiled, and still without a suitable definition, in the configuration
    the flip of its option resolves to (``baseline`` with ``resolution``'s macro changes): the configuration system
    may turn other options with it (CGROUPS=n takes CGROUP_PERF, the use's guard, along), which the single-flip
    witness does not know.  Outside Kconfig the resolution is the plain flip, and the witness holds as found."""
    resolved = dict(baseline)
    resolved.update(resolution.defines)
    fixed = {m: resolved.get(m) for m in macros_of(fragility.broken) if options.option_of(m) is not None}
    # No macro is free as an option here: the options are fixed, the header macros stay as the analysis left them.
    settled = restrict(fragility.broken, fixed, lambda _name, _depth: None, OptionFilter((), frozenset()))
    return is_satisfiable(settled) is not None


def _kconfig_valid(fragility: Fragility, flipper: Flipper, macros: Mapping[str, str], options: OptionFilter) -> bool:
    """``witness_holds`` for some flip of the option that gives a variant (``Flipper.flips``; an option whose flips
    give none is the cap's business)."""
    resolutions = list(flipper.flips(fragility.option, macros))
    return not resolutions or any(witness_holds(fragility, r, macros, options) for r in resolutions)


def add_closure_fragility(plans: Sequence[HeaderPlan], context: ScanContext, options: OptionFilter, root: Path,
                          cache_dir: Path | None, flipper: Flipper,
                          notes: list[str]) -> dict[tuple[str, str], Fragility]:
    """Give each plan the fragile options of its header's include closure that ``flipper`` can flip, after the
    reasons it has.

    A fragile use whose witness the resolved flip does not keep (``witness_holds``) is dropped before the strongest
    use per option is taken; how many is said once in ``notes``.
    Returns, per (header, option) added, the fragile use behind it (for root-cause reports).
    """
    analyses: dict[int, Analysis] = {}
    behind: dict[tuple[str, str], Fragility] = {}
    made: dict[str, list[Definition]] | None = None
    found_by_plan: list[list[Fragility]] = []
    #: Each fragile use, with the macros in force for the first header whose closure has it (its verdict's).
    first_macros: dict[Fragility, Mapping[str, str]] = {}
    for plan in plans:
        job = plan.job
        graph = graph_of(context, job)
        analysis = analyses.get(id(graph))
        if analysis is None:
            if made is None:
                made = made_definitions(context.index.file_scope_calls(),
                                        lambda name: context.index.lookup(name, "macro"), EXPANSION_DEPTH)
            baseline: dict[str, str | None] = dict(defined_macros(job))
            analysis = analyses[id(graph)] = Analysis(graph, context.index, options, baseline, root, cache_dir, made)
        found = [f for p in graph.closure(job.header) for f in analysis.fragile(os.path.normpath(str(p)))]
        found_by_plan.append(found)
        macros = defined_macros(job)
        for f in found:
            first_macros.setdefault(f, macros)
    # One prefetch for every header's closure flips: a backend that runs each flip in its own process gets them
    # all at once, where one per header mostly found a handful new.
    flipper.prefetch(((f.option, target) for f, macros in first_macros.items()
                      for target in flipper.targets_for(f.option, macros)), context.jobs)
    verdicts = {f: _kconfig_valid(f, flipper, macros, options) for f, macros in first_macros.items()}
    for plan, found in zip(plans, found_by_plan):
        job = plan.job
        extra = [f for f in strongest([f for f in found if verdicts[f]], plan.reasons) if flipper.flippable(f.option)]
        plan.reasons = plan.reasons + [Reason(f.option, f.reason, 1) for f in extra]
        behind.update(((job.display, f.option), f) for f in extra)
    invalid = sorted({f for f, ok in verdicts.items() if not ok}, key=lambda f: (f.option, f.file, f.line))
    if invalid:
        notes.append(f"closure analysis: {len(invalid)} fragile use(s) not flipped: the flip as the configuration "
                     f"system resolves it drops the use or keeps a definition (e.g. {invalid[0].option}: "
                     f"{invalid[0].file}:{invalid[0].line} {invalid[0].name})")
    return behind
