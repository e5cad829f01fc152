"""The symbol index explanations look names up in: the failing compiles' closures, widened on demand."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..compile import private_dir
from ..graph.resolve import SearchPath
from ..models import Result
from ..scan.cindex import Definition
from ..scan.options import OptionFilter
from ..scan.symbols import SymbolIndex
from ..store.namespaces import SYMBOLS
from .context import norm_path

_HEADER_SUFFIXES = (".h", ".hh", ".hpp", ".hxx", ".h++", ".inc")


def closure_paths(results: Sequence[Result]) -> list[Path]:
    """What the failing compiles read: their include closures (from the compiler's dependency output)."""
    return [Path(p) for p in dict.fromkeys(norm_path(path) for result in results
                                           for path in (str(result.job.header), *result.dependencies))]


def wider_paths(results: Sequence[Result], limit: int = 200_000) -> list[Path]:
    """Every header in the failing headers' directories and under the include directories of their flags."""
    chosen: dict[str, None] = {}
    directories = dict.fromkeys(directory for result in results for directory in (
        result.job.header.parent, *SearchPath.from_flags(result.job.flags, result.job.directory).quote_chain()))
    for directory in directories:
        for base, dirnames, filenames in os.walk(directory):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            chosen.update(dict.fromkeys(os.path.join(base, f) for f in filenames if f.endswith(_HEADER_SUFFIXES)))
            if len(chosen) > limit:
                break
    return [Path(p) for p in chosen]


#: An identifier as a whole word: what a file must contain to define it.
_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


class LazyIndex:
    """A symbol index over the failing compiles' closures, widened to the include directories on demand.

    Most explanations are about something the header does read (a definition under a
    false condition); only a name not defined anywhere in the closure needs the wider
    (and, on a kernel tree, ten times larger) set of headers.  Of that set, only the files
    that contain the name as a word can define it, so widening for a name parses those
    alone: a word list of 6,700 kernel headers takes about a second, parsing them all
    for symbols about fifteen.  Nothing is indexed until an explanation looks a name up
    (a missing include or an include guard needs no index).
    """

    def __init__(self, results: Sequence[Result], cache_dir: Path, options: OptionFilter | None = None, *,
                 base: SymbolIndex | None = None, jobs: int = 1) -> None:
        """``base``: an index this run already built (the variant planner's), extended instead of rebuilt;
        ``jobs``: processes to parse many files with."""
        self.results = list(results)
        self.cache_dir = cache_dir
        self.options = options
        self.jobs = jobs
        self._base = base
        self._index: SymbolIndex | None = None
        self._indexed: set[str] = set()
        #: Files the answers cover: the closure, and after a widening the include directories too.
        self.files = 0
        #: The include directories' files, and for each word the ones containing it (built on the first widening).
        self._wider: list[str] = []
        self._words: dict[bytes, list[int]] | None = None

    @property
    def index(self) -> SymbolIndex:
        if self._index is None:
            first = closure_paths(self.results)
            self._indexed = {str(p) for p in first}
            if self._base is not None:
                self._base.add_files(first)  # files it has already cost a hash each
                self._index = self._base
            else:
                self._index = build_index(first, self.cache_dir, self.options)
            self.files = len(first)
        return self._index

    def add(self, paths: Sequence[str]) -> bool:
        """Index ``paths`` too (say, the compiler's own headers); False when all of them were already."""
        index = self.index
        fresh = [p for p in paths if p not in self._indexed]
        if not fresh:
            return False
        self._indexed.update(fresh)
        index.add_files(fresh, jobs=self.jobs if len(fresh) > 64 else 1)
        return True

    def lookup(self, name: str, kinds: Iterable[str] | None = None) -> Sequence[Definition]:
        return self.index.lookup(name, kinds)

    def widen(self, name: str) -> bool:
        """Index the include directories' files that mention ``name``.

        False when that added nothing: the answer for ``name`` cannot have changed.
        """
        return self.add([self._wider[i] for i in self._word_map().get(name.encode("utf-8", "replace"), ())])

    def _word_map(self) -> dict[bytes, list[int]]:
        if self._words is None:
            self.index  # the closure is indexed first, so that the count below is not undone
            closure = {str(p) for p in closure_paths(self.results)}
            self._wider = [str(p) for p in wider_paths(self.results)]
            self.files = len(closure | set(self._wider))
            words: defaultdict[bytes, list[int]] = defaultdict(list)
            for number, path in enumerate(self._wider):
                try:
                    with open(path, "rb") as handle:
                        data = handle.read()
                except OSError:
                    continue  # the index records it as unreadable if it is ever asked to read it
                for word in set(_WORD.findall(data)):
                    words[word].append(number)
            self._words = words
        return self._words


def build_index(paths: Sequence[Path], cache_dir: Path, options: OptionFilter | None = None) -> SymbolIndex:
    try:
        SYMBOLS.directory(cache_dir).mkdir(parents=True, exist_ok=True)
    except OSError:
        cache_dir = private_dir()  # an unusable --cache-dir costs the cache, not the explanation
    return SymbolIndex.build(paths, cache_dir, options)

