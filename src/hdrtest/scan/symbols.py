"""A symbol index over many files: definitions looked up by name, cached by content hash.

Each file is indexed by ``cindex`` (tree-sitter plus the directive scanner); the index
keeps the results in stored form, builds ``Definition`` objects only when asked, and
keeps each file's definitions on disk by content hash so a warm build costs little
more than hashing the files.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..store.atomic import write_atomic
from ..store.namespaces import SYMBOLS, load
from .cindex import INDEX_VERSION, Definition, FileSymbols, index_symbols
from .formula import from_json, to_json
from .options import OptionFilter

__all__ = ["IndexStats", "SymbolIndex"]


def _key_parts(options: OptionFilter | None) -> tuple[str, ...]:
    """What a file's stored definitions depend on besides its content: the indexer, its grammar, the option filter."""
    try:
        ts_version = metadata.version("tree-sitter-c")
    except metadata.PackageNotFoundError:
        ts_version = "unknown"
    opts = options or OptionFilter()
    return str(INDEX_VERSION), ts_version, repr((sorted(opts.patterns), sorted(opts.names)))


def _encode(fs: FileSymbols) -> bytes:
    # Formulas go in as JSON-like lists: unpickling plain lists and tuples is several
    # times faster than rebuilding dataclass instances, and most files share few.
    return pickle.dumps(([to_json(c) for c in fs.conditions], fs.rows), protocol=pickle.HIGHEST_PROTOCOL)


def _decode(blob: bytes) -> FileSymbols:
    conds, rows = pickle.loads(blob)
    return FileSymbols([from_json(c) for c in conds], rows)


def _index_worker(args: tuple[str, OptionFilter | None]) -> tuple[str, str, bytes | None, str | None]:
    """For a process pool: ``(path, sha256, encoded symbols, error)``."""
    path, options = args
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return path, "", None, exc.strerror or str(exc)
    digest = hashlib.sha256(data).hexdigest()
    return path, digest, _encode(index_symbols(path, data, options)), None


@dataclass
class IndexStats:
    parsed: int = 0  # files indexed from source
    cached: int = 0  # files whose definitions came from the cache (disk or memory)


@dataclass
class _Entry:
    digest: str
    symbols: FileSymbols
    built: dict[int, Definition]


