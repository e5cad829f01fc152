"""The library API behind ``hdrtest check``: settings in, ``CheckReport`` out."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import EllipsisType

from . import kbuild, kconfig, variants
from .analysis import facts, fragility, knobs
from .baseline import ensure_classified
from .compdb import flags_are_a_guess
from .compile import CompileOptions
from .diagnostics import place
from .discover import discover
from .errors import UsageError
from .executors import Executor
from .executors.factory import make_executor
from .executors.local import Background, default_jobs
from .explain import explain_report
from .graph.affected import select_changed
from .kbuild_command import Deriver, Underived, is_rederived, rederived_job
from .kbuild_flags import Unestablished, rule_for
from .macros import defined_macros
from .models import CheckReport, Job, Result, Status, not_verified
from .plan import FlagSource, baseline_jobs, flag_source
from .report import rootcause
from .rundir import option_filter, run_caches
from .scan.options import OptionFilter
from .scan.scancache import ScanCache
from .settings import Settings
from .store.location import variant_dir
from .store.namespaces import KCONFIG
from .store.results import ResultCache
from .store.serialize import forget_explanation
from .toolchain import probe
from .touched import touched_options
from .triage import Kbuild, unbuilt_reason

ProgressCallback = Callable[[Result, int, int], None]


def paths_to_check(settings: Settings, paths: list[str]) -> list[Path]:
    chosen = paths or list(settings.paths) or ["."]
    return [Path(p) if Path(p).is_absolute() else (Path.cwd() / p if paths else settings.root / p) for p in chosen]


def run_jobs(jobs: list[Job], options: CompileOptions, executor: Executor, *,
             cache: ResultCache | None = None, progress: ProgressCallback | None = None) -> tuple[list[Result], int]:
    """Run jobs through the cache and the executor, each distinct job looked up and run once; results come back
    in the jobs' order."""
    results: dict[int, Result] = {}
    first: dict[Job, int] = {}
    to_run: list[Job] = []
    hits = 0
    for index, job in enumerate(jobs):
        if job in first:  # the same job planned twice shares the first one's result (a hit if that is one)
            hits += first[job] in results
            continue
        first[job] = index
        cached = cache.lookup(job) if cache is not None else None
        if cached is None:
            to_run.append(job)
            continue
        results[index] = cached
        hits += 1
        if progress:
            progress(cached, len(results), len(jobs))
    # Remote executors hand back unpickled copies, so results are matched by value.
    for result in executor.run(to_run, options):
        results[first[result.job]] = result
        if cache is not None:
            cache.store(result)
        if progress:
            progress(result, len(results), len(jobs))
    return [results[first[job]] for job in jobs], hits


def kconfig_for(settings: Settings, source: FlagSource) -> kconfig.KconfigBackend | None:
    """The run's Kconfig (None without variants or without a Kconfig).  A Linux tree's evaluator is built and
    started now, in processes of its own, while this one scans the tree (``KernelConfBackend.warm_up``)."""
    if (settings.variants or "").strip() == "none":
        return None
    config: Path | None = None
    if settings.kconfig_config:
        config = settings.resolve(settings.kconfig_config)
        if not config.is_file():
            raise UsageError("configuration file not found", path=config, hint="fix --kconfig-config")
    elif source.database is not None and (source.database.parent / ".config").is_file():
        config = source.database.parent / ".config"  # an O= build directory has its own .config
    kconfig_file = settings.resolve(settings.kconfig) if settings.kconfig else None
    if kconfig_file is not None and not kconfig_file.is_file():
        raise UsageError("Kconfig file not found", path=kconfig_file, hint="fix --kconfig")
    try:
        backend = kconfig.detect(settings.root, kconfig_file, config, KCONFIG.directory(run_caches(settings)))
    except kconfig.KconfigError as exc:
        raise UsageError(str(exc), hint="pass --variants none to check without Kconfig, or fix the Kconfig") from None
    if isinstance(backend, kconfig.KernelConfBackend):
        backend.warm_up()
    return backend


