"""The include graph behind change-driven checks (``graph.affected`` selects with it).

A header is affected when its include closure contains a changed file.  The closure
comes from a reverse include graph built by scanning ``#include`` lines (every one,
whatever ``#if`` guards it: an over-approximation, so no affected header is missed) and
resolving them along the job's search path (``scan.includes.SearchPath``).

The graph is kept in the result cache, one record per search path, with each file's
``stat`` stamp, content hash, includes as written and where they resolved, plus a stamp
of every directory whose listing the resolution consulted.  A warm computation then
costs a ``stat`` per file and per directory: tens of milliseconds on thousands of
headers, where a cold scan takes seconds.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
import zlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from .models import Job
from .scan.includes import SearchPath
from .toolchain import probe

#: A stamp newer than this (relative to when it was taken) is not trusted: a write within
#: the file system's timestamp granularity could follow unseen.
RACY_NS = 50_000_000


class Include(NamedTuple):
    """One ``#include``-like reference in a file, as written."""

    spelling: str  # the name between the delimiters, or the macro text when computed
    angled: bool
    #: "include" (also #import), "next" (#include_next) or "has" (__has_include probes a name without reading it).
    kind: str = "include"
    computed: bool = False


# Matched from the newline before the directive: the regex engine then skips from newline
# to newline, where ``^`` with re.M tries every position (four times slower on kernel headers).
_DIRECTIVE = re.compile(
    rb"\n[ \t]*#[ \t]*(include_next|include|import)[ \t]*(?:([<\"])([^>\"\r\n]*)[>\"]|([^\r\n]*))")
_HAS_INCLUDE = re.compile(rb"__has_include(_next)?[ \t]*\([ \t]*([<\"])([^>\"\r\n]*)[>\"]")
_KIND = {b"include": "include", b"import": "include", b"include_next": "next"}


def scan_includes(data: bytes) -> tuple[Include, ...]:
    """Every include a file's text names; comments are not stripped (extra names only widen the graph)."""
    found: list[Include] = []
    for match in _DIRECTIVE.finditer(b"\n" + data):
        keyword, delim, name, rest = match.groups()
        if delim is not None:
            found.append(Include(name.decode("utf-8", "surrogateescape"), delim == b"<", _KIND[keyword]))
        else:
            text = rest.split(b"//")[0].split(b"/*")[0].strip()
            if text:
                found.append(Include(text.decode("utf-8", "surrogateescape"), False, _KIND[keyword], True))
    if b"__has_include" in data:
        for match in _HAS_INCLUDE.finditer(data):
            found.append(Include(match.group(3).decode("utf-8", "surrogateescape"), match.group(2) == b"<", "has"))
    return tuple(found)


_TAGS = {"include": "q", "next": "n", "has": "h"}
_KINDS = {tag: kind for kind, tag in _TAGS.items()}


def encode_includes(includes: Sequence[Include]) -> str:
    """A compact text form for storage: one line per include, a tag character then the spelling."""
    lines = []
    for inc in includes:
        if inc.computed:
            tag = "c" if inc.kind == "include" else "m"
        else:
            tag = _TAGS[inc.kind].upper() if inc.angled else _TAGS[inc.kind]
        lines.append(tag + inc.spelling.replace("\n", " "))
    return "\n".join(lines)


def decode_includes(text: str) -> tuple[Include, ...]:
    found: list[Include] = []
    for line in text.split("\n"):
        if not line:
            continue
        tag, spelling = line[0], line[1:]
        if tag in "cm":
            found.append(Include(spelling, False, "include" if tag == "c" else "next", True))
        else:
            found.append(Include(spelling, tag.isupper(), _KINDS[tag.lower()]))
    return tuple(found)


# --- search chains ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chains:
    """A search path as plain strings: what resolution needs, hashable to key caches by."""

    quote: tuple[str, ...]  # after the including file's directory, for "..." (quote dirs, then the angled chain)
    angled: tuple[str, ...]  # for <...>

    @classmethod
    def of(cls, search: SearchPath) -> Chains:
        return cls(tuple(map(str, search.quote_chain())), tuple(map(str, search.angled_chain())))

    def chain(self, include: Include, includer_dir: str | None) -> list[str]:
        """The directories searched for ``include`` written in a file of ``includer_dir``, in order."""
        if include.angled:
            return list(self.angled)
        return ([includer_dir] if includer_dir is not None else []) + list(self.quote)

    def all_dirs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.quote + self.angled))

    def key(self) -> str:
        return hashlib.sha256(json.dumps([self.quote, self.angled]).encode()).hexdigest()