class SymbolIndex:
    """Definitions of many files, looked up by name.  Picklable.

    Definitions are kept in stored form and built on lookup, so a warm build costs
    little more than hashing the files.
    """

    def __init__(self, options: OptionFilter | None = None, cache_dir: Path | None = None) -> None:
        self.options = options
        self.cache_dir = cache_dir
        self._key_parts = _key_parts(options)
        self._by_name: dict[str, list[tuple[str, int]]] = {}
        self._by_file: dict[str, _Entry] = {}
        self._memo: dict[str, FileSymbols] = {}  # sha256 -> symbols, this process only
        self._fresh: set[str] = set()  # digests parsed by a worker pool, not yet counted
        self.errors: dict[str, str] = {}
        self.stats = IndexStats()

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_memo"] = {}  # a per-process speed-up, not worth shipping
        state["_fresh"] = set()
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)

    # -- cache ----------------------------------------------------------------

    def cache_path(self, digest: str) -> Path | None:
        """Where the definitions of content ``digest`` are kept (``cache_dir`` is the run's cache directory)."""
        if self.cache_dir is None:
            return None
        return SYMBOLS.path(self.cache_dir, SYMBOLS.key(digest, *self._key_parts), ".pickle")

    def _load(self, digest: str) -> FileSymbols | None:
        fs = self._memo.get(digest)
        if fs is not None:
            return fs
        fs = load(self.cache_path(digest), _decode)
        if fs is not None:
            self._memo[digest] = fs
        return fs

    def _store(self, digest: str, fs: FileSymbols, blob: bytes | None = None) -> None:
        self._memo[digest] = fs
        p = self.cache_path(digest)
        if p is not None and not p.exists():
            write_atomic(p, blob if blob is not None else _encode(fs))

    # -- building -------------------------------------------------------------

    def _install(self, key: str, digest: str, fs: FileSymbols) -> None:
        if key in self._by_file:
            self.remove_file(key)
        self._by_file[key] = _Entry(digest, fs, {})
        by_name = self._by_name
        for i, row in enumerate(fs.rows):
            entry = by_name.get(row[0])
            if entry is None:
                by_name[row[0]] = [(key, i)]
            else:
                entry.append((key, i))

    def _add(self, key: str) -> None:
        """Read and index one file (replacing what was known about it); raises OSError if it cannot be read."""
        with open(key, "rb") as f:
            data = f.read()
        digest = hashlib.sha256(data).hexdigest()
        old = self._by_file.get(key)
        if old is not None and old.digest == digest:
            return
        fs = self._load(digest)
        if fs is None:
            fs = index_symbols(key, data, self.options)
            self._store(digest, fs)
            self.stats.parsed += 1
        elif digest in self._fresh:
            self._fresh.discard(digest)
            self.stats.parsed += 1
        else:
            self.stats.cached += 1
        self._install(key, digest, fs)

    def add_files(self, paths: Iterable[str | Path], jobs: int = 1) -> int:
        """Index many files, skipping unreadable ones (recorded in ``errors``); returns how many.

        ``jobs`` > 1 parses the files missing from the cache in that many processes.
        """
        absolute = [os.path.abspath(p) for p in paths]
        if jobs > 1:
            self._prefill(absolute, jobs)
        count = 0
        for p in absolute:
            try:
                self._add(p)
                count += 1
            except OSError as exc:
                self.errors[p] = exc.strerror or str(exc)
        return count

    def _prefill(self, paths: list[str], jobs: int) -> None:
        """Parse the files missing from the cache in a process pool, filling the memo."""
        todo: list[str] = []
        for p in paths:
            try:
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            except OSError:
                continue  # reported by the serial pass
            if self._load(digest) is None:
                todo.append(p)
        if len(todo) < 2 * jobs:
            return
        chunk = max(1, len(todo) // (jobs * 8))
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for _path, digest, blob, _error in pool.map(
                _index_worker, [(p, self.options) for p in todo], chunksize=chunk
            ):
                if blob is not None and digest not in self._memo:
                    self._store(digest, _decode(blob), blob)
                    self._fresh.add(digest)

    def remove_file(self, path: str | Path) -> None:
        key = os.path.abspath(path)
        old = self._by_file.pop(key, None)
        if old is None:
            return
        for name in {row[0] for row in old.symbols.rows}:
            kept = [ref for ref in self._by_name.get(name, ()) if ref[0] != key]
            if kept:
                self._by_name[name] = kept
            else:
                self._by_name.pop(name, None)

    @classmethod
    def build(
        cls,
        paths: Iterable[str | Path],
        cache_dir: Path | None = None,
        options: OptionFilter | None = None,
        jobs: int = 1,
    ) -> SymbolIndex:
        """Index ``paths``; with ``cache_dir`` each file's definitions are kept by content hash."""
        index = cls(options, cache_dir)
        index.add_files(paths, jobs)
        return index

    # -- queries ----------------------------------------------------------------

    def _definition(self, path: str, i: int) -> Definition:
        entry = self._by_file[path]
        d = entry.built.get(i)
        if d is None:
            d = entry.built[i] = entry.symbols.definition(path, i)
        return d

    def lookup(self, name: str, kinds: Iterable[str] | str | None = None) -> list[Definition]:
        """Every definition or declaration of ``name`` (optionally of the given kinds)."""
        refs = self._by_name.get(name, ())
        if kinds is None:
            return [self._definition(p, i) for p, i in refs]
        wanted = {kinds} if isinstance(kinds, str) else set(kinds)
        return [self._definition(p, i) for p, i in refs if self._by_file[p].symbols.rows[i][1] in wanted]

    def files(self) -> list[str]:
        return list(self._by_file)

    def digest(self, path: str | Path) -> str | None:
        entry = self._by_file.get(os.path.abspath(path))
        return entry.digest if entry is not None else None

    def definitions_in(self, path: str | Path) -> list[Definition]:
        key = os.path.abspath(path)
        entry = self._by_file.get(key)
        if entry is None:
            return []
        return [self._definition(key, i) for i in range(len(entry.symbols.rows))]

    def names(self) -> list[str]:
        return list(self._by_name)

    def __len__(self) -> int:
        return sum(len(e.symbols.rows) for e in self._by_file.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name
