"""A symbol index over many files: definitions looked up by name, cached by content hash.

Each file is indexed by ``cindex`` (tree-sitter plus the directive scanner); the index
keeps the results in stored form, builds ``Definition`` objects only when asked, and
keeps each file's definitions on disk by content hash.  Which content a path holds is
remembered with the file's ``stat`` stamp (the include graph's rule, ``graph.store``), so
a warm build reads no source file, only the stored definitions.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..graph.store import Stamp, current_stamp, stamp_of, trusted
from ..store.atomic import write_atomic
from ..store.namespaces import SYMBOLS, load
from .cindex import Definition, FileSymbols, index_symbols, index_version, scan_file
from .directives import FileScan
from .formula import Formula, from_json, to_json
from .options import OptionFilter


class Companion(Protocol):
    """Per-file facts made from the same read and scan as the definitions (``analysis.facts``), so that a
    cold build reads and scans each file once, in the index's worker processes.  Picklable."""

    def missing(self, digest: str) -> bool: ...

    def make(self, path: str, digest: str, data: bytes, scan: FileScan, symbols: FileSymbols) -> None: ...


def _key_parts(options: OptionFilter | None) -> tuple[str, ...]:
    """What a file's stored definitions depend on besides its content: the indexer, its grammar, the option filter."""
    opts = options or OptionFilter()
    return (*index_version(), repr((sorted(opts.patterns), sorted(opts.names))))


def _encode(fs: FileSymbols) -> bytes:
    # Formulas go in as JSON-like lists: unpickling plain lists and tuples is several
    # times faster than rebuilding dataclass instances, and most files share few.
    return pickle.dumps(([to_json(c) for c in fs.conditions], fs.rows, fs.calls), protocol=pickle.HIGHEST_PROTOCOL)


def _decode(blob: bytes) -> FileSymbols:
    conds, rows, calls = pickle.loads(blob)
    return FileSymbols([from_json(c) for c in conds], rows, calls)


def _read(path: str) -> tuple[bytes, str, Stamp | None]:
    """A file's bytes, their sha256 and its stamp when a later change is sure to move it (else None)."""
    taken = time.time_ns()
    with open(path, "rb") as f:
        stamp = stamp_of(os.fstat(f.fileno()))
        data = f.read()
    return data, hashlib.sha256(data).hexdigest(), stamp if trusted(stamp, taken) else None


def _parse(path: str, data: bytes, digest: str, options: OptionFilter | None,
           companion: Companion | None) -> FileSymbols:
    scan = scan_file(path, data, options)
    symbols = index_symbols(path, data, options, scan)
    if companion is not None and companion.missing(digest):
        companion.make(path, digest, data, scan, symbols)
    return symbols


def _index_worker(args: tuple[str, OptionFilter | None, Companion | None]
                  ) -> tuple[str, str, bytes | None, Stamp | None]:
    """For a process pool: ``(path, sha256, encoded symbols, stamp)``; no symbols if unreadable."""
    path, options, companion = args
    try:
        data, digest, stamp = _read(path)
    except OSError:
        return path, "", None, None
    return path, digest, _encode(_parse(path, data, digest, options, companion)), stamp