@functools.lru_cache(maxsize=4096)
def _search_path(compiler: str, language: str, flags: tuple[str, ...], directory: Path) -> SearchPath:
    return SearchPath.from_flags(flags, directory, probe(compiler, directory).path, language)


def job_search_path(job: Job) -> SearchPath:
    """The job's search path (the compiler is asked for its own directories once per process)."""
    return _search_path(job.compiler, job.language, job.flags, job.directory)


@functools.lru_cache(maxsize=4096)
def _chains(compiler: str, language: str, flags: tuple[str, ...], directory: Path) -> Chains:
    return Chains.of(_search_path(compiler, language, flags, directory))


#: Chains and forced files by the search key (compiler, language, flags, directory): jobs share keys by the
#: thousand, and grouping them first saves hashing the same flags again.
chains_of_key = _chains


def job_chains(job: Job) -> Chains:
    return _chains(job.compiler, job.language, job.flags, job.directory)


@functools.lru_cache(maxsize=4096)
def _forced(compiler: str, language: str, flags: tuple[str, ...], directory: Path) -> tuple[str, ...]:
    search = _search_path(compiler, language, flags, directory)
    forced = [str(p) for p in search.forced_include_paths() if p is not None]
    for spelling in search.macro_includes:
        here = os.path.normpath(os.path.join(directory, spelling))
        found = Path(here) if os.path.isfile(here) else search.resolve(spelling, False, None)
        if found is not None:
            forced.append(str(found))
    return tuple(forced)


forced_of_key = _forced


def job_roots(job: Job) -> tuple[str, ...]:
    """The files a job's compile starts from: forced includes in its flags, preludes, the header."""
    forced = _forced(job.compiler, job.language, job.flags, job.directory)
    return (*forced, *(str(p) for p in job.preludes), str(job.header))


# --- resolution -------------------------------------------------------------------------------------------------

Stamp = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode


def stamp_of(st: os.stat_result) -> Stamp:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def trusted(stamp: Stamp, taken_ns: int) -> bool:
    """Whether a later change is sure to alter the stamp (see ``RACY_NS``)."""
    return max(stamp[1], stamp[2]) < taken_ns - RACY_NS


class Resolver:
    """Resolves include names with one directory listing per directory, shared by all lookups.

    It remembers each directory it listed with its stamp and a digest of its names, so that
    a stored resolution can be checked later with one ``stat`` per directory (and a listing
    when the stamp moved: saving a file by renaming a new one over it changes the stamp,
    not the names).
    """

    def __init__(self) -> None:
        self._listings: dict[str, frozenset[str]] = {}
        #: Directory -> (stamp, names digest) when listed; None: it did not exist or could not be listed.
        self.consulted: dict[str, Listing | None] = {}

    def names(self, directory: str) -> frozenset[str]:
        listing = self._listings.get(directory)
        if listing is None:
            found = list_directory(directory)
            listing = frozenset(found[1]) if found is not None else frozenset()
            self._listings[directory] = listing
            self.consulted[directory] = (found[0], names_digest(found[1])) if found is not None else None
        return listing

    def exists(self, path: str) -> bool:
        head, tail = os.path.split(path)
        return tail in self.names(head)

    def candidates(self, include: Include, includer: str, chains: Chains) -> list[str]:
        """The paths the compiler tries for ``include``, in order."""
        name = include.spelling
        if include.computed or not name:
            return []
        if os.path.isabs(name):
            return [os.path.normpath(name)]
        dirs = chains.chain(include, os.path.dirname(includer))
        if include.kind == "next":
            dirs = _after(dirs, includer)
        needs_norm = ".." in name or name.startswith("./") or "//" in name
        paths = [os.path.join(d, name) for d in dirs]
        return [os.path.normpath(p) for p in paths] if needs_norm else paths

    def resolve(self, include: Include, includer: str, chains: Chains) -> str | None:
        """The file the compiler opens for ``include`` written in ``includer``, or None."""
        for path in self.candidates(include, includer, chains):
            if self.exists(path):
                return path
        return None


def _after(dirs: list[str], includer: str) -> list[str]:
    # #include_next continues after the directory the including file was found in.
    for index, directory in enumerate(dirs):
        if includer.startswith(directory.rstrip("/") + "/"):
            return dirs[index + 1:]
    return dirs


Listing = tuple[Stamp, str]  # a directory's stamp and names digest
_UNTRUSTED: Stamp = (-1, -1, -1, -1)


