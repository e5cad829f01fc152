"""Which directories a cached verdict watches: where a new file would change what the compile reads.

A result stays valid while every file it read keeps its content and no file appears
that the compiler would find first.  ``WatchedDirs`` works the second part out from the
includes each dependency names and the job's search path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from ..graph.resolve import Chains, Include, Resolver, job_chains, job_search_path
from ..models import Job


class WatchedDirs:
    """``watched(job, deps)``: the directories to fingerprint for a result; memoised for one run."""

    def __init__(self, includes_of: Callable[[str], Sequence[Include]]) -> None:
        #: The includes a dependency names (scanned from its content, cached by digest).
        self._includes_of = includes_of
        self._resolver = Resolver()
        self._watch_memo: dict[tuple[str, int, Include], tuple[str, ...]] = {}
        self._chain_ids: dict[Chains, int] = {}
        self._dep_watch: dict[tuple[int, str], tuple[dict[str, None], bool]] = {}
        self._ancestor_memo: dict[str, tuple[tuple[str, str], ...]] = {}
        self._joined: dict[tuple[str, str], str] = {}

    def __call__(self, job: Job, deps: Sequence[str]) -> list[str]:
        """Directories where a new file could change what this compile reads.

        For every include a dependency names, the directories the compiler searches
        before the one it found the file in (a new file there would be found first); for
        an include it did not find (``__has_include``), all of them.  Plus every search
        directory and the directory of every dependency.  A computed ``#include MACRO``
        names nothing we can follow, so for a file with one, every directory any
        dependency's relative path could be in counts.

        Kernel headers read about a thousand files each, mostly the same ones: what a
        dependency contributes is worked out once per run and search path.
        """
        search = job_search_path(job)
        chains = job_chains(job)
        chain_id = self._chain_ids.setdefault(chains, len(self._chain_ids))
        watched: dict[str, None] = dict.fromkeys(chains.all_dirs())
        for spelling in (*search.forced_includes, *search.macro_includes):
            # -include files are looked up in the working directory first, then along the quote chain.
            if not os.path.isabs(spelling):
                sub = os.path.dirname(spelling)
                bases = [str(job.directory), *chains.quote]
                watched.update(dict.fromkeys(os.path.normpath(os.path.join(b, sub)) for b in bases))
        computed: list[str] = []
        memo = self._dep_watch
        for dep in deps:
            found = memo.get((chain_id, dep))
            if found is None:
                found = memo[(chain_id, dep)] = self._dep_watched(dep, chains, chain_id)
            watched.update(found[0])
            if found[1]:
                computed.append(dep)
        if computed:
            self._add_computed(watched, chains, deps, computed)
        return list(watched)

    def _dep_watched(self, dep: str, chains: Chains, chain_id: int) -> tuple[dict[str, None], bool]:
        """The directories ``dep``'s includes watch along ``chains``, and whether it has a computed include."""
        dep_dir = os.path.dirname(dep)
        watched: dict[str, None] = {dep_dir: None}
        computed = False
        for include in self._includes_of(dep):
            if include.computed:
                computed = True
                continue
            # Quoted includes search the includer's directory first; #include_next resumes after it.
            place = dep_dir if not include.angled or include.kind == "next" else ""
            memo_key = (place, chain_id, include)
            found = self._watch_memo.get(memo_key)
            if found is None:
                dirs: list[str] = []
                for candidate in self._resolver.candidates(include, dep, chains):
                    dirs.append(os.path.dirname(candidate))
                    if self._resolver.exists(candidate):
                        break
                found = self._watch_memo[memo_key] = tuple(dirs)
            watched.update(dict.fromkeys(found))
        return watched, computed

    def _add_computed(self, watched: dict[str, None], chains: Chains, deps: Sequence[str],
                      computed: Sequence[str]) -> None:
        # Every relative directory a dependency has below some root: each distinct parent
        # directory's ancestors against a set (a deps x roots scan cost seconds per kernel header).
        parents = {os.path.dirname(d) for d in deps}
        roots = {r.rstrip("/") for r in chains.all_dirs()} | {p.rstrip("/") for p in parents}
        subdirs = {""}
        for parent in parents:
            for ancestor, relative in self._ancestors(parent):
                if ancestor in roots:
                    subdirs.add(relative)
        for dep in computed:
            for base in (os.path.dirname(dep), *chains.quote):
                for sub in subdirs:
                    joined = self._joined.get((base, sub))
                    if joined is None:
                        joined = self._joined[(base, sub)] = os.path.normpath(os.path.join(base, sub))
                    watched[joined] = None

    def _ancestors(self, directory: str) -> tuple[tuple[str, str], ...]:
        """``directory``'s strict ancestors (without a trailing slash) and its path relative to each."""
        found = self._ancestor_memo.get(directory)
        if found is None:
            pairs = []
            current = directory
            while True:
                upper = os.path.dirname(current)
                if upper == current:
                    break
                pairs.append((upper.rstrip("/"), os.path.relpath(directory, upper)))
                current = upper
            found = self._ancestor_memo[directory] = tuple(pairs)
        return found