@dataclass
class VariantPlanning:
    jobs: list[Job]
    relevance: dict[str, dict[str, str]]
    notes: list[str]
    #: The run's include graphs, scans and symbol index, for explanations to reuse.
    context: variants.ScanContext | None = None
    #: (header, option) -> the fragile use in the header's closure that made the option relevant.
    fragile: dict[tuple[str, str], fragility.Fragility] = field(default_factory=dict)
    #: Variant jobs that cannot be checked, with the reason: reported as not verified, never compiled.
    unverified: dict[Job, str] = field(default_factory=dict)
    #: Variant jobs whose configuration's Kbuild prepare step fails (see ``kbuild.prepare_failed``).
    prepare_fails: dict[Job, kbuild.PrepareFailure] = field(default_factory=dict)
    #: Failing variant jobs whose flags Kbuild's dry run could not give, with why (``kbuild_command``).
    underived: dict[Job, str] = field(default_factory=dict)
    #: Failing variant jobs whose resolved settings change the Kbuild tree's flags (``kbuild_flags.FlagRule``).
    flag_changes: dict[Job, Unestablished] = field(default_factory=dict)


def plan_reasons(settings: Settings, baseline: Sequence[Job], context: variants.ScanContext, options: OptionFilter,
                 strategy: variants.Strategy, flipper: variants.Flipper, touched: Mapping[Path, Mapping[str, str]] | None,
                 kept: Path | None, closure: bool, notes: list[str]) -> tuple[list[variants.HeaderPlan],
                                                            dict[tuple[str, str], fragility.Fragility]]:
    """Each header's relevant options within the strategy's cap, and the fragile use behind each closure-wide one
    (``closure``: whether closure-wide fragility is analysed)."""
    plans = [variants.header_reasons(job, context, options, strategy, settings.root, touched, keep=flipper.flippable)
             for job in baseline]
    fragile = {} if not closure else fragility.add_closure_fragility(
        plans, context, options, settings.root, kept, flipper, notes)
    deep: dict[str, set[str]] = {}
    for display, option in fragile:
        deep.setdefault(display, set()).add(option)
    # The run's one prefetch, together where the backend runs each flip in its own process: what the cap asks for
    # first, and every closure-wide option, whose resolved flips the flag rule reads.
    flipper.prefetch((flip for plan in plans for flip in variants.flips_wanted(replace(plan, reasons=[
        r for n, r in enumerate(plan.reasons) if n < strategy.max_options or r.option in deep.get(plan.job.display, ())
    ]), flipper, strategy)), settings.jobs or default_jobs())
    # A closure-wide flip the build's flags make unestablishable could only end "not verified": not planned, and
    # no room under the cap spent on it (a header's own relevant options are flipped all the same).
    macros = defined_macros(baseline[0]) if baseline else {}
    stopped = {option: why for option in sorted({o for _, o in fragile}) if (why := flipper.unestablished(option, macros))}
    if stopped:
        shown = [o + (f" (via {why.options[0]})" if why.options[0] != o else "") for o, why in stopped.items()]
        notes.append(f"closure analysis: {len(stopped)} fragile option(s) not flipped because they change Kbuild's "
                     f"compiler flags or the word size, so a variant could only end not verified "
                     f"(e.g. {', '.join(shown[:3])})")
    for plan in plans:
        here = deep.get(plan.job.display, set())
        plan.reasons = [r for r in plan.reasons if r.option not in here or r.option not in stopped]
        variants.cap_options(plan, strategy, flipper, here)
    kept_options = {(plan.job.display, r.option) for plan in plans for r in plan.reasons}
    return plans, {key: use for key, use in fragile.items() if key in kept_options}