def list_directory(directory: str) -> tuple[Stamp, list[str]] | None:
    """A directory's stamp (``_UNTRUSTED`` when too fresh to rely on) and names; None if it cannot be listed."""
    try:
        taken = time.time_ns()
        stamp = stamp_of(os.stat(directory))
        names = os.listdir(directory)
    except OSError:
        return None
    return (stamp if trusted(stamp, taken) else _UNTRUSTED), names


def names_digest(names: Iterable[str]) -> str:
    return hashlib.sha256("\0".join(sorted(names)).encode("utf-8", "surrogateescape")).hexdigest()


def still_valid(consulted: dict[str, Listing | None]) -> tuple[bool, bool]:
    """Whether every directory listing behind a resolution is unchanged, and whether a stamp was refreshed."""
    refreshed = False
    for directory, known in consulted.items():
        try:
            now: Stamp | None = stamp_of(os.stat(directory))
        except OSError:
            now = None
        if known is None or now is None:
            if known is not None or now is not None:
                return False, refreshed
            continue
        if now == known[0]:
            continue
        found = list_directory(directory)  # moved stamp: did the names change too?
        if found is None or names_digest(found[1]) != known[1]:
            return False, refreshed
        consulted[directory] = (found[0], known[1])
        refreshed = True
    return True, refreshed


# --- the graph --------------------------------------------------------------------------------------------------


@runtime_checkable
class GraphStore(Protocol):
    """Where graphs persist between runs (``ResultCache`` is one)."""

    def load_graph(self, key: str) -> bytes | None: ...

    def save_graph(self, key: str, data: bytes) -> None: ...


@dataclass(slots=True)
class FileRecord:
    stamp: Stamp | None  # None: not trusted, re-read next time
    targets: list[str]  # resolved includes
    #: sha256 of the content ("" when unreadable) and encode_includes() text; None until loaded (see IncludeGraph).
    digest: str | None = None
    names: str | None = None