@dataclass
class IndexStats:
    parsed: int = 0  # files indexed from source
    cached: int = 0  # files whose definitions came from the cache (disk or memory)
    read: int = 0  # source files read (a file whose stamp vouches for its content is not)


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
        #: name -> where it is defined, as ``file number << 32 | row``: one int for the many names defined
        #: once (a list otherwise).  A kernel's 430,000 rows made as (path, row) lists were half a warm build.
        self._by_name: dict[str, int | list[int]] = {}
        self._numbers: dict[str, int] = {}
        self._keys: list[str] = []
        self._by_file: dict[str, _Entry] = {}
        self._memo: dict[str, FileSymbols] = {}  # sha256 -> symbols, this process only
        self._fresh: set[str] = set()  # digests parsed by this build (here or by a worker pool), not yet counted
        #: path -> (stamp, sha256) of the files read or found unchanged: what the next build may trust.
        self._stamps: dict[str, tuple[Stamp, str]] = {}
        self.errors: dict[str, str] = {}
        self.stats = IndexStats()

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_memo"] = {}  # a per-process speed-up, not worth shipping
        state["_fresh"] = set()
        state["_stamps"] = {}
        return state

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
        number = self._numbers.get(key)
        if number is None:
            number = self._numbers[key] = len(self._keys)
            self._keys.append(key)
        base = number << 32
        by_name = self._by_name
        for i, row in enumerate(fs.rows):
            name = row[0]
            entry = by_name.get(name)
            if entry is None:
                by_name[name] = base | i
            elif isinstance(entry, int):
                by_name[name] = [entry, base | i]
            else:
                entry.append(base | i)

    def _codes(self, name: str) -> list[int]:
        """Where ``name`` is defined, as ``file number << 32 | row`` codes."""
        found = self._by_name.get(name)
        return [] if found is None else [found] if isinstance(found, int) else found

    def _add(self, key: str, known: tuple[Stamp, str] | None = None, companion: Companion | None = None) -> None:
        """Read and index one file (replacing what was known about it); raises OSError if it cannot be read.
        ``known``: its stamp and digest, when the stamp says it is unchanged (it is then not read)."""
        if known is not None and self._add_known(key, known, companion):
            return
        data, digest, stamp = _read(key)
        self.stats.read += 1
        if stamp is not None:
            self._stamps[key] = (stamp, digest)
        old = self._by_file.get(key)
        if old is not None and old.digest == digest:
            return
        fs = self._load(digest)
        if fs is None:
            fs = _parse(key, data, digest, self.options, companion)
            self._store(digest, fs)
            self._fresh.add(digest)
        elif digest not in self._fresh and companion is not None and companion.missing(digest):
            companion.make(key, digest, data, scan_file(key, data, self.options), fs)
        self._take(key, digest, fs)

    def _add_known(self, key: str, known: tuple[Stamp, str], companion: Companion | None) -> bool:
        """Install a file whose content is known by its stamp, without reading it; False if its
        definitions (or the companion's facts) are no longer stored."""
        digest = known[1]
        old = self._by_file.get(key)
        if old is not None and old.digest == digest:
            return True
        fs = self._load(digest)
        if fs is None or (companion is not None and companion.missing(digest)):
            return False
        self._stamps[key] = known
        self._take(key, digest, fs)
        return True

    def _take(self, key: str, digest: str, fs: FileSymbols) -> None:
        """Install ``fs``, counted as parsed when this build made it (here or in a worker pool), else as cached."""
        if digest in self._fresh:
            self._fresh.discard(digest)
            self.stats.parsed += 1
        else:
            self.stats.cached += 1
        self._install(key, digest, fs)

    def add_files(self, paths: Iterable[str | Path], jobs: int = 1, companion: Companion | None = None) -> int:
        """Index many files, skipping unreadable ones (recorded in ``errors``); returns how many.

        ``jobs`` > 1 parses the files missing from the cache in that many processes; ``companion``
        makes its facts of every file whose facts it misses, from the same read and scan.
        """
        absolute = [os.path.abspath(p) for p in paths]
        known = self._unchanged(absolute)
        stored = dict(known)
        if jobs > 1:
            self._prefill(absolute, known, jobs, companion)
        count = 0
        for p in absolute:
            try:
                self._add(p, known.get(p), companion)
                count += 1
            except OSError as exc:
                self.errors[p] = exc.strerror or str(exc)
        if self._stamps != stored:
            self._save_stamps(absolute)
        return count

    def _prefill(self, paths: list[str], known: dict[str, tuple[Stamp, str]], jobs: int,
                 companion: Companion | None) -> None:
        """Parse the files missing from the cache in a process pool, filling the memo."""
        todo: list[str] = []
        for p in paths:
            found = known.get(p)
            if found is None:
                try:
                    _data, digest, stamp = _read(p)
                except OSError:
                    continue  # reported by the serial pass
                self.stats.read += 1
                if stamp is not None:  # the serial pass takes this read instead of reading again
                    known[p] = (stamp, digest)
            else:
                digest = found[1]
            if self._load(digest) is None or (companion is not None and companion.missing(digest)):
                todo.append(p)
        if len(todo) < 2 * jobs:
            return
        chunk = max(1, len(todo) // (jobs * 8))
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for path, digest, blob, stamp in pool.map(
                _index_worker, [(p, self.options, companion) for p in todo], chunksize=chunk
            ):
                self.stats.read += 1
                if stamp is not None:  # the serial pass takes the worker's read instead of reading again
                    known[path] = (stamp, digest)
                if blob is not None and digest not in self._memo:
                    self._store(digest, _decode(blob), blob)
                    self._fresh.add(digest)

    # -- stamps: which content a path holds, without reading it ---------------------------------------------

    def _stamps_path(self, paths: list[str]) -> Path | None:
        if self.cache_dir is None:
            return None
        return SYMBOLS.path(self.cache_dir, SYMBOLS.key("stamps", *self._key_parts, "\0".join(sorted(paths))),
                            ".stamps")

    def _unchanged(self, paths: list[str]) -> dict[str, tuple[Stamp, str]]:
        """The files of ``paths`` whose stamp is the one stored with their digest by a build of the same files."""
        stored = load(self._stamps_path(paths), pickle.loads)
        if not isinstance(stored, dict):
            return {}  # none, or damaged: read every file
        unchanged = {}
        for p in paths:
            found = stored.get(p)
            if isinstance(found, tuple) and current_stamp(p) == found[0]:
                unchanged[p] = (found[0], str(found[1]))
        return unchanged

    def _save_stamps(self, paths: list[str]) -> None:
        where = self._stamps_path(paths)
        if where is not None:
            write_atomic(where, pickle.dumps(self._stamps, protocol=pickle.HIGHEST_PROTOCOL))

    def remove_file(self, path: str | Path) -> None:
        key = os.path.abspath(path)
        old = self._by_file.pop(key, None)
        if old is None:
            return
        number = self._numbers[key]
        for name in {row[0] for row in old.symbols.rows}:
            kept = [code for code in self._codes(name) if code >> 32 != number]
            if kept:
                self._by_name[name] = kept[0] if len(kept) == 1 else kept
            else:
                self._by_name.pop(name, None)

    @classmethod
    def build(
        cls,
        paths: Iterable[str | Path],
        cache_dir: Path | None = None,
        options: OptionFilter | None = None,
        jobs: int = 1,
        companion: Companion | None = None,
    ) -> SymbolIndex:
        """Index ``paths``; with ``cache_dir`` each file's definitions are kept by content hash."""
        index = cls(options, cache_dir)
        index.add_files(paths, jobs, companion)
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
        refs = [(self._keys[code >> 32], code & 0xFFFFFFFF) for code in self._codes(name)]
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

    def file_scope_calls(self) -> Iterator[tuple[str, str, tuple[str, ...], int, Formula]]:
        """Every file's file-scope invocations ``NAME(args)``: (path, NAME, args, line, condition)."""
        for path, entry in self._by_file.items():
            for name, args, line, at in entry.symbols.calls:
                yield path, name, args, line, entry.symbols.conditions[at]

    def names(self) -> list[str]:
        return list(self._by_name)

    def __len__(self) -> int:
        return sum(len(e.symbols.rows) for e in self._by_file.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name