def plan_all_variants(settings: Settings, source: FlagSource, baseline: list[Job],
                      backend: kconfig.KconfigBackend | None | EllipsisType = ...) -> VariantPlanning:
    """Variant jobs for every baseline job, with the relevance behind them; ``backend``: ``kconfig_for``'s.

    Variants are not preprocessed to find ones whose text equals another's: on i915 that cost 323
    preprocessor runs, each near a compile's CPU, to spare 6 compiles of 221 (bench/RESULTS.md).
    """
    if (settings.variants or "").strip() == "none" or not baseline:
        return VariantPlanning([], {}, [])
    strategy = variants.Strategy.parse(settings.variants, settings.seed, changed=bool(settings.changed_since))
    options = option_filter(settings)
    caches = run_caches(settings)
    if isinstance(backend, EllipsisType):
        backend = kconfig_for(settings, source)
    touched = touched_options(settings.root, settings.changed_since, options) if settings.changed_since else None
    if strategy.kind is variants.StrategyKind.CHANGED and not touched:
        return VariantPlanning([], {}, ["variants: the change touched no option's conditional block, so no "
                                        "variant is flipped (--variants default flips every relevant option)"])
    kept = None if settings.no_cache else caches  # a private cache dies with the run: writing it only costs
    context = variants.scan_context(baseline, caches, ScanCache(cache_dir=kept), relevance_dir=kept)
    # Uses deep in each closure that an option can leave without a definition (issue 14); a change's own
    # options are what a --changed-since run flips, so it needs none of them.  Their facts are made as the
    # symbol index is built, in parallel.
    closure = settings.closure_analysis and strategy.kind is not variants.StrategyKind.CHANGED
    context.jobs = settings.jobs or default_jobs()
    context.companion = facts.FactsMaker(kept) if closure and kept is not None else None
    if not touched and not knobs.options_possible(context.files, options):
        # No conditional in any file names an option: no header has a relevant one, and the
        # symbol index (the dear part of planning) is never built.
        return VariantPlanning([], {}, [], context)
    # Outside Kconfig only macros the code tests as switches are flipped, to the values it tests.
    table = knobs.read_knob_table(context.files, context.scans, options) if backend is None else None
    flipper = variants.Flipper(backend, table, rule_for(settings.root, baseline[0],
                                                         linux=isinstance(backend, kconfig.KernelConfBackend)))
    notes: list[str] = []
    plans, fragile = plan_reasons(settings, baseline, context, options, strategy, flipper, touched, kept, closure, notes)
    planning = VariantPlanning([], {}, notes, context, fragile)
    if strategy.kind is variants.StrategyKind.CHANGED:
        notes.append("variants: only the options the change touched are flipped (--variants default flips every "
                     "option relevant to each header)")
    # A variant's Kbuild prepare units (bounds.c, asm-offsets.c) are compiles: headers are finished side by side.
    pool = ThreadPoolExecutor(max_workers=context.jobs, thread_name_prefix="plan")
    try:
        finished = list(pool.map(lambda p: variants.finish_plan(p, flipper, strategy, settings.root,
                                                                generated_cache=caches), plans))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for plan in finished:
        job = plan.job
        if plan.reasons:
            planning.relevance.setdefault(job.display, {}).update({r.option: r.why for r in plan.reasons})
        if plan.dropped_options:
            notes.append(f"{job.display}: {plan.dropped_options} more relevant option(s) not flipped")
        notes.extend(f"{job.display}: {text}" for text in plan.impossible)
        jobs = [replace(job, variant=variant) for variant in plan.variants]
        planning.jobs.extend(jobs)
        planning.unverified.update({j: plan.unverified[j.variant.name] for j in jobs
                                    if j.variant.name in plan.unverified})
        planning.prepare_fails.update({j: plan.prepare_fails[j.variant.name] for j in jobs
                                       if j.variant.name in plan.prepare_fails})
    notes.extend(getattr(backend, "notes", ()))  # e.g. the Kconfig fast evaluator's fallback
    return planning


def not_built(jobs: Sequence[Job], root: Path) -> dict[Job, str]:
    """Kbuild headers whose directory no build of this configuration enters, with the reason."""
    kbuild = Kbuild(root)
    return {job: reason for job in jobs
            if (reason := unbuilt_reason(job.header, lambda: defined_macros(job), kbuild)) is not None}


def unestablished(result: Result, found: Unestablished | None, underived: str | None = None) -> Result:
    """A failure whose compile flags are not the ones the build would use is reported as not verified.

    Flags borrowed from an unrelated kernel object lack what the header's own directory adds
    (Kbuild's ccflags-y, its ``-I`` paths); a variant whose resolved settings change the flags of the Kbuild
    tree (``found``, see ``kbuild_flags.FlagRule``) was compiled without them, unless they were re-derived
    (``kbuild_command``; ``underived``: why they could not be).  Neither failure says anything established about
    the header.
    """
    if result.status is not Status.FAIL:
        return result
    first = next((d for d in result.diagnostics if d.is_error), None)
    said = f"; with them: {place(first.file, first.line)}: {first.message}" if first is not None else ""
    if flags_are_a_guess(result.job.flags_origin):
        reason = (f"its flags are borrowed from {result.job.flags_origin}: no unit of the compile database "
                  f"includes it or sits in its directory, so that directory's own flags are unknown{said}")
    else:
        if found is None or is_rederived(result.job):
            return result
        missing = f", which Kbuild's dry run could not give: {underived}" if underived else (
            ", which the variant was compiled without" if found.where is not None else "")
        reason = f"{found}{missing}: the failure may come from those flags, not from the header{said}"
    return replace(not_verified(result.job, reason), duration=result.duration, command=result.command,
                   relevance=result.relevance, cached=result.cached)


