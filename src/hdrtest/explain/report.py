"""``explain_report``: classify a report's failures, explain each error as notes, and triage the impact."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import classify as cls
from .. import compdb
from ..executors.local import default_jobs
from ..fixes import Edit, render_diff
from ..graph.resolve import SearchPath
from ..graph.store import GraphStore
from ..models import EXPLANATION_NOTE_KINDS, CheckReport, Diagnosis, DiagnosisKind, Note, Result
from ..plan import flag_source
from ..rundir import option_filter, run_caches
from ..scan.options import OptionFilter
from ..scan.symbols import SymbolIndex
from ..settings import Settings
from ..store.location import variant_dir
from ..store.serialize import forget_explanation
from ..triage import Kbuild, UnitGraphs, triage
from .config import ConfigProbe, probe_config
from .context import Context, Explained, norm_path
from .diagnostic import explain_diagnostic
from .files import Files
from .index import LazyIndex
from .render import notes_for


@dataclass
class Explanation:
    """What ``explain_report`` did: the edits it suggests."""

    edits: list[Edit] = field(default_factory=list)
    #: The results this call explained (those it skipped as already explained are not here).
    explained: list[Result] = field(default_factory=list)


def is_explained(result: Result) -> bool:
    """Whether a result already carries explanation notes (it came back from the cache explained)."""
    return any(n.kind in EXPLANATION_NOTE_KINDS for d in result.diagnostics for n in d.notes)


def explain_report(report: CheckReport, settings: Settings, *, triage_results: bool = True,
                   base_index: SymbolIndex | None = None,
                   skip_explained: bool = False, graphs: GraphStore | None = None) -> Explanation:
    """Classify every failing result's diagnostics and attach explanations (and triage) as notes.

    ``base_index``: the run's symbol index, reused rather than built again; ``graphs``:
    where the compile database's include graphs persist (the result cache).
    ``skip_explained``: leave results that already carry notes alone (a cached result
    comes back with its explanation; ``hdrtest fix`` wants the edits, so it explains
    everything again).
    """
    failing = [r for r in report.results if r.status.failed and r.diagnostics
               and not (skip_explained and is_explained(r))]
    explanation = Explanation(explained=failing)
    if not failing:
        return explanation
    for result in failing:
        forget_explanation(result)  # back from a cache or explained twice (check --fix): start clean
        cls.classify_all(result.diagnostics, check_guard=result.job.check_guard)
    same_filter = getattr(base_index, "options", None) in (None, OptionFilter()) and \
        option_filter(settings) == OptionFilter()
    index = LazyIndex(failing, run_caches(settings), option_filter(settings),
                      base=base_index if same_filter else None, jobs=settings.jobs or default_jobs())
    files = Files(option_filter(settings))
    probes: dict[str, ConfigProbe] = {}
    for result in failing:
        config = probes[result.job.key] = probe_config(result.job, variant_dir(settings))
        files.touched = set()
        ctx = Context(result=result, root=report.root, index=index, values=config.values,
                      closure=frozenset(norm_path(d) for d in [*result.dependencies, str(result.job.header)]),
                      search=SearchPath.from_flags(result.job.flags, result.job.directory), files=files,
                      unknown_reason=config.error)
        for diag in result.diagnostics:
            if not diag.is_error:
                continue
            try:
                found = explain_diagnostic(diag, ctx)
                notes = notes_for(found.diagnosis, diag, _diff(found.edits, report.root),
                                  _diff(found.also_edits, report.root)) if found.diagnosis is not None else []
            except (OSError, ValueError, RecursionError) as exc:
                # An explanation is an extra: a file that vanished or a construct the
                # scanners misread must not cost the user the check itself.
                failed = Diagnosis(DiagnosisKind.NOT_EXPLAINED, diag.symbol or "", verified=False,
                                   reason=f"{exc.__class__.__name__}: {exc}")
                found, notes = Explained(failed), notes_for(failed, diag)
            diag.notes.extend(notes)
            diag.diagnosis = found.diagnosis
            explanation.edits.extend(found.edits)
        result.explained_from = _inputs(ctx) if ctx.cacheable and config.error is None else None
    if triage_results:
        _triage(failing, settings, report.root, graphs, probes)
    return explanation


def _diff(edits: list[Edit], root: Path) -> str | None:
    return render_diff(edits, root) if edits else None


def _inputs(ctx: Context) -> dict[str, str]:
    """What one explanation read that the compile did not: path -> content digest."""
    paths = (ctx.files.touched | ctx.read) - ctx.closure
    return {path: ctx.files.digest(path) for path in sorted(paths)}


def _triage(failing: Sequence[Result], settings: Settings, root: Path, store: GraphStore | None,
            probes: Mapping[str, ConfigProbe]) -> None:
    """Note on each failure whether a unit of the compile database builds the header in this configuration.

    Needs the compile database: without one there is no build to judge the impact on.
    """
    try:
        database = flag_source(settings).database
    except Exception:  # noqa: BLE001 - triage is an extra; a broken database was reported by the check
        return
    if database is None:
        return
    entries = compdb.load(database)
    graphs = UnitGraphs(entries, store)
    kbuild = Kbuild(root)
    for result in failing:
        config = probes[result.job.key]
        if config.error is not None:
            # Which units build in this configuration depends on its macros: unknown, so no verdict (the
            # result's triage stays None, as explain_report left it).
            message = f"impact not verified: {config.error}"
        else:
            preferred = [c.name if c.name.startswith("CONFIG_") else "CONFIG_" + c.name
                         for c in result.job.variant.changes]
            verdict = triage(result.job.header, entries, config.values, root, preferred=preferred,
                             graphs=graphs, kbuild=kbuild, variant=result.job.variant)
            result.triage, message = verdict.label, verdict.message
        first = next((d for d in result.diagnostics if d.is_error), None)
        if first is not None:
            first.notes.append(Note(message, kind="triage"))