@dataclass
class IncludeGraph:
    """Files and the files they include (every ``#include``, whatever ``#if`` guards it), for one search path."""

    chains: Chains
    files: dict[str, FileRecord] = field(default_factory=dict)
    consulted: dict[str, Listing | None] = field(default_factory=dict)
    _reverse: dict[str, set[str]] | None = None
    #: What the last ``update`` did, for measurements: files re-read, files re-resolved.
    rescanned: int = 0
    reresolved: int = 0
    #: Stored digests and includes as written, decoded only when needed: a warm run with
    #: nothing changed reads just stamps and edges.
    _details: bytes | None = None
    _details_order: list[str] = field(default_factory=list)

    def _load_details(self) -> None:
        if self._details is None:
            return
        digests, names = json.loads(zlib.decompress(self._details))
        self._details = None
        for path, digest, text in zip(self._details_order, digests, names):
            record = self.files.get(path)
            if record is not None and record.digest is None:
                record.digest, record.names = digest, text

    def includes(self, path: str) -> tuple[Include, ...]:
        record = self.files.get(path)
        if record is None:
            return ()
        if record.names is None:
            self._load_details()
        return decode_includes(record.names or "")

    def reverse_closure(self, files: Iterable[Path | str]) -> set[Path]:
        """``files`` and every file that includes one of them, directly or not."""
        return {Path(p) for p in self.reach_back(os.path.normpath(f) for f in files)}

    def reach_back(self, files: Iterable[str]) -> set[str]:
        """``reverse_closure`` on normalised path strings (no ``Path`` objects: this runs on whole trees)."""
        if self._reverse is None:
            reverse: dict[str, set[str]] = {}
            for source, record in self.files.items():
                for target in record.targets:
                    reverse.setdefault(target, set()).add(source)
            self._reverse = reverse
        return _walk(files, self._reverse)

    def closure(self, files: Iterable[Path | str]) -> set[Path]:
        """``files`` and everything they include, directly or not."""
        edges = {p: r.targets for p, r in self.files.items()}
        return {Path(p) for p in _walk((os.path.normpath(f) for f in files), edges)}

    # -- building --------------------------------------------------------------------------------------------

    def update(self, roots: Iterable[str]) -> bool:
        """Bring the graph up to date with the disk and extend it to ``roots``; True if anything changed."""
        self.rescanned = self.reresolved = 0
        resolver = Resolver()
        dirty: set[str] = set()
        valid, refreshed = still_valid(self.consulted)
        if not valid:
            dirty.update(self.files)  # names in a directory changed: resolutions may differ, scans are still good
            self.consulted = {}
        for path, record in self.files.items():
            try:
                now: Stamp | None = stamp_of(os.stat(path))
            except OSError:
                now = None
            if (now is None or record.stamp is None or now != record.stamp) and self._rescan(path, record):
                dirty.add(path)
        for path in dirty:
            self._resolve(path, self.files[path], resolver)
        queue = deque(os.path.normpath(r) for r in roots)
        queue.extend(t for p in dirty for t in self.files[p].targets)
        added = False
        while queue:
            path = queue.popleft()
            if path in self.files:
                continue
            record = FileRecord(None, [], "", "")
            self.files[path] = record
            self._rescan(path, record)
            self._resolve(path, record, resolver)
            added = True
            queue.extend(t for t in record.targets if t not in self.files)
        self.consulted.update(resolver.consulted)
        self.reresolved = len(dirty)
        changed = bool(dirty) or added or self.rescanned > 0 or refreshed
        if changed:
            self._reverse = None
        return changed

    def _rescan(self, path: str, record: FileRecord) -> bool:
        """Re-read ``path``; True if its includes may have changed."""
        self.rescanned += 1
        if record.digest is None:
            self._load_details()
        taken = time.time_ns()
        try:
            with open(path, "rb") as handle:
                before = os.fstat(handle.fileno())
                data = handle.read()
        except OSError:
            changed = record.digest != ""
            record.stamp, record.digest, record.names = None, "", ""
            return changed
        stamp = stamp_of(before)
        record.stamp = stamp if trusted(stamp, taken) else None
        digest = hashlib.sha256(data).hexdigest()
        if digest == record.digest:
            return False
        record.digest = digest
        record.names = encode_includes(scan_includes(data))
        return True

    def _resolve(self, path: str, record: FileRecord, resolver: Resolver) -> None:
        targets = []
        if record.names is None:
            self._load_details()
        for include in decode_includes(record.names or ""):
            if include.kind == "has":
                continue
            target = resolver.resolve(include, path, self.chains)
            if target is not None and target != path:
                targets.append(target)
        record.targets = list(dict.fromkeys(targets))

    # -- persistence ------------------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        self._load_details()
        paths = list(self.files)
        index = {p: i for i, p in enumerate(paths)}
        extra: list[str] = []
        for record in self.files.values():
            for target in record.targets:
                if target not in index:
                    index[target] = len(paths) + len(extra)
                    extra.append(target)
        body = {
            "version": 3,
            "chains": [self.chains.quote, self.chains.angled],
            "paths": paths + extra,
            "stamps": [r.stamp for r in self.files.values()],
            "targets": [[index[t] for t in r.targets] for r in self.files.values()],
            "consulted": list(self.consulted.items()),
        }
        details = [[r.digest for r in self.files.values()], [r.names for r in self.files.values()]]
        head = zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 1)
        tail = zlib.compress(json.dumps(details, separators=(",", ":")).encode(), 1)
        return len(head).to_bytes(8, "little") + head + tail

    @classmethod
    def from_bytes(cls, data: bytes, chains: Chains) -> IncludeGraph:
        """A stored graph, or an empty one when ``data`` is unusable or for another search path."""
        graph = cls(chains)
        try:
            size = int.from_bytes(data[:8], "little")
            body: dict[str, Any] = json.loads(zlib.decompress(data[8:8 + size]))
            if body.get("version") != 3 or body.get("chains") != [list(chains.quote), list(chains.angled)]:
                return graph
            paths: list[str] = body["paths"]
            for i, (stamp, targets) in enumerate(zip(body["stamps"], body["targets"])):
                graph.files[paths[i]] = FileRecord(tuple(stamp) if stamp else None, [paths[t] for t in targets])
            graph._details = data[8 + size:]
            graph._details_order = paths[:len(graph.files)]
            graph.consulted = {d: ((tuple(s[0]), s[1]) if s else None) for d, s in body["consulted"]}
        except (ValueError, KeyError, TypeError, IndexError, zlib.error):
            return cls(chains)
        return graph


def _walk(start: Iterable[str], edges: dict[str, Any]) -> set[str]:
    seen = set(start)
    queue = deque(seen)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def load_graph(chains: Chains, roots: Iterable[str], store: GraphStore | None = None) -> IncludeGraph:
    """The up-to-date include graph reaching ``roots`` along ``chains``, through ``store`` when given."""
    key = "graph:" + chains.key()
    data = store.load_graph(key) if store is not None else None
    graph = IncludeGraph.from_bytes(data, chains) if data else IncludeGraph(chains)
    if graph.update(roots) and store is not None:
        store.save_graph(key, graph.to_bytes())
    return graph
