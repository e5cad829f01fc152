"""The one selection of headers a change can affect, for ``check --changed-since`` and ``diff``.

A header is affected when the include closure of its compile (forced includes,
preludes, the header) holds a changed file, in the include graph of the search path its
flags give (``includes.IncludeGraph``, every ``#include`` whatever condition guards it, resolved
along the compiler's own directories).  A changed settings file, compile database or
Kconfig can change every compile, so it affects every header.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import UsageError
from ..models import Job
from ..scan.scancache import ScanCache
from ..settings import Settings
from . import vcs
from .includes import IncludeGraph, load_graph
from .resolve import Chains, chains_of_key, forced_of_key
from .store import GraphStore

#: Suffixes of files that a computed ``#include MACRO`` is not expected to name.
_NEVER_INCLUDED = {".c", ".cc", ".cpp", ".cxx", ".S", ".s", ".o", ".py", ".pl", ".sh", ".md", ".rst", ".txt",
                   ".json", ".toml", ".yaml", ".yml", ".cfg", ".in", ".am", ".mk", ".cmake"}


def affected(headers: Iterable[str], changed: Iterable[Path | str], graphs: Iterable[IncludeGraph]) -> set[str]:
    """The headers whose include closure, in any of ``graphs``, contains a changed file.

    ``headers`` are absolute, normalised paths.  A changed file no graph reaches may be new (and now shadow an include) or
    deleted (so its includers now resolve differently): every file naming an include with
    the same base name counts as changed too, and so does every file with a computed include.
    """
    graphs = list(graphs)
    seeds = {os.path.normpath(p) for p in changed}
    unknown = {os.path.basename(p) for p in seeds if not any(p in g.files for g in graphs)}
    computed_may_reach = any(os.path.splitext(name)[1] not in _NEVER_INCLUDED for name in unknown)
    reached: set[str] = set()
    for graph in graphs:
        graph_seeds = set(seeds)
        if unknown:
            for source in graph.files:
                if any(os.path.basename(i.spelling) in unknown or (i.computed and computed_may_reach)
                       for i in graph.includes(source)):
                    graph_seeds.add(source)
        reached |= graph.reach_back(graph_seeds)
    return {h for h in headers if h in reached}


def config_files(settings: Settings) -> set[Path]:
    """Files whose change can change every compile: the settings file, the compile database, the Kconfig."""
    found: set[Path] = set()
    if settings.settings_file is not None:
        found.add(settings.settings_file)
    if settings.compile_commands:
        database = settings.resolve(settings.compile_commands)
        found |= {database, database / "compile_commands.json"}
    if settings.kconfig:
        found.add(settings.resolve(settings.kconfig))
    return {Path(os.path.normpath(p)) for p in found}


def select_jobs(jobs: Sequence[Job], changed: Iterable[Path], *, config: Iterable[Path] = (),
                store: GraphStore | None = None) -> list[Job]:
    """The jobs whose header, prelude or forced include reaches a changed file (all of them when a
    file of ``config`` changed); ``store`` keeps the include graphs between runs."""
    changed = {Path(os.path.normpath(p)) for p in changed}
    if not changed or not jobs:
        return []
    if {Path(os.path.normpath(c)) for c in config} & changed:
        return list(jobs)
    # Jobs share search paths by the thousand: group them before asking for chains (hashing is not free).
    groups: dict[tuple[str, str, tuple[str, ...], Path], list[int]] = {}
    for index, job in enumerate(jobs):
        groups.setdefault((job.compiler, job.language, job.flags, job.directory), []).append(index)
    roots: list[tuple[str, ...]] = [()] * len(jobs)
    by_chains: dict[Chains, list[str]] = {}
    for key, members in groups.items():
        forced = forced_of_key(*key)
        files = by_chains.setdefault(chains_of_key(*key), [])
        for index in members:
            job = jobs[index]
            roots[index] = (*forced, *(str(p) for p in job.preludes), str(job.header))
            files.extend(roots[index])
    scans = ScanCache()  # one file read under several search paths is scanned once
    graphs = [load_graph(chains, files, store, scans) for chains, files in by_chains.items()]
    hit = affected({r for rs in roots for r in rs}, changed, graphs)
    return [job for job, job_roots in zip(jobs, roots) if any(r in hit for r in job_roots)]


def changed_files(root: Path, rev: str) -> set[Path]:
    """Files changed in the work tree since ``rev`` (tracked changes and untracked files), absolute.

    Paths are spelled under ``root`` as given (not resolved through symlinks), like the
    paths hdrtest discovers.
    """
    why = "--changed-since needs a git work tree and a revision it knows"
    if not rev or rev.startswith("-"):
        raise UsageError(f"'{rev}' is not a revision", path="--changed-since")
    cdup = vcs.text(vcs.git(root, "rev-parse", "--show-cdup", why=why)).strip()
    top = Path(os.path.normpath(root / cdup)) if cdup else root
    if vcs.commit_of(top, rev) is None:
        raise UsageError(f"unknown revision '{rev}'", path="--changed-since",
                         hint="name a commit, branch or tag of this repository")
    return {Path(os.path.normpath(top / name)) for name in vcs.changed_paths(top, rev, why=why)}


def select_changed(jobs: Sequence[Job], settings: Settings, store: object | None = None) -> list[Job]:
    """``check --changed-since``: the jobs a change since ``settings.changed_since`` can affect."""
    if settings.changed_since is None:
        return list(jobs)
    changed = changed_files(settings.root, settings.changed_since)
    return select_jobs(jobs, changed, config=config_files(settings),
                       store=store if isinstance(store, GraphStore) else None)
