"""The result cache: a compile's verdict, reused while nothing it depends on has changed.

Entries are keyed by what decides a compile before it runs (the compiler's identity,
the flags, language, preludes, variant defines, header, directory and hdrtest's
version) and checked on lookup against what the compile read: the content hash of
every file in its dependency list, and a fingerprint of the names in every directory
where a new file could shadow one of its includes.  Timestamps are only a shortcut to
skip re-hashing (a file whose size, mtime, ctime and inode match a recorded stamp has
the recorded hash); they never decide a hit.

Storage is one SQLite database in WAL mode.  Results are written in batches (a few
dozen, or half a second's worth), each one short ``BEGIN IMMEDIATE`` transaction, so
concurrent runs wait for each other briefly instead of failing, and a run killed at any
point leaves the database consistent: an entry is either fully written or absent (a
kill loses at most the batch in hand, which the next run compiles again).  Only PASS
and FAIL verdicts are kept (a timeout or a compiler crash says nothing lasting), and
only when the compiler wrote a dependency list (gcc writes none after a fatal error
such as a missing include).  A result explained
after it was stored is written again with its notes (``update``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import stat as stat_module
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..compile import display_command
from ..graph.includes import decode_includes, encode_includes, scan_includes
from ..graph.resolve import Include
from ..graph.store import RACY_NS, Stamp, stamp_of, trusted
from ..models import Job, Result, Status
from ..settings import Settings
from ..toolchain import probe
from .database import SCHEMA, Database
from .namespaces import VARIANTS
from .serialize import forget_explanation, payload, result_from_dict
from .watched import WatchedDirs

#: Digest of a dependency that is gone or unreadable, or of a directory that does not exist.
MISSING = b"\0" * 32
NOT_A_DIRECTORY = b"\1" * 32
#: Environment variables that change what a compile reads or says.
_ENVIRONMENT = ("CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH", "GCC_EXEC_PREFIX",
                "COMPILER_PATH", "SOURCE_DATE_EPOCH", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")
#: hdrtest's own variant preludes: their content is the variant's defines, already in the key.
_VARIANT_FILE = re.compile(r"(explain-)?variant-[0-9a-f]+\.h\Z")


@dataclass(frozen=True)
class _Entry:
    """A result on its way to the database."""

    key: bytes
    status: str
    payload: bytes
    deps: Sequence[str]
    dirs: Sequence[str]
    deps_digest: bytes
    dirs_digest: bytes


#: A batch is written when it has this many results or is this old, whichever comes first.
_BATCH = 32
_BATCH_SECONDS = 0.5


@dataclass
class _Fingerprints:
    """Digests of one kind of path (file contents, directory listings), and the stamps that vouch for them."""

    table: str
    #: The stamps recorded in ``table``, loaded on first use: path -> (stamp, digest).
    known: dict[str, tuple[Stamp, bytes]] | None = None
    #: Stamps taken during this run, waiting to be written.
    new: dict[str, tuple[Stamp, bytes]] = field(default_factory=dict)
    #: Each path's digest, once per run.
    memo: dict[str, bytes] = field(default_factory=dict)
    #: Per run: the digest to store for a path results depend on, or None when no result depending on it is stored.
    settled: dict[str, bytes | None] = field(default_factory=dict)


def _combined(digests: Iterable[bytes]) -> bytes:
    """The digest an entry keeps for its dependencies (or watched directories), and a lookup compares."""
    return hashlib.sha256(b"".join(digests)).digest()


def _all_settled(paths: Iterable[str], settled: Callable[[str], bytes | None]) -> bytes | None:
    """``_combined`` over the digests to store for ``paths``; None when one of them cannot vouch for a result."""
    digests = []
    for path in paths:
        digest = settled(path)
        if digest is None:
            return None
        digests.append(digest)
    return _combined(digests)


def _listing(path: str, st: os.stat_result) -> tuple[bytes, Stamp | None] | None:
    """A fingerprint of the names in directory ``path``, and its stamp once they are listed."""
    if not stat_module.S_ISDIR(st.st_mode):
        return NOT_A_DIRECTORY, None
    try:
        names = sorted(os.listdir(path))
        after = stamp_of(os.stat(path))
    except OSError:
        return None
    return hashlib.sha256("\0".join(names).encode("utf-8", "surrogateescape")).digest(), after


class ResultCache(Database):
    """The result cache (see ``check.run_jobs``) on SQLite, and the include graphs' ``GraphStore``.

    ``context`` is folded into every key: whatever else decides how a result reads (the
    tree root diagnostics are shown relative to, ``--max-errors``).  One instance serves
    one run: it remembers which files it has hashed, so keep it no longer than that.
    """

    def __init__(self, path: Path, *, context: str = "") -> None:
        self.context = context
        #: Files changed after this moment may have changed under a compile: results reading them are not stored.
        self.opened_ns = time.time_ns()
        #: Where this cache directory keeps variant preludes: a hit's reproducer names the file there.
        self.variant_dir = VARIANTS.directory(Path(path).parent)
        self._ids: dict[str, int] = {}
        self._paths: dict[int, str] = {}
        self._paths_loaded = False
        self._files = _Fingerprints("file_stamps")
        self._dirs = _Fingerprints("dir_stamps")
        self._scans: dict[bytes, tuple[Include, ...]] = {}
        self._new_scans: dict[bytes, str] = {}
        self._used: list[bytes] = []
        #: Keys whose entry this run validated (a hit) or wrote: ``update`` may rewrite only those.
        self._current: set[bytes] = set()
        self._counts = {"lookups": 0, "hits": 0, "stores": 0}
        self._watched_dirs = WatchedDirs(lambda dep: self._scans.get(self.file_digest(dep, scan=True), ()))
        self._environment = [os.environ.get(name) for name in _ENVIRONMENT]
        #: Results waiting to be written: one transaction per batch, not per compile.
        self._entries: list[_Entry] = []
        self._written = time.monotonic()
        super().__init__(path)  # opens the file last, as it may take a while

    def _forget(self) -> None:
        self._forget_ids()
        self._files.known = self._dirs.known = None
        self._scans.clear()

    def _forget_ids(self) -> None:
        self._ids.clear()
        self._paths.clear()
        self._paths_loaded = False

    def _discard_pending(self, *, everything: bool) -> None:
        self._entries = []
        if everything:
            self._used, self._current, self._new_scans = [], set(), {}
            self._files.new.clear()
            self._dirs.new.clear()

    # -- keys -----------------------------------------------------------------------------------------------

    def key(self, job: Job) -> bytes:
        """What decides the compile before it runs; a change here is a different entry."""
        compiler = probe(job.compiler, job.directory)
        fields = ["hdrtest-result", SCHEMA, __version__, compiler.identity, job.language, list(job.flags),
                  str(job.directory), str(job.header), [str(p) for p in job.preludes],
                  [list(d) for d in job.variant.defines], job.variant.prelude_text, job.check_guard, job.mode, self.context, self._environment,
                  response_files_digest(job.flags, job.directory)]
        return hashlib.sha256(json.dumps(fields).encode("utf-8", "surrogateescape")).digest()

    # -- paths and stamps -----------------------------------------------------------------------------------

    def _load_paths(self) -> None:
        for ident, path in self._db.execute("SELECT id, path FROM paths"):
            self._ids[path] = ident
            self._paths[ident] = path
        self._paths_loaded = True

    def _paths_of(self, blob: bytes) -> list[str] | None:
        ids = array("q")
        ids.frombytes(blob)
        if not self._paths_loaded or not all(i in self._paths for i in ids):
            self._load_paths()  # first use, or another run added paths since
        try:
            return [self._paths[i] for i in ids]
        except KeyError:
            return None

    def _ensure_ids(self, paths: Iterable[str]) -> dict[str, int]:
        """Ids for ``paths``, inserting new ones; call inside a write transaction."""
        wanted = list(dict.fromkeys(paths))
        if not self._paths_loaded:
            self._load_paths()
        missing = [p for p in wanted if p not in self._ids]
        if missing:
            self._db.executemany("INSERT OR IGNORE INTO paths(path) VALUES (?)", [(p,) for p in missing])
            for chunk in range(0, len(missing), 500):
                part = missing[chunk:chunk + 500]
                marks = ",".join("?" * len(part))
                for ident, path in self._db.execute(f"SELECT id, path FROM paths WHERE path IN ({marks})", part):
                    self._ids[path] = ident
                    self._paths[ident] = path
        return {p: self._ids[p] for p in wanted}

    def _stamps(self, table: str) -> dict[str, tuple[Stamp, bytes]]:
        found: dict[str, tuple[Stamp, bytes]] = {}
        query = f"SELECT p.path, s.size, s.mtime, s.ctime, s.ino, s.digest FROM {table} s JOIN paths p ON p.id = s.id"
        for path, size, mtime, ctime, ino, digest in self._db.execute(query):
            found[path] = ((size, mtime, ctime, ino), digest)
        return found

    def file_digest(self, path: str, *, scan: bool = False) -> bytes:
        """sha256 of ``path``'s content (``MISSING`` if unreadable), once per run; with ``scan``, its includes too."""
        digest = self._files.memo.get(path)
        if digest is not None and (not scan or digest == MISSING or digest in self._scans):
            return digest
        return self._fingerprint(self._files, path, lambda p, _st: self._read(p, scan),
                                 lambda known: not scan or self._known_scan(known))

    def _read(self, path: str, scan: bool) -> tuple[bytes, Stamp] | None:
        """``path``'s content digest and its stamp once read (its includes scanned too, with ``scan``)."""
        try:
            with open(path, "rb") as handle:
                data = handle.read()
                after = stamp_of(os.fstat(handle.fileno()))
        except OSError:
            return None
        digest = hashlib.sha256(data).digest()
        if scan and digest not in self._scans:
            found = self._scans[digest] = scan_includes(data)
            self._new_scans[digest] = encode_includes(found)
        return digest, after

    def _known_scan(self, digest: bytes) -> bool:
        if digest in self._scans:
            return True
        row = self._db.execute("SELECT includes FROM scans WHERE digest = ?", (digest,)).fetchone()
        if row is None:
            return False
        self._scans[digest] = decode_includes(row[0])
        return True

    def dir_digest(self, path: str) -> bytes:
        """A fingerprint of the names in directory ``path``, once per run."""
        digest = self._dirs.memo.get(path)
        return digest if digest is not None else self._fingerprint(self._dirs, path, _listing)

    def _fingerprint(self, kind: _Fingerprints, path: str,
                     make: Callable[[str, os.stat_result], tuple[bytes, Stamp | None] | None],
                     reuse: Callable[[bytes], bool] = lambda known: True) -> bytes:
        """``path``'s digest: the recorded one while ``path`` keeps its stamp (and ``reuse`` accepts it), else what
        ``make`` finds, recorded with the stamp when ``path`` held still meanwhile and the stamp can be trusted."""
        try:
            st = os.stat(path)
        except OSError:
            kind.memo[path] = MISSING
            return MISSING
        current = stamp_of(st)
        if kind.known is None:
            kind.known = self._stamps(kind.table)
        known = kind.known.get(path)
        if known is not None and known[0] == current and reuse(known[1]):
            digest = known[1]
        else:
            taken = time.time_ns()
            made = make(path, st)
            digest = MISSING if made is None else made[0]
            if made is not None and made[1] == current and trusted(current, taken):
                kind.new[path] = kind.known[path] = (current, digest)
        kind.memo[path] = digest
        return digest

    # -- lookup ---------------------------------------------------------------------------------------------

    def lookup(self, job: Job) -> Result | None:
        """The stored result for ``job`` if every file and directory it depended on is unchanged."""
        return self._guarded("lookup", None, self._lookup, job)

    def _lookup(self, job: Job) -> Result | None:
        if self._entries:
            self._flush_locked()  # the entry asked for may be waiting to be written
        key = self.key(job)
        self._counts["lookups"] += 1
        row = self._db.execute("SELECT payload, deps, deps_digest, dirs, dirs_digest FROM entries WHERE key = ?",
                               (key,)).fetchone()
        if row is None:
            return None
        payload, deps_blob, deps_digest, dirs_blob, dirs_digest = row
        deps = self._paths_of(deps_blob)
        dirs = self._paths_of(dirs_blob)
        if deps is None or dirs is None or \
                _combined(self._files.memo.get(p) or self.file_digest(p) for p in deps) != deps_digest or \
                _combined(self._dirs.memo.get(p) or self.dir_digest(p) for p in dirs) != dirs_digest:
            return None
        try:
            result = result_from_dict(json.loads(zlib.decompress(payload)), job)
        except (ValueError, KeyError, TypeError, zlib.error):
            return None
        result.command = display_command(job, self.variant_dir)  # the variant prelude's path is this run's
        result.dependencies = tuple(deps)
        # The explanation holds while every file it read keeps the content it read.
        if not all(self.file_digest(path).hex() == digest for path, digest in (result.explained_from or {}).items()):
            forget_explanation(result)  # the result stands; its explanation is made again
        result.cached = True
        self._counts["hits"] += 1
        self._used.append(key)
        self._current.add(key)
        if len(self._used) >= 1000:
            self._flush_locked()
        return result

    # -- store ----------------------------------------------------------------------------------------------

    def store(self, result: Result) -> None:
        """Keep ``result`` if it is a lasting verdict and nothing it read changed during the run."""
        self._guarded("store", None, self._store, result)

    def _store(self, result: Result) -> None:
        job = result.job
        if result.status not in (Status.PASS, Status.FAIL) or result.cached:
            return
        deps = [d for d in result.dependencies if "variant-" not in d or not _VARIANT_FILE.match(os.path.basename(d))]
        if str(job.header) not in deps:
            return  # no dependency list: nothing to check a later lookup against
        deps_digest = _all_settled(deps, self._settled_file)
        if deps_digest is None:
            return
        dirs = self._watched_dirs(job, deps)
        dirs_digest = _all_settled(dirs, self._settled_dir)
        if dirs_digest is None:
            return
        key = self.key(job)
        self._entries.append(_Entry(key, result.status.value, payload(result), deps, dirs, deps_digest, dirs_digest))
        self._counts["stores"] += 1
        self._current.add(key)
        if len(self._entries) >= _BATCH or time.monotonic() - self._written >= _BATCH_SECONDS:
            self._flush_locked()

    # A dependency is judged once per run, when the first result that read it is stored.
    # A file that was older than the run then and is edited later makes the compiles that
    # read the edit be stored under the digest from before it: the next run sees other
    # content and misses, which costs a compile, never a wrong verdict.

    def _settled_file(self, path: str) -> bytes | None:
        """The content digest to store for dependency ``path``; None when it is unreadable or not settled."""
        if path not in self._files.settled:
            digest = None if self._unsettled(path) else self.file_digest(path, scan=True)
            self._files.settled[path] = None if digest == MISSING else digest
        return self._files.settled[path]

    def _settled_dir(self, path: str) -> bytes | None:
        """The listing fingerprint to store for watched directory ``path``; None when it is not settled."""
        if path not in self._dirs.settled:
            digest = self.dir_digest(path)
            unsettled = digest not in (MISSING, NOT_A_DIRECTORY) and self._unsettled(path)
            self._dirs.settled[path] = None if unsettled else digest
        return self._dirs.settled[path]

    def _unsettled(self, path: str) -> bool:
        """Whether ``path`` cannot vouch for a stored result: it is gone, or changed since the run began."""
        try:
            st = os.stat(path)
        except OSError:
            return True
        # Changed while this run was going: which version did the compiler read?
        return max(st.st_mtime_ns, st.st_ctime_ns) >= self.opened_ns - RACY_NS

    def update(self, result: Result) -> None:
        """Rewrite the stored verdict of ``result`` (now with explanations), keeping what it depends on.

        Only an entry this run has checked or written is rewritten: an older one may be
        stale, and the result must not be attached to what it was not made from.
        """
        if result.status in (Status.PASS, Status.FAIL) and result.explained_from is not None:
            # None: an explanation resting on an unknown (a failed macro probe) is not kept.
            self._guarded("update", None, self._update, result)

    def _update(self, result: Result) -> None:
        key = self.key(result.job)
        if key not in self._current:
            return
        self._flush_locked()
        data = payload(result)
        with self._write() as db:
            db.execute("UPDATE entries SET payload = ?, size = size - length(payload) + ? WHERE key = ?",
                       (data, len(data), key))

    # -- bookkeeping ----------------------------------------------------------------------------------------

    def _flush_locked(self) -> None:
        if self._closed or not (self._entries or self._used or self._files.new or self._dirs.new or
                                self._new_scans or any(self._counts.values())):
            return
        entries, self._entries = self._entries, []
        with self._write() as db:
            self._flush_pending(db, entries)
        self._written = time.monotonic()

    def _flush_pending(self, db: sqlite3.Connection, entries: Sequence[_Entry]) -> None:
        now = time.time_ns()
        if entries:
            ids = self._ensure_ids([path for entry in entries for path in (*entry.deps, *entry.dirs)])
            rows = []
            for entry in entries:
                deps_blob = array("q", (ids[d] for d in entry.deps)).tobytes()
                dirs_blob = array("q", (ids[d] for d in entry.dirs)).tobytes()
                size = len(entry.payload) + len(deps_blob) + len(dirs_blob) + 160
                rows.append((entry.key, entry.status, entry.payload, deps_blob, entry.deps_digest, dirs_blob,
                             entry.dirs_digest, size, now, now))
            db.executemany("INSERT OR REPLACE INTO entries(key, status, payload, deps, deps_digest, dirs,"
                           " dirs_digest, size, created, used, hits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)", rows)
        if self._used:
            db.executemany("UPDATE entries SET used = ?, hits = hits + 1 WHERE key = ?",
                           [(now, key) for key in self._used])
            self._used = []
        for table, pending in ((kind.table, kind.new) for kind in (self._files, self._dirs)):
            if pending:
                ids = self._ensure_ids(pending)
                db.executemany(f"INSERT OR REPLACE INTO {table}(id, size, mtime, ctime, ino, digest)"
                               " VALUES (?, ?, ?, ?, ?, ?)",
                               [(ids[p], *stamp, digest) for p, (stamp, digest) in pending.items()])
                pending.clear()
        if self._new_scans:
            db.executemany("INSERT OR IGNORE INTO scans(digest, includes) VALUES (?, ?)", self._new_scans.items())
            self._new_scans = {}
        counts = [(name, value) for name, value in self._counts.items() if value]
        if counts:
            db.executemany("INSERT INTO counters(name, value) VALUES (?, ?)"
                           " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", counts)
            self._counts = dict.fromkeys(self._counts, 0)