def _counted(progress: ProgressCallback | None, before: int) -> ProgressCallback | None:
    """``progress`` for one of the run's batches: ``before`` jobs came earlier."""
    if progress is None:
        return None
    return lambda result, done, total: progress(result, before + done, before + total)


def unestablished_variants(baselines: Sequence[Result], planned: Sequence[Job]) -> dict[Job, str]:
    """Variants not worth compiling: their header's baseline fails under borrowed flags, so no verdict of theirs
    could be established either (``unestablished``); they are reported as not verified with that reason."""
    hopeless = {(r.job.header, r.job.language) for r in baselines
                if r.status is Status.FAIL and flags_are_a_guess(r.job.flags_origin)}
    return {job: "not compiled: the baseline of this header fails under flags borrowed from "
                 f"{job.flags_origin}, so no variant's verdict could be established either"
            for job in planned if (job.header, job.language) in hopeless}


def compile_options(settings: Settings) -> CompileOptions:
    """What every compile of a run shares, for ``check`` and for the extra jobs of ``diff``, ``series``, ``bisect``."""
    return CompileOptions(root=settings.root, max_errors=settings.max_errors, variant_dir=variant_dir(settings))


def run_planned(jobs: list[Job], settings: Settings, *, cache: ResultCache | None = None,
                progress: ProgressCallback | None = None) -> list[Result]:
    """Jobs planned outside ``check`` (another revision's failing variants, a bisect probe), on an executor of
    their own that any interruption cancels."""
    if not jobs:
        return []
    with _executor(settings) as runner:
        return run_jobs(jobs, compile_options(settings), runner, cache=cache, progress=progress)[0]


@contextmanager
def _executor(settings: Settings, given: Executor | None = None) -> Iterator[Executor]:
    """``given``, or one of the run's own that is closed on the way out; any error cancels the work of either."""
    runner = given or make_executor(settings)
    try:
        yield runner
    except BaseException:
        runner.close(cancel=True)
        raise
    if given is None:
        runner.close()


def check(settings: Settings, paths: list[str], *, executor: Executor | None = None,
          cache: ResultCache | None = None, progress: ProgressCallback | None = None,
          explain: bool = True) -> CheckReport:
    """Discover headers, plan compiles (baseline and variants), run them and collect a report.

    ``explain``: classify failures and attach explanations, fixes and triage as notes.
    """
    start = time.monotonic()
    headers, skipped = discover(paths_to_check(settings, paths), settings)
    source = flag_source(settings, cache)
    backend = kconfig_for(settings, source)
    jobs = baseline_jobs(headers, settings, source)
    for compiler, directory in {(j.compiler, j.directory) for j in jobs}:
        probe(compiler, directory)  # a missing compiler is a setup error before any work starts
    if settings.changed_since:
        jobs = select_changed(jobs, settings, cache)  # only headers whose include closure has a changed file
    unbuilt = not_built(jobs, settings.root)
    jobs = [j for j in jobs if j not in unbuilt]
    planning, by_job, hits, compiled = _run_owned(jobs, settings, source, backend, executor, cache, progress)
    ordered = _in_order(jobs, unbuilt, planning, by_job)
    report = CheckReport(root=settings.root, results=ordered, skipped=skipped, elapsed=time.monotonic() - start,
                       variants_planned=len(jobs) + len(planning.jobs), variants_compiled=compiled - hits,
                       cache_hits=hits,
                       relevant_options=planning.relevance, notes=planning.notes,
                       root_causes=rootcause.group(ordered, planning.fragile),
                       refuted=rootcause.refuted(ordered, planning.fragile))
    if report.failures:
        if explain:
            _explain_failures(report, settings, planning, cache)
        else:
            _unexplained_failures(report)
        report.elapsed = time.monotonic() - start
    return report


