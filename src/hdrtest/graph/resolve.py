"""Which file an ``#include`` names: gcc's search chain, built from compile flags, and one resolver.

The chain is built from compile flags (parsed by ``toolchain.flags``) plus the
compiler's own directories (``probe``).  ``Resolver`` is the one place a spelling
becomes a path, for the include graph, the result cache's watched directories and
every ``SearchPath.resolve``: it lists each directory once, shared by all lookups, and
remembers which names it looked up where, so that a stored resolution can be checked with
one ``stat`` per directory (``store.revalidate``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..models import Job
from ..scan.probe import CompilerInfo, probe_compiler
from ..toolchain import probe
from ..toolchain.flags import parse_flags
from .store import Listing, list_directory


class Include(NamedTuple):
    """One ``#include``-like reference in a file, as written: what resolution needs of it."""

    spelling: str  # the name between the delimiters, or the macro text when computed
    angled: bool
    #: "include" (also #import), "next" (#include_next) or "has" (__has_include probes a name without reading it).
    kind: str = "include"
    computed: bool = False


@dataclass(frozen=True)
class Chains:
    """A search path as plain strings: what resolution needs, hashable to key caches by."""

    quote: tuple[str, ...]  # after the including file's directory, for "..." (quote dirs, then the angled chain)
    angled: tuple[str, ...]  # for <...>

    @classmethod
    def of(cls, search: SearchPath) -> Chains:
        return cls(tuple(map(str, search.quote_chain())), tuple(map(str, search.angled_chain())))

    def all_dirs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.quote + self.angled))

    def key(self) -> str:
        return hashlib.sha256(json.dumps([self.quote, self.angled]).encode()).hexdigest()

    def dirs_for(self, include: Include, includer: str | None) -> Sequence[str]:
        """The directories the compiler searches for ``include`` written in ``includer``, in order.

        ``#include_next`` continues after the chain directory the includer was found in
        (gcc links the quote and angled chains into one list, so the spelling does not
        matter); a file found outside the chain (next to its includer, or named by
        ``-include``) continues from the head of the quote chain, as gcc does.
        """
        if include.kind == "next" and includer is not None:
            index = _found_in(includer, self.quote)
            return self.quote if index is None else self.quote[index + 1:]
        if include.angled:
            return self.angled
        return self.quote if includer is None else (os.path.dirname(includer), *self.quote)


def _found_in(path: str, chain: Sequence[str]) -> int | None:
    """The index of the chain directory ``path`` was found in: the deepest one holding it.

    The deepest, because nested search directories (Linux's ``include`` and
    ``include/uapi``) are reached through the inner one (``<linux/x.h>``), not with the
    inner directory's name in the spelling.
    """
    best: int | None = None
    for index, directory in enumerate(chain):
        if path.startswith(directory.rstrip("/") + "/") and (best is None or len(directory) > len(chain[best])):
            best = index
    return best


class Resolver:
    """Resolves includes with one directory listing per directory, shared by all lookups.

    It remembers each directory it listed with its stamp and the names it looked up
    there, found or not, so that a stored resolution can be checked later with one
    ``stat`` per directory (and a listing when the stamp moved: saving a file by renaming
    a new one over it changes the stamp, not the names).
    """

    def __init__(self) -> None:
        self._listings: dict[str, frozenset[str]] = {}
        #: Directory -> its stamp (None: it could not be listed) and the names looked up in it.
        self.consulted: dict[str, Listing] = {}

    def exists(self, path: str) -> bool:
        """Whether ``path`` is a regular file (or a link to one), from its directory's listing."""
        head, tail = os.path.split(path)
        listing = self._listings.get(head)
        if listing is None:
            stamp, listing = list_directory(head)
            self._listings[head] = listing
            self.consulted[head] = Listing(stamp)
        present = tail in listing
        asked = self.consulted[head]
        (asked.found if present else asked.missing).add(tail)
        return present

    def candidates(self, include: Include, includer: str | None, chains: Chains) -> list[str]:
        """The paths the compiler tries for ``include``, in order."""
        name = include.spelling
        if include.computed or not name:
            return []
        if os.path.isabs(name):
            return [os.path.normpath(name)]
        paths = [os.path.join(d, name) for d in chains.dirs_for(include, includer)]
        needs_norm = ".." in name or name.startswith("./") or "//" in name
        return [os.path.normpath(p) for p in paths] if needs_norm else paths

    def resolve(self, include: Include, includer: str | None, chains: Chains) -> str | None:
        """The file the compiler opens for ``include`` written in ``includer`` (None: the main file), or None."""
        for path in self.candidates(include, includer, chains):
            if self.exists(path):
                return path
        return None


