"""Planning configuration variants per header, and sharing results of identical ones.

The baseline is the configuration the flags give.  Each relevant option (see
``relevance``) is flipped once by default; ``pairwise`` adds every pair and
``random:N`` samples combinations.  In a Kconfig tree every flip goes through
Kconfig (``kconfig``), so variants are valid configurations and record what else
changed; elsewhere a flip is a ``#define``/``#undef`` of the macro.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from . import kbuild, kconfig, relevance, triage
from .analysis.knobs import KnobTable
from .discover import display_path
from .errors import UsageError
from .graph.includes import IncludeGraph
from .graph.resolve import SearchPath
from .kbuild_flags import FlagRule, Unestablished
from .kconfig.values import combine
from .macros import defined_macros
from .models import Job, Variant
from .relevance import Reason, relevant_options
from .scan import cindex, conditions, directives, symbols, uses
from .scan.directives import ScanError, scan_directives
from .scan.formula import TRUE, evaluate, to_c
from .scan.options import OptionFilter
from .scan.scancache import ScanCache, read_bytes
from .scan.symbols import Companion, SymbolIndex
from .scan.uses import used_identifiers
from .store.atomic import write_atomic
from .store.namespaces import RELEVANCE, code_digest, load

#: ``--variants`` when not given: what a change asks for when there is one, else every relevant option.
AUTO = "auto"


class StrategyKind(str, Enum):
    """``--variants``: no flips, each option flipped once, also every pair, also N random combinations, or only
    the options a change touched (what ``--changed-since`` asks: did this change break a header somewhere)."""

    NONE = "none"
    DEFAULT = "default"
    CHANGED = "changed"
    PAIRWISE = "pairwise"
    RANDOM = "random"


@dataclass(frozen=True)
class Strategy:
    kind: StrategyKind = StrategyKind.DEFAULT
    samples: int = 0
    seed: int = 0
    max_options: int = 12
    #: Of those, how many may come from closure-wide fragility (``analysis.fragility``), strongest first.
    max_closure_options: int = 12

    @classmethod
    def parse(cls, text: str, seed: int = 0, *, changed: bool = False) -> Strategy:
        """``--variants``; ``auto`` (the default) is ``changed`` when a change is given, else ``default``."""
        text = (text or AUTO).strip()
        if text == AUTO:
            text = StrategyKind.CHANGED.value if changed else StrategyKind.DEFAULT.value
        if text == StrategyKind.CHANGED.value and not changed:
            raise UsageError("--variants changed needs a change", path="--variants",
                             hint="add --changed-since REV, or use default")
        if text in {kind.value for kind in StrategyKind} - {StrategyKind.RANDOM.value}:
            return cls(StrategyKind(text), seed=seed)
        if text.startswith("random:"):
            try:
                count = int(text.split(":", 1)[1])
            except ValueError:
                count = -1
            if count > 0:
                return cls(StrategyKind.RANDOM, samples=count, seed=seed)
        raise UsageError(f"unknown variant strategy '{text}'", path="--variants",
                         hint="use auto, default, changed, none, pairwise or random:N")


@dataclass
class HeaderPlan:
    job: Job  # the baseline job
    reasons: list[Reason]
    variants: list[Variant] = field(default_factory=list)
    #: Flips Kconfig refused, as "CONFIG_X=n: why".
    impossible: list[str] = field(default_factory=list)
    dropped_options: int = 0
    #: Variants (by name) that cannot be checked, with the reason: reported as not verified, never compiled.
    unverified: dict[str, str] = field(default_factory=dict)
    #: Variants (by name) whose own Kbuild prepare step fails (bounds.c or asm-offsets.c does not compile in
    #: them): compiled with the tree's generated headers, a failure stands, a pass is unverified.
    prepare_fails: dict[str, kbuild.PrepareFailure] = field(default_factory=dict)


class Flipper:
    """Turns "option X to value V" into a Variant, through Kconfig when the tree has one."""

    def __init__(self, backend: kconfig.KconfigBackend | None, knobs: KnobTable | None = None,
                 rule: FlagRule | None = None) -> None:
        self.backend = backend
        #: Outside Kconfig: which plain macros are switches, and their tested values (``analysis.knobs``).
        self.knobs = knobs
        #: What no variant can establish under the build's flags (``kbuild_flags``).
        self.rule = rule if rule is not None else FlagRule()
        self._memo: dict[tuple[str, str], kconfig.Resolution | None] = {}
        #: Flips whose Kconfig evaluation failed, with the reason.
        self.failures: dict[tuple[str, str], str] = {}

    def _kconfig(self, option: str) -> kconfig.KconfigBackend | None:
        """The backend, when ``option`` is one of its symbols."""
        return self.backend if self.backend is not None and self.backend.known(option) else None

    def targets_for(self, option: str, macros: Mapping[str, str]) -> list[str]:
        """The values ``option`` is flipped to from the baseline ``macros``: y or m to n, n to y, and a tristate
        not at m to m too; valued options (ints, strings) to none; a plain macro to the values its tests name."""
        backend = self._kconfig(option)
        if backend is None and self.knobs is not None:
            return self.knobs.targets(option, macros.get(option))
        if backend is not None:
            current = backend.baseline().get(option, "n")
        else:
            current = "y" if option in macros else "m" if option + "_MODULE" in macros else "n"
        if current not in ("y", "m", "n"):
            return []
        tristate = backend is not None and backend.symbol_type(option) == "tristate"
        return ["y" if current == "n" else "n"] + (["m"] if tristate and current != "m" else [])

    def flippable(self, option: str) -> bool:
        """False for plain macros that are no switches (hooks, function-like, computed)."""
        return self.knobs is None or self._kconfig(option) is not None or self.knobs.flippable(option)

    def flips(self, option: str, macros: Mapping[str, str]) -> Iterator[kconfig.Resolution]:
        """The flips of ``option`` from the baseline ``macros`` that give a variant to compile, resolved as they are
        asked for: of a switch, allowed by the configuration system, changing some macro (memoised; milliseconds
        per flip with Linux's evaluator)."""
        for target in self.targets_for(option, macros) if self.flippable(option) else ():
            resolution = self.resolve(option, target)
            if resolution is not None and resolution.achieved and resolution.defines:
                yield resolution

    def unestablished(self, option: str, macros: Mapping[str, str]) -> Unestablished | None:
        """Why a variant some flip of ``option`` gives would establish no verdict, judged by ``rule`` on what the
        flip resolves to: ``CONFIG_DYNAMIC_FTRACE=y`` comes only with ``CONFIG_FUNCTION_TRACER=y``, whose Kbuild
        flags a variant lacks."""
        return next(filter(None, (self.rule.check(combine([r], "", option)) for r in self.flips(option, macros))), None)

    def prefetch(self, wanted: Iterable[tuple[str, str]], workers: int) -> None:
        """Resolve ``wanted`` flips ``workers`` at a time, for backends that run each in its own process.

        A Linux flip is a ``conf --olddefconfig`` of 2-6 s; a header test of i915 asks
        for dozens, which one after the other made variant planning the slowest step.
        """
        todo = [key for key in dict.fromkeys(wanted) if key not in self._memo]
        if workers < 2 or len(todo) < 2 or not getattr(self.backend, "concurrent", False):
            return
        with ThreadPoolExecutor(max_workers=min(workers, len(todo)), thread_name_prefix="kconfig") as pool:
            list(pool.map(lambda key: self.resolve(*key), todo))

    def resolve(self, option: str, target: str) -> kconfig.Resolution | None:
        key = (option, target)
        if key not in self._memo:
            backend = self._kconfig(option)
            if backend is not None:
                try:
                    self._memo[key] = backend.flip(option, target)
                except kconfig.KconfigError as exc:
                    # One flip Kconfig could not evaluate (a hung probe, a broken .config) costs
                    # that variant, not the run.
                    self.failures[key] = str(exc).splitlines()[0][:300] if str(exc) else exc.__class__.__name__
                    self._memo[key] = None
            else:
                self._memo[key] = kconfig.plain_flip(option, target)
        return self._memo[key]


def _search_key(job: Job) -> tuple[object, ...]:
    return (job.compiler, job.flags, job.directory, job.language)


@dataclass
class ScanContext:
    """Include graphs per distinct flag set, and one symbol index over every scanned file.

    The index is built on first use: a warm run whose relevance comes from the disk
    (``relevance_dir``) never needs it.
    """

    graphs: dict[tuple[object, ...], IncludeGraph]
    files: list[Path]
    #: The cache directory the symbol index keeps its namespace in (None: not kept).
    symbols_dir: Path | None = None
    #: The directive scans behind the graphs, for whoever scans more of the tree in this run (triage).
    scans: ScanCache = field(default_factory=ScanCache)
    #: The cache directory each header's relevant options are kept in, keyed by its closure's content.
    relevance_dir: Path | None = None
    #: Processes that parse the files the index misses, and what they also make of each (the use facts).
    jobs: int = 1
    companion: Companion | None = None

    @functools.cached_property
    def index(self) -> SymbolIndex:
        return SymbolIndex.build(self.files, self.symbols_dir, jobs=self.jobs, companion=self.companion)

    @property
    def index_built(self) -> bool:
        return "index" in self.__dict__  # where cached_property keeps what it built


def graph_of(context: ScanContext, job: Job) -> IncludeGraph:
    """The include graph ``job``'s header was scanned in."""
    return context.graphs[_search_key(job)]


def scan_context(jobs: Sequence[Job], cache_dir: Path | None, scans: ScanCache, *,
                 relevance_dir: Path | None = None) -> ScanContext:
    """Graphs (and, lazily, the index) over ``jobs``; ``cache_dir`` keeps symbols, ``scans`` its scans."""
    graphs: dict[tuple[object, ...], IncludeGraph] = {}
    by_key: dict[tuple[object, ...], list[Job]] = {}
    for job in jobs:
        by_key.setdefault(_search_key(job), []).append(job)
    files: set[Path] = set()
    for key, group in by_key.items():
        first = group[0]
        search = SearchPath.from_flags(first.flags, first.directory, first.compiler, first.language)
        starts = [j.header for j in group] + [p for j in group for p in j.preludes]
        graph = graphs[key] = IncludeGraph.build(starts, search, scans)
        files.update(map(Path, graph.files))
    return ScanContext(graphs, sorted(files), cache_dir, scans, relevance_dir)


@functools.cache
def _relevance_code() -> tuple[str, ...]:
    """The code relevance depends on (an edit to any of it must not be answered from old results), its grammar."""
    return (*cindex.index_version(), code_digest(relevance, conditions, directives, cindex, symbols, uses))


def _relevance_key(job: Job, graph: IncludeGraph, closure_paths: Sequence[Path], options: OptionFilter,
                   root: Path, touched: Mapping[str, str]) -> str | None:
    """What relevance depends on: the header's name and closure, each file's content, the option filter."""
    digests = []
    for path in sorted(set(closure_paths)):
        node = graph.node(path)
        if node is None or not node.sha256:
            return None  # unread or unreadable: nothing to key by
        digests.append((str(path), node.sha256))
    fields = [_relevance_code(), job.display, str(job.header), str(root), list(options.patterns),
              sorted(options.names), sorted(touched.items()), digests]
    return RELEVANCE.key(json.dumps(fields))


def header_relevance(job: Job, context: ScanContext, closure_paths: Sequence[Path], options: OptionFilter,
                     root: Path, touched: Mapping[str, str]) -> list[Reason]:
    """``relevant_options`` for one header, kept on disk by the content of its include closure."""
    key = _relevance_key(job, graph_of(context, job), closure_paths, options, root, touched) \
        if context.relevance_dir else None
    where = RELEVANCE.path(context.relevance_dir, key, ".json") if context.relevance_dir and key else None
    stored = load(where, lambda blob: [Reason(str(o), str(w), int(d)) for o, w, d in json.loads(blob)])
    if stored is not None:
        return stored
    text = read_bytes(job.header) or b""
    try:  # the header's own conditionals, its include guard aside (scan_directives normalises newlines)
        scan = scan_directives(text.decode("utf-8", errors="replace"), str(job.header))
        own = [(b.start_line, b.formula) for b in scan.conditionals if not b.is_guard]
    except ScanError:
        own = []
    reasons = relevant_options(job.display, own, used_identifiers(text), {str(p) for p in closure_paths},
                               context.index, options, root, touched=touched)
    if where is not None:
        write_atomic(where, json.dumps([[r.option, r.why, r.depth] for r in reasons]).encode())
    return reasons


def header_reasons(job: Job, context: ScanContext, options: OptionFilter, strategy: Strategy, root: Path,
                   touched: Mapping[Path, Mapping[str, str]] | None = None,
                   keep: Callable[[str], bool] | None = None) -> HeaderPlan:
    """A header's plan so far: the options that matter to it, no variants yet."""
    graph = graph_of(context, job)
    closure_paths = graph.closure(job.header) + [p for pre in job.preludes for p in graph.closure(pre)]
    closure = {str(p) for p in closure_paths}
    touched_here: dict[str, str] = {}
    for path, touched_reasons in (touched or {}).items():
        if str(path) in closure:
            for option, why in touched_reasons.items():
                touched_here.setdefault(option, why)
    if strategy.kind is StrategyKind.CHANGED:
        # Only what the change touched: the header's other relevant options were what they are before it.
        reasons = [Reason(option, why, 0) for option, why in sorted(touched_here.items())]
    else:
        reasons = header_relevance(job, context, closure_paths, options, root, touched_here)
    if keep is not None:
        reasons = [r for r in reasons if keep(r.option)]
    return HeaderPlan(job=job, reasons=reasons)


def cap_options(plan: HeaderPlan, strategy: Strategy, flipper: Flipper, closure: Collection[str]) -> None:
    """Bound ``plan``'s reasons by ``strategy.max_options``, counting the rest as dropped.

    The header's own reasons (what it tests and names; first in the plan) are taken as they come, at most
    ``max_options`` of them, as without closure analysis.  The options from ``closure`` (closure-wide fragility,
    strongest first) then take the room left by flips that give a variant, at most ``max_closure_options``: an
    option whose flip gives none (the configuration system forbids it, or it changes no macro) costs no compile,
    so it does not use the room up; it stays in the plan, which lists it as impossible.
    """
    macros = defined_macros(plan.job)
    kept: list[Reason] = []
    own = flipped = from_closure = 0
    for reason in plan.reasons:
        deep = reason.option in closure
        if flipped >= strategy.max_options or (deep and from_closure >= strategy.max_closure_options) or (
                not deep and own >= strategy.max_options):
            plan.dropped_options += 1
            continue
        usable = any(flipper.flips(reason.option, macros))
        kept.append(reason)
        own += not deep
        flipped += usable
        from_closure += usable and deep
    plan.reasons = kept


def flips_wanted(plan: HeaderPlan, flipper: Flipper, strategy: Strategy) -> list[tuple[str, str]]:
    """The (option, value) flips ``finish_plan`` will ask ``flipper`` for."""
    if strategy.kind is StrategyKind.NONE or not plan.reasons:
        return []
    macros = defined_macros(plan.job)
    return [(reason.option, target) for reason in plan.reasons
            for target in flipper.targets_for(reason.option, macros)]


def finish_plan(plan: HeaderPlan, flipper: Flipper, strategy: Strategy, root: Path,
                generated_cache: Path | None = None) -> HeaderPlan:
    """``plan`` with its variants: each relevant option flipped (through Kconfig), then combined per strategy.

    ``generated_cache``: the run's cache directory, to keep regenerated Kbuild headers in.
    """
    job = plan.job
    if strategy.kind is StrategyKind.NONE or not plan.reasons:
        return plan
    macros = defined_macros(job)
    single: list[tuple[Reason, kconfig.Resolution]] = []
    for reason in plan.reasons:
        for target in flipper.targets_for(reason.option, macros):
            resolution = flipper.resolve(reason.option, target)
            if resolution is None or not resolution.achieved:
                failure = flipper.failures.get((reason.option, target))
                plan.impossible.append(f"{reason.option}={target}: " + (
                    f"not tested, Kconfig failed: {failure}" if failure else "the configuration system does not allow it"))
            elif resolution.defines:  # a flip that changes no macro compiles the baseline again
                single.append((reason, resolution))
                plan.variants.append(combine([resolution], f"{reason.option} matters: {reason.why}"))
    if strategy.kind is StrategyKind.PAIRWISE:
        for (ra, a), (rb, b) in itertools.combinations(single, 2):
            if ra.option != rb.option:
                plan.variants.append(combine([a, b], f"pairwise: {ra.option} and {rb.option}"))
    elif strategy.kind is StrategyKind.RANDOM:
        rng = random.Random(f"{strategy.seed}:{job.display}")
        for _ in range(strategy.samples if single else 0):
            chosen = rng.sample(single, rng.randint(1, len(single)))
            by_option = {r.option: res for r, res in chosen}
            plan.variants.append(combine(list(by_option.values()), f"random sample (seed {strategy.seed})"))
    unique: dict[tuple[tuple[str, str | None], ...], Variant] = {}
    for variant in plan.variants:
        unique.setdefault(tuple(sorted(variant.defines, key=lambda d: d[0])), variant)
    plan.variants = list(unique.values())
    plan.variants = _drop_unbuilt(job, plan, macros, root)
    linux = isinstance(flipper.backend, kconfig.KernelConfBackend)  # an O= build keeps include/generated elsewhere
    word_size = _word_size_changes(plan.variants, flipper.rule)
    plan.unverified.update(word_size)
    compiled = [v for v in plan.variants if v.name not in word_size]
    if compiled and (linux or (flipper.backend is not None and kbuild.generates_headers(root))):
        # A Linux build bakes sizes and offsets of the configuration into include/generated
        # (bounds.h, asm-offsets.h); each variant needs its own or static asserts fail falsely.
        compiled, unmade, plan.prepare_fails = kbuild.fill_preludes(root, job, compiled, cache_dir=generated_cache)
        plan.unverified.update(unmade)
    plan.variants = compiled + [v for v in plan.variants if v.name in word_size]
    return plan


def _word_size_changes(planned: Sequence[Variant], rule: FlagRule) -> dict[str, str]:
    """The variants that change the word size (``rule``), by name, with why they are not compiled: no verdict in
    them would be established, so neither a compile nor a Kbuild prepare is spent.  A variant that changes Kbuild's
    flags is compiled: a pass in it stands, a failure is reported not verified (``check.unestablished``)."""
    reasons = {variant.name: rule.check(variant) for variant in planned}
    return {name: f"not compiled: {reason}" for name, reason in reasons.items() if reason and reason.where is None}


_kbuild = functools.lru_cache(maxsize=8)(triage.Kbuild)  # one reading of a tree's Makefiles per run


def _drop_unbuilt(job: Job, plan: HeaderPlan, macros: Mapping[str, str], root: Path) -> list[Variant]:
    """Drop variants in which Kbuild does not descend into the header's directory.

    The kernel runs a directory's header test only when it builds that directory (i915's
    needs CONFIG_DRM_I915), so a variant that turns the directory off tests a
    configuration nobody compiles the header in.  A variant that only turns off the unit
    that includes it (gvt.h with CONFIG_DRM_I915_GVT_KVMGT=n) is kept: that is exactly
    what the header test catches and a build does not.
    """
    tree = _kbuild(root)
    if not plan.variants or not tree.is_kbuild(job.header):
        return plan.variants
    built_when = tree.directory_condition(job.header.parent)
    if built_when == TRUE:
        return plan.variants
    kept = []
    for variant in plan.variants:
        values: dict[str, str | None] = {**macros, **dict(variant.defines)}
        if evaluate(built_when, values) is False:
            where = display_path(job.header.parent, root)
            plan.impossible.append(f"{variant.name}: not tested, Kbuild does not build {where}/ in it "
                                   f"(needs {to_c(built_when)})")
        else:
            kept.append(variant)
    return kept