def _run_owned(jobs: list[Job], settings: Settings, source: FlagSource, backend: kconfig.KconfigBackend | None,
               executor: Executor | None, store: ResultCache | None, progress: ProgressCallback | None
               ) -> tuple[VariantPlanning, dict[Job, Result], int, int]:
    """Plan the variants while the baselines compile, then run the variants worth compiling, on ``executor`` or
    on one of the run's own, closed here (cancelling its work on any error); returns the planning, each planned
    job's result, the cache hits and the jobs run."""
    options = compile_options(settings)
    baselines: Background[tuple[list[Result], int]] | None = None
    try:
        with _executor(settings, executor) as runner:
            # Planning is mostly this process's own work (and one core's): the compilers keep the others busy.
            baselines = Background(lambda: run_jobs(jobs, options, runner, cache=store, progress=progress))
            planning = plan_all_variants(settings, source, jobs, backend)
            # Baselines first: a header whose baseline cannot be verified gets no variant compiles.
            checkable = [j for j in planning.jobs if j not in planning.unverified]
            results, hits = baselines.result()
            planning.unverified.update(unestablished_variants(results, checkable))
            wanted = [j for j in checkable if j not in planning.unverified]
            more, more_hits = run_jobs(wanted, options, runner, cache=store, progress=_counted(progress, len(jobs)))
            by_job = {r.job: r for r in results + more}
            again, again_hits = _rederive(by_job, planning, settings, options, runner, store)
    except BaseException:
        if baselines is not None:
            baselines.join(10)  # the cancelled compiles end it: nothing stores into the cache once the caller closes it
        raise
    return planning, by_job, hits + more_hits + again_hits, len(jobs) + len(wanted) + again


def _rederive(by_job: dict[Job, Result], planning: VariantPlanning, settings: Settings, options: CompileOptions,
              runner: Executor, store: ResultCache | None) -> tuple[int, int]:
    """Failing variants that change an option Kbuild turns into flags, compiled again with the command Kbuild gives
    their unit in that configuration (``kbuild_command``), whose verdict replaces theirs in ``by_job``; those whose
    command could not be had go to ``planning.underived``; every failing variant that changes them, to
    ``planning.flag_changes``.  Returns the jobs run and the cache hits."""
    root = settings.root
    if not kbuild.generates_headers(root):
        return 0, 0  # outside a prepared Kbuild tree no variant changes the flags (``kbuild_flags.rule_for``)
    planning.flag_changes = {job: found for job, result in by_job.items()
                             if result.status is Status.FAIL and not job.variant.is_baseline
                             and not flags_are_a_guess(job.flags_origin)
                             and (found := rule_for(root, job).check(job.variant)) is not None}
    wanted = [job for job, found in planning.flag_changes.items() if found.where is not None]
    if not wanted:
        return 0, 0
    deriver = Deriver(root, None if settings.no_cache else run_caches(settings))
    with ThreadPoolExecutor(max_workers=settings.jobs or default_jobs(), thread_name_prefix="kbuild") as pool:
        commands = dict(zip(wanted, pool.map(deriver.command, wanted), strict=True))
    redo = {job: rederived_job(job, command) for job, command in commands.items() if not isinstance(command, Underived)}
    planning.underived.update({job: command.reason for job, command in commands.items()
                               if isinstance(command, Underived)})
    results, hits = run_jobs(list(redo.values()), options, runner, cache=store)
    by_job.update(zip(redo, results, strict=True))
    return len(redo), hits


def _in_order(jobs: list[Job], unbuilt: dict[Job, str], planning: VariantPlanning, by_job: dict[Job, Result]
              ) -> list[Result]:
    """Every planned job's result, unbuilt ones first, with the relevance of the options its variant changes."""
    ordered = [not_verified(job, reason) for job, reason in unbuilt.items()]
    for job in jobs + planning.jobs:
        if job in planning.unverified:
            result = not_verified(job, planning.unverified[job])
        else:
            result = by_job[job]
        if job in planning.prepare_fails:
            result = kbuild.prepare_failed(result, planning.prepare_fails[job])
        wanted = planning.relevance.get(job.display, {})
        result.relevance = {c.name: wanted[c.name] for c in job.variant.changes if c.name in wanted}
        ordered.append(unestablished(result, planning.flag_changes.get(job), planning.underived.get(job)))
    return ordered


def _explain_failures(report: CheckReport, settings: Settings, planning: VariantPlanning,
                      cache: ResultCache | None) -> None:
    context = planning.context
    explanation = explain_report(report, settings, skip_explained=True,
                                 base_index=context.index if context and context.index_built else None,
                                 graphs=cache)
    if cache is not None:
        # Keep the notes with the verdict: a warm run shows them without explaining again.
        for result in explanation.explained:
            cache.update(result)


def _unexplained_failures(report: CheckReport) -> None:
    for result in report.failures:
        if result.cached:  # stored with its explanation by an earlier run: none was asked for
            forget_explanation(result)
    # Baselines, fingerprints and diff match errors by class: it must not depend on --fix.
    ensure_classified(report.results)