@dataclass
class SearchPath:
    """gcc's search chain: quote dirs, then -I, then system, then -idirafter."""

    quote_dirs: tuple[Path, ...] = ()  # -iquote
    include_dirs: tuple[Path, ...] = ()  # -I
    system_dirs: tuple[Path, ...] = ()  # -isystem
    builtin_dirs: tuple[Path, ...] = ()  # the compiler's own
    #: Read before everything else without being asked for (gcc's stdc-predef.h).
    implicit_includes: tuple[Path, ...] = ()
    after_dirs: tuple[Path, ...] = ()  # -idirafter
    #: ``-include`` files in order, as spelled (see ``forced_include_paths``).
    forced_includes: tuple[str, ...] = ()
    #: ``-imacros`` files: only their macros matter, but they are read first.
    macro_includes: tuple[str, ...] = ()
    directory: Path = Path(".")

    @classmethod
    def from_flags(
        cls,
        flags: Sequence[str],
        directory: Path,
        compiler: str | None = None,
        language: str | None = None,
    ) -> SearchPath:
        """Build the chain from compile flags; relative directories are taken from ``directory``.

        ``compiler`` is asked for its built-in directories (once per compiler, language
        and target flags); without one only the flags' directories are searched.
        ``language`` defaults to the flags' ``-x`` or ``"c"``.
        """
        directory = Path(os.path.abspath(directory))
        parsed = parse_flags(flags)
        root = Path(os.path.normpath(directory / parsed.sysroot)) if parsed.sysroot else None

        def absolute(d: str) -> Path:
            # "=dir" and "$SYSROOT/dir" are relative to the sysroot (gcc).
            if root is not None and d.startswith("="):
                d = str(root) + d[1:]
            elif root is not None and d.startswith("$SYSROOT"):
                d = str(root) + d[len("$SYSROOT") :]
            return Path(os.path.normpath(directory / d))

        lang = language or parsed.language or "c"
        info = CompilerInfo()
        if compiler is not None and not parsed.nostdinc:
            target = parsed.target_flags_in(directory)
            info = probe_compiler(compiler, "c++" if lang.startswith("c++") else "c", tuple(target))
        return cls(
            quote_dirs=tuple(absolute(d) for d in parsed.quote_dirs),
            include_dirs=tuple(absolute(d) for d in parsed.include_dirs),
            system_dirs=tuple(absolute(d) for d in parsed.system_dirs),
            builtin_dirs=info.include_dirs,
            implicit_includes=info.implicit_includes,
            after_dirs=tuple(absolute(d) for d in parsed.after_dirs),
            forced_includes=parsed.forced_includes,
            macro_includes=parsed.macro_includes,
            directory=directory,
        )

    # -- chains ------------------------------------------------------------

    def angled_chain(self) -> tuple[Path, ...]:
        """Directories for ``#include <...>``, in order, duplicates removed like gcc."""
        system = dict.fromkeys(self.system_dirs + self.builtin_dirs)
        # gcc: a directory given both with -I and as a system directory is searched as
        # a system directory only, at the system position.
        user = [d for d in self.include_dirs if d not in system]
        return tuple(dict.fromkeys([*user, *system, *self.after_dirs]))

    def quote_chain(self) -> tuple[Path, ...]:
        """Directories for ``#include "..."`` after the including file's own directory."""
        return tuple(dict.fromkeys(self.quote_dirs + self.angled_chain()))

    # -- resolution -------------------------------------------------------

    @functools.cached_property
    def _resolving(self) -> tuple[Resolver, Chains]:
        """The one resolver, made on first use (lookups list each directory once), and the chains it walks."""
        return Resolver(), Chains.of(self)

    def _lookup(self, include: Include, including_file: Path | str | None) -> Path | None:
        resolver, chains = self._resolving
        includer = None if including_file is None else os.path.normpath(os.path.abspath(including_file))
        found = resolver.resolve(include, includer, chains)
        return None if found is None else Path(found)

    def resolve(self, spelling: str, angled: bool, including_file: Path | str | None = None) -> Path | None:
        """The file ``#include "spelling"`` (or ``<spelling>``) in ``including_file`` names."""
        return self._lookup(Include(spelling, angled), including_file)

    def resolve_next(self, spelling: str, angled: bool, including_file: Path | str) -> Path | None:
        """``#include_next``: search the chain after the directory the includer was found in."""
        return self._lookup(Include(spelling, angled, "next"), including_file)

    def read_first(self) -> list[Path]:
        """What every compile reads before the main file: the implicit includes, then the ``-include`` files."""
        return [*self.implicit_includes, *(p for p in self.forced_include_paths() if p is not None)]

    def forced_include_paths(self, spellings: Sequence[str] | None = None) -> list[Path | None]:
        """``-include`` files (or other ``spellings`` named on the command line) resolved: the working
        directory first, then the quote chain."""
        out: list[Path | None] = []
        for spelling in self.forced_includes if spellings is None else spellings:
            candidate = os.path.normpath(os.path.join(self.directory, spelling))
            out.append(Path(candidate) if os.path.isfile(candidate) else self.resolve(spelling, False, None))
        return out


# -- a job's search path ------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _search_path(compiler: str, language: str, flags: tuple[str, ...], directory: Path) -> SearchPath:
    return SearchPath.from_flags(flags, directory, probe(compiler, directory).path, language)


def job_search_path(job: Job) -> SearchPath:
    """The job's search path (the compiler is asked for its own directories once per process)."""
    return _search_path(job.compiler, job.language, job.flags, job.directory)


@functools.lru_cache(maxsize=4096)
def chains_of_key(compiler: str, language: str, flags: tuple[str, ...], directory: Path) -> Chains:
    """Chains by the search key (compiler, language, flags, directory): jobs share keys by the thousand,
    and grouping them first saves hashing the same flags again."""
    return Chains.of(_search_path(compiler, language, flags, directory))


def job_chains(job: Job) -> Chains:
    return chains_of_key(job.compiler, job.language, job.flags, job.directory)


@functools.lru_cache(maxsize=4096)
def forced_of_key(compiler: str, language: str, flags: tuple[str, ...], directory: Path) -> tuple[str, ...]:
    """The files the compile reads before the header: ``-include`` files, then ``-imacros`` files."""
    search = _search_path(compiler, language, flags, directory)
    return tuple(str(p) for p in search.forced_include_paths([*search.forced_includes, *search.macro_includes])
                 if p is not None)