def response_files_digest(flags: Sequence[str], directory: Path) -> str:
    """The content of every ``@file`` among the flags (and those it names in turn): the compiler reads them as flags.

    Edited in place, a response file keeps its name: keyed by name only, a stale verdict would be served.
    """
    digest = hashlib.sha256()
    pending = [(f[1:], str(directory)) for f in flags if f.startswith("@") and len(f) > 1]
    seen: set[str] = set()
    while pending and len(seen) < 256:  # gcc nests them; a file naming itself must not loop
        name, base = pending.pop()
        path = os.path.normpath(os.path.join(base, name))
        if path in seen:
            continue
        seen.add(path)
        try:
            with open(path, "rb") as handle:
                data = handle.read(1 << 24) if os.path.isfile(path) else b""
        except OSError:
            data = b""  # gcc passes a missing @file on as a literal argument: that is in the flags already
        digest.update(path.encode("utf-8", "surrogateescape") + b"\0" + hashlib.sha256(data).digest())
        # A nested name may be read against the working directory or the file's own: watch both.
        nested = [w[1:].decode("utf-8", "surrogateescape") for w in data.split() if w.startswith(b"@") and len(w) > 1]
        pending.extend((n, b) for n in nested for b in (str(directory), os.path.dirname(path)))
    return digest.hexdigest() if seen else ""


def context_for(settings: Settings) -> str:
    """What of the settings changes a result without changing the compile."""
    return json.dumps({"root": str(settings.root), "max_errors": settings.max_errors})

