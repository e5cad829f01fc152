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
such as a missing include); plus DEDUPED
verdicts, checked against what the variant's preprocessing read.  A result explained
after it was stored is written again with its notes (``update``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat as stat_module
import sys
import threading
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from . import __version__
from .changes import RACY_NS, Chains, Include, Resolver, Stamp, decode_includes, encode_includes, job_chains, \
    job_search_path, scan_includes, stamp_of, trusted
from .cachedir import default_cache_dir
from .errors import UsageError
from .models import EXPLANATION_NOTE_KINDS, Diagnosis, Diagnostic, Job, Note, Result, Status
from .settings import Settings
from .toolchain import probe

SCHEMA = 1
DB_NAME = "results.sqlite3"
#: Digest of a dependency that is gone or unreadable, or of a directory that does not exist.
MISSING = b"\0" * 32
NOT_A_DIRECTORY = b"\1" * 32
#: Environment variables that change what a compile reads or says.
_ENVIRONMENT = ("CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH", "GCC_EXEC_PREFIX",
                "COMPILER_PATH", "SOURCE_DATE_EPOCH", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")
#: hdrtest's own variant preludes: their content is the variant's defines, already in the key.
_VARIANT_FILE = re.compile(r"(explain-)?variant-[0-9a-f]+\.h\Z")

_TABLES = """
CREATE TABLE IF NOT EXISTS paths(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS entries(
    key BLOB PRIMARY KEY,
    status TEXT NOT NULL,
    payload BLOB NOT NULL,
    deps BLOB NOT NULL,
    deps_digest BLOB NOT NULL,
    dirs BLOB NOT NULL,
    dirs_digest BLOB NOT NULL,
    size INTEGER NOT NULL,
    created INTEGER NOT NULL,
    used INTEGER NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_used ON entries(used);
CREATE TABLE IF NOT EXISTS file_stamps(
    id INTEGER PRIMARY KEY, size INTEGER, mtime INTEGER, ctime INTEGER, ino INTEGER, digest BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS dir_stamps(
    id INTEGER PRIMARY KEY, size INTEGER, mtime INTEGER, ctime INTEGER, ino INTEGER, digest BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS scans(digest BLOB PRIMARY KEY, includes TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS graphs(key TEXT PRIMARY KEY, data BLOB NOT NULL, used INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_DROP = ["entries", "paths", "file_stamps", "dir_stamps", "scans", "graphs", "counters"]


# --- serialising results ------------------------------------------------------------------------------------------


def note_to_dict(note: Note) -> dict[str, Any]:
    return {"message": note.message, "file": note.file, "line": note.line, "column": note.column,
            "kind": note.kind, "fix_diff": note.fix_diff}


def note_from_dict(data: dict[str, Any]) -> Note:
    return Note(message=data["message"], file=data.get("file"), line=data.get("line"), column=data.get("column"),
                kind=data.get("kind", "note"), fix_diff=data.get("fix_diff"))


def diagnostic_to_dict(diag: Diagnostic) -> dict[str, Any]:
    return {"file": diag.file, "line": diag.line, "column": diag.column, "severity": diag.severity,
            "message": diag.message, "option": diag.option, "include_chain": [list(c) for c in diag.include_chain],
            "children": [diagnostic_to_dict(c) for c in diag.children], "category": diag.category,
            "symbol": diag.symbol, "notes": [note_to_dict(n) for n in diag.notes], "abs_file": diag.abs_file,
            "diagnosis": dataclasses.asdict(diag.diagnosis) if diag.diagnosis is not None else None}


def diagnostic_from_dict(data: dict[str, Any]) -> Diagnostic:
    return Diagnostic(file=data["file"], line=data["line"], column=data["column"], severity=data["severity"],
                      message=data["message"], option=data.get("option"),
                      include_chain=[(str(f), int(n)) for f, n in data.get("include_chain", [])],
                      children=[diagnostic_from_dict(c) for c in data.get("children", [])],
                      category=data.get("category"), symbol=data.get("symbol"),
                      notes=[note_from_dict(n) for n in data.get("notes", [])], abs_file=data.get("abs_file"),
                      diagnosis=diagnosis_from_dict(data.get("diagnosis")))


def diagnosis_from_dict(data: dict[str, Any] | None) -> Diagnosis | None:
    if not data:
        return None
    values = tuple((str(name), value) for name, value in data.get("values", ()))
    return Diagnosis(**{**data, "values": values})


def result_to_dict(result: Result) -> dict[str, Any]:
    """Everything of a result but its job (the job is the cache key's side of the record)."""
    return {"status": result.status.value, "diagnostics": [diagnostic_to_dict(d) for d in result.diagnostics],
            "omitted_errors": result.omitted_errors, "duration": result.duration, "returncode": result.returncode,
            "command": list(result.command), "raw_output": result.raw_output, "same_as": result.same_as,
            "dependencies": list(result.dependencies), "relevance": dict(result.relevance),
            "triage": result.triage, "explained_from": result.explained_from}


def result_from_dict(data: dict[str, Any], job: Job) -> Result:
    return Result(job=job, status=Status(data["status"]),
                  diagnostics=[diagnostic_from_dict(d) for d in data.get("diagnostics", [])],
                  omitted_errors=data.get("omitted_errors", 0), duration=data.get("duration", 0.0),
                  returncode=data.get("returncode"), command=tuple(data.get("command", ())),
                  raw_output=data.get("raw_output", ""), same_as=data.get("same_as"),
                  dependencies=tuple(data.get("dependencies", ())), relevance=dict(data.get("relevance", {})),
                  triage=data.get("triage"), explained_from=data.get("explained_from", {}))


def forget_explanation(result: Result) -> None:
    """Drop ``result``'s explanation notes and triage (they went stale); the verdict and diagnostics stay."""
    result.triage = None
    result.explained_from = {}
    for diag in result.diagnostics:
        diag.notes = [n for n in diag.notes if n.kind not in EXPLANATION_NOTE_KINDS]
        diag.diagnosis = None


def _payload(result: Result) -> bytes:
    """A stored result: its dependencies are the entry's own columns, its command is rebuilt on a hit."""
    data = result_to_dict(result)
    del data["dependencies"], data["command"]
    return zlib.compress(json.dumps(data).encode("utf-8", "surrogateescape"), 1)


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


# --- sizes ----------------------------------------------------------------------------------------------------------

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1000, "KIB": 1 << 10, "M": 1 << 20, "MB": 1000 ** 2,
          "MIB": 1 << 20, "G": 1 << 30, "GB": 1000 ** 3, "GIB": 1 << 30, "T": 1 << 40, "TB": 1000 ** 4,
          "TIB": 1 << 40}


def parse_size(text: str) -> int:
    """``"500M"``, ``"2GiB"``, ``"1.5G"``, ``"100000"`` -> bytes (K/M/G are binary, KB/MB/GB decimal)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _UNITS:
        raise UsageError(f"'{text}' is not a size", path="--max-size", hint="write e.g. 500M, 2G or 100000")
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


@dataclass(frozen=True)
class CacheStats:
    path: Path
    entries: int
    passes: int
    fails: int
    #: Bytes on disk: the database and its write-ahead log.
    size: int
    #: Payload bytes of the entries (what prune weighs).
    entry_bytes: int
    files_tracked: int
    graphs: int
    #: Lifetime counters: lookups, hits and stores since the cache was created or cleared.
    lookups: int
    hits: int
    stores: int

    def lines(self) -> list[str]:
        rate = f" ({100 * self.hits / self.lookups:.1f}%)" if self.lookups else ""
        return [f"cache: {self.path}",
                f"entries: {self.entries} ({self.passes} pass, {self.fails} fail)",
                f"size: {format_size(self.size)} on disk, {format_size(self.entry_bytes)} in entries",
                f"files tracked: {self.files_tracked}, include graphs: {self.graphs}",
                f"lookups: {self.lookups}, hits: {self.hits}{rate}, stores: {self.stores}"]


# --- the cache --------------------------------------------------------------------------------------------------


class ResultCache:
    """``ResultStore`` (see ``check.run_jobs``) on SQLite, and the include graphs' ``GraphStore``.

    ``context`` is folded into every key: whatever else decides how a result reads (the
    tree root diagnostics are shown relative to, ``--max-errors``).  One instance serves
    one run: it remembers which files it has hashed, so keep it no longer than that.
    """

    def __init__(self, path: Path, *, context: str = "", busy_timeout: float = 60.0,
                 warn: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        #: Says, once, that a database found damaged during the run was set aside.
        self.warn = warn or _stderr
        self.context = context
        self.busy_timeout = busy_timeout
        #: Files changed after this moment may have changed under a compile: results reading them are not stored.
        self.opened_ns = time.time_ns()
        self.errors: list[str] = []
        self.hits = self.misses = self.stored = self.not_stored = 0
        #: Why results were not stored, with counts (for ``stats`` and debugging).
        self.skipped: dict[str, int] = {}
        self._lock = threading.RLock()
        self._ids: dict[str, int] = {}
        self._paths: dict[int, str] = {}
        self._paths_loaded = False
        self._file_stamps: dict[str, tuple[Stamp, bytes]] | None = None
        self._dir_stamps: dict[str, tuple[Stamp, bytes]] | None = None
        self._file_memo: dict[str, bytes] = {}
        self._dir_memo: dict[str, bytes] = {}
        self._scans: dict[bytes, tuple[Include, ...]] = {}
        self._new_file_stamps: dict[str, tuple[Stamp, bytes]] = {}
        self._new_dir_stamps: dict[str, tuple[Stamp, bytes]] = {}
        self._new_scans: dict[bytes, str] = {}
        self._used: list[bytes] = []
        #: Keys whose entry this run validated (a hit) or wrote: ``update`` may rewrite only those.
        self._current: set[bytes] = set()
        self._counts = {"lookups": 0, "hits": 0, "stores": 0}
        self._resolver = Resolver()
        self._watch_memo: dict[tuple[str, int, Include], tuple[str, ...]] = {}
        self._chain_ids: dict[Chains, int] = {}
        self._dep_watch: dict[tuple[int, str], tuple[dict[str, None], bool]] = {}
        self._ancestor_memo: dict[str, tuple[tuple[str, str], ...]] = {}
        self._joined: dict[tuple[str, str], str] = {}
        #: Per run: a dependency's digest, or a watched directory's fingerprint, or why results
        #: depending on it are not stored.
        self._settled_files: dict[str, bytes | str] = {}
        self._settled_dirs: dict[str, bytes | str] = {}
        self._environment = [os.environ.get(name) for name in _ENVIRONMENT]
        #: Results waiting to be written: one transaction per batch, not per compile.
        self._entries: list[_Entry] = []
        self._written = time.monotonic()
        self._closed = False
        self._db = self._open()

    # -- connection -----------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch {self.path} to WAL mode")
        db.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable against crashes, not power loss
        db.execute("PRAGMA foreign_keys = OFF")
        return db

    def _open(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = None
        try:
            db = self._connect()
            self._migrate(db)
            return db
        except sqlite3.OperationalError:
            if db is not None:
                db.close()
            raise  # locked, unwritable, out of space: the caller runs without a cache
        except sqlite3.DatabaseError as exc:
            if db is not None:
                db.close()
            # Not a database, or damaged beyond use: set it aside and start afresh.
            self.errors.append(self._set_aside(exc))
            db = self._connect()
            self._migrate(db)
            return db

    def _set_aside(self, exc: BaseException) -> str:
        """Move the database (and its WAL) out of the way; returns the message that says so."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            old = Path(str(self.path) + suffix)
            if old.exists():
                os.replace(old, Path(f"{self.path}.corrupt-{stamp}{suffix}"))
        return f"{self.path}: unusable cache database set aside as {self.path.name}.corrupt-{stamp} ({exc})"

    def recover(self, exc: sqlite3.Error) -> bool:
        """After ``exc``: when the file is damaged (``PRAGMA quick_check``), set it aside and go on with a fresh one.

        Damaged pages deep in the file open fine and fail only when read: without this,
        every later run would miss silently.  True when a fresh database replaced it.
        A busy or read-only database is not damage: False, and the caller runs without.
        """
        if isinstance(exc, sqlite3.OperationalError) and "malformed" not in str(exc):
            return False
        return self.verify(exc)

    def verify(self, cause: BaseException | None = None) -> bool:
        """``PRAGMA quick_check``; a damaged file is set aside for a fresh one (True).  ``cache`` commands start here."""
        with self._lock:
            try:
                rows = self._db.execute("PRAGMA quick_check").fetchall()
                lines = [ln for r in rows for ln in str(r[0]).splitlines() if ln and not ln.startswith("***")]
                verdict = lines[0] if lines else "ok" if rows else "no answer"
            except sqlite3.DatabaseError as exc:
                verdict = str(exc)
            if verdict == "ok":
                return False
            self._db.close()
            message = self._set_aside(cause or sqlite3.DatabaseError(f"quick_check: {verdict}"))
            self.warn(f"hdrtest: warning: {message}; the results cached in it are lost")
            # Nothing learnt from the old file is worth keeping: ids, stamps and pending rows referred to it.
            self._forget()
            self._entries, self._used, self._current = [], [], set()
            self._new_file_stamps, self._new_dir_stamps, self._new_scans = {}, {}, {}
            self._db = self._connect()
            self._migrate(self._db)
            return True

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        if db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA:  # another run may have done it
                for table in _DROP:
                    db.execute(f"DROP TABLE IF EXISTS {table}")
                for statement in _TABLES.split(";"):  # not executescript(): it would commit midway
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taken at once so concurrent writers queue instead of deadlocking."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            # Ids learnt inside the transaction are gone with it; another run may hand them out.
            self._ids.clear()
            self._paths.clear()
            self._paths_loaded = False
            raise

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self.flush()
            except sqlite3.Error as exc:
                self.errors.append(str(exc))
            self._closed = True
            self._db.close()

    def __enter__(self) -> ResultCache:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

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
        if not self._paths_loaded:
            self._load_paths()
        try:
            return [self._paths[i] for i in ids]
        except KeyError:
            self._load_paths()  # another run added paths since
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
        digest = self._file_memo.get(path)
        if digest is not None and (not scan or digest == MISSING or digest in self._scans):
            return digest
        try:
            st = os.stat(path)
        except OSError:
            self._file_memo[path] = MISSING
            return MISSING
        current = stamp_of(st)
        if self._file_stamps is None:
            self._file_stamps = self._stamps("file_stamps")
        known = self._file_stamps.get(path)
        if known is not None and known[0] == current and (not scan or self._known_scan(known[1])):
            self._file_memo[path] = known[1]
            return known[1]
        taken = time.time_ns()
        try:
            with open(path, "rb") as handle:
                data = handle.read()
                after = stamp_of(os.fstat(handle.fileno()))
        except OSError:
            self._file_memo[path] = MISSING
            return MISSING
        digest = hashlib.sha256(data).digest()
        if after == current and trusted(current, taken):
            self._new_file_stamps[path] = (current, digest)
            self._file_stamps[path] = (current, digest)
        if scan and digest not in self._scans:
            found = scan_includes(data)
            self._scans[digest] = found
            self._new_scans[digest] = encode_includes(found)
        self._file_memo[path] = digest
        return digest

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
        digest = self._dir_memo.get(path)
        if digest is not None:
            return digest
        try:
            st = os.stat(path)
        except OSError:
            digest = MISSING
        else:
            if not stat_module.S_ISDIR(st.st_mode):
                digest = NOT_A_DIRECTORY
            else:
                digest = self._listing_digest(path, stamp_of(st))
        self._dir_memo[path] = digest
        return digest

    def _listing_digest(self, path: str, current: Stamp) -> bytes:
        if self._dir_stamps is None:
            self._dir_stamps = self._stamps("dir_stamps")
        known = self._dir_stamps.get(path)
        if known is not None and known[0] == current:
            return known[1]
        taken = time.time_ns()
        try:
            names = sorted(os.listdir(path))
        except OSError:
            return MISSING
        digest = hashlib.sha256("\0".join(names).encode("utf-8", "surrogateescape")).digest()
        try:
            after = stamp_of(os.stat(path))
        except OSError:
            return digest
        if after == current and trusted(current, taken):
            self._new_dir_stamps[path] = (current, digest)
            self._dir_stamps[path] = (current, digest)
        return digest

    @staticmethod
    def _combined(paths: Sequence[str], digest: Callable[[str], bytes], memo: dict[str, bytes]) -> bytes:
        return hashlib.sha256(b"".join([memo.get(p) or digest(p) for p in paths])).digest()

    # -- lookup ---------------------------------------------------------------------------------------------

    def lookup(self, job: Job) -> Result | None:
        """The stored result for ``job`` if every file and directory it depended on is unchanged."""
        with self._lock:
            if self._closed:
                return None
            try:
                return self._lookup(job)
            except sqlite3.Error as exc:
                if not self.recover(exc):
                    self.errors.append(f"cache lookup failed: {exc}")
                return None

    def _lookup(self, job: Job) -> Result | None:
        if self._entries:
            self._flush_locked()  # the entry asked for may be waiting to be written
        key = self.key(job)
        self._counts["lookups"] += 1
        row = self._db.execute("SELECT payload, deps, deps_digest, dirs, dirs_digest FROM entries WHERE key = ?",
                               (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        payload, deps_blob, deps_digest, dirs_blob, dirs_digest = row
        deps = self._paths_of(deps_blob)
        dirs = self._paths_of(dirs_blob)
        if deps is None or dirs is None or \
                self._combined(deps, self.file_digest, self._file_memo) != deps_digest or \
                self._combined(dirs, self.dir_digest, self._dir_memo) != dirs_digest:
            self.misses += 1
            return None
        try:
            result = result_from_dict(json.loads(zlib.decompress(payload)), job)
        except (ValueError, KeyError, TypeError, zlib.error):
            self.misses += 1
            return None
        from .compile import display_command

        result.command = display_command(job)  # the variant prelude's path is this run's
        result.dependencies = tuple(deps)
        if not self._explanation_current(result):
            forget_explanation(result)  # the result stands; its explanation is made again
        result.cached = True
        self.hits += 1
        self._counts["hits"] += 1
        self._used.append(key)
        self._current.add(key)
        if len(self._used) >= 1000:
            self.flush()
        return result

    # -- store ----------------------------------------------------------------------------------------------

    def store(self, result: Result) -> None:
        """Keep ``result`` if it is a lasting verdict and nothing it read changed during the run."""
        with self._lock:
            if self._closed:
                return
            try:
                if self._store(result):
                    self.stored += 1
                else:
                    self.not_stored += 1
            except sqlite3.Error as exc:
                if not self.recover(exc):
                    self.errors.append(f"cache store failed: {exc}")
            except OSError as exc:
                self.errors.append(f"cache store skipped: {exc}")

    def _store(self, result: Result) -> bool:
        job = result.job
        if result.status not in (Status.PASS, Status.FAIL, Status.DEDUPED) or result.cached:
            return self._skip("not a pass or fail" if not result.cached else "cached")
        deps = [d for d in result.dependencies if "variant-" not in d or not _VARIANT_FILE.match(os.path.basename(d))]
        if str(job.header) not in deps:
            return self._skip("no dependency list")  # nothing to check a later lookup against
        digests = []
        for dep in deps:
            digest = self._settled_file(dep)
            if isinstance(digest, str):
                return self._skip(digest)
            digests.append(digest)
        dirs = self._watched_dirs(job, deps)
        dir_digests = []
        for directory in dirs:
            digest = self._settled_dir(directory)
            if isinstance(digest, str):
                return self._skip(digest)
            dir_digests.append(digest)
        key = self.key(job)
        self._entries.append(_Entry(key, result.status.value, _payload(result), deps, dirs,
                                    hashlib.sha256(b"".join(digests)).digest(),
                                    hashlib.sha256(b"".join(dir_digests)).digest()))
        self._counts["stores"] += 1
        self._current.add(key)
        if len(self._entries) >= _BATCH or time.monotonic() - self._written >= _BATCH_SECONDS:
            self._flush_locked()
        return True

    # A dependency is judged once per run, when the first result that read it is stored.
    # A file that was older than the run then and is edited later makes the compiles that
    # read the edit be stored under the digest from before it: the next run sees other
    # content and misses, which costs a compile, never a wrong verdict.

    def _settled_file(self, path: str) -> bytes | str:
        """The content digest to store for dependency ``path``, or why no result reading it can be stored."""
        found = self._settled_files.get(path)
        if found is None:
            found = self._unsettled(path, "a dependency")
            if found is None:
                digest = self.file_digest(path, scan=True)
                found = "a dependency is unreadable" if digest == MISSING else digest
            self._settled_files[path] = found
        return found

    def _settled_dir(self, path: str) -> bytes | str:
        """The listing fingerprint to store for watched directory ``path``, or why it cannot be stored."""
        found = self._settled_dirs.get(path)
        if found is None:
            found = self.dir_digest(path)
            if found not in (MISSING, NOT_A_DIRECTORY):
                found = self._unsettled(path, f"include directory {path}") or found
            self._settled_dirs[path] = found
        return found

    def _unsettled(self, path: str, what: str) -> str | None:
        """Why ``path`` cannot vouch for a stored result (gone, or changed since the run began), or None."""
        try:
            st = os.stat(path)
        except OSError:
            return f"{what} vanished"
        if max(st.st_mtime_ns, st.st_ctime_ns) >= self.opened_ns - RACY_NS:
            # Changed while this run was going: which version did the compiler read?
            return f"{what} changed during the run"
        return None

    def update(self, result: Result) -> None:
        """Rewrite the stored verdict of ``result`` (now with explanations), keeping what it depends on.

        Only an entry this run has checked or written is rewritten: an older one may be
        stale, and the result must not be attached to what it was not made from.
        """
        with self._lock:
            if self._closed or result.status not in (Status.PASS, Status.FAIL) or result.explained_from is None:
                return  # None: an explanation resting on an unknown (a failed macro probe) is not kept
            try:
                key = self.key(result.job)
                if key not in self._current:
                    return
                self._flush_locked()
                payload = _payload(result)
                with self._write() as db:
                    db.execute("UPDATE entries SET payload = ?, size = size - length(payload) + ? WHERE key = ?",
                               (payload, len(payload), key))
            except sqlite3.Error as exc:
                if not self.recover(exc):
                    self.errors.append(f"cache update failed: {exc}")

    def _explanation_current(self, result: Result) -> bool:
        """Whether every file the stored explanation read still has the content it read."""
        return all(self.file_digest(path).hex() == digest for path, digest in (result.explained_from or {}).items())

    def _skip(self, reason: str) -> bool:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        return False

    def _watched_dirs(self, job: Job, deps: Sequence[str]) -> list[str]:
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
        for include in self._scans.get(self.file_digest(dep, scan=True), ()):
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

    # -- bookkeeping ----------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write stored results, hit times, counters and newly learnt stamps."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._closed or not (self._entries or self._used or self._new_file_stamps or self._new_dir_stamps or
                                self._new_scans or any(self._counts.values())):
            return
        entries, self._entries = self._entries, []
        with self._write() as db:
            self._flush_pending(db, entries)
        self._written = time.monotonic()

    def _flush_pending(self, db: sqlite3.Connection, entries: Sequence[_Entry] = ()) -> None:
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
        for table, pending in (("file_stamps", self._new_file_stamps), ("dir_stamps", self._new_dir_stamps)):
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

    # -- include graphs (changes.GraphStore) ----------------------------------------------------------------

    def load_graph(self, key: str) -> bytes | None:
        with self._lock:
            try:
                row = self._db.execute("SELECT data FROM graphs WHERE key = ?", (key,)).fetchone()
            except sqlite3.Error as exc:
                if not self.recover(exc):
                    self.errors.append(f"cache graph load failed: {exc}")
                return None
            return bytes(row[0]) if row is not None else None

    def save_graph(self, key: str, data: bytes) -> None:
        with self._lock:
            try:
                with self._write() as db:
                    db.execute("INSERT OR REPLACE INTO graphs(key, data, used) VALUES (?, ?, ?)",
                               (key, data, time.time_ns()))
            except sqlite3.Error as exc:
                if not self.recover(exc):
                    self.errors.append(f"cache graph save failed: {exc}")

    # -- maintenance ----------------------------------------------------------------------------------------

    def disk_size(self) -> int:
        return sum(os.path.getsize(p) for p in (self.path, Path(f"{self.path}-wal")) if os.path.exists(p))

    def stats(self) -> CacheStats:
        with self._lock:
            self._flush_locked()
            db = self._db
            by_status = dict(db.execute("SELECT status, COUNT(*) FROM entries GROUP BY status").fetchall())
            entry_bytes = db.execute("SELECT COALESCE(SUM(size), 0) FROM entries").fetchone()[0]
            counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
            files = db.execute("SELECT COUNT(*) FROM file_stamps").fetchone()[0]
            graphs = db.execute("SELECT COUNT(*) FROM graphs").fetchone()[0]
            return CacheStats(path=self.path, entries=sum(by_status.values()), passes=by_status.get("pass", 0),
                              fails=by_status.get("fail", 0), size=self.disk_size(), entry_bytes=entry_bytes,
                              files_tracked=files, graphs=graphs, lookups=counters.get("lookups", 0),
                              hits=counters.get("hits", 0), stores=counters.get("stores", 0))

    def clear(self) -> int:
        """Remove everything; returns the number of entries removed."""
        with self._lock:
            self._entries = []
            with self._write() as db:
                count: int = db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
                for table in _DROP:
                    db.execute(f"DELETE FROM {table}")
            self._forget()
            self._compact()
            return count

    def prune(self, max_size: int) -> int:
        """Evict the least recently used entries until the database is at most ``max_size`` bytes on disk.

        Returns the number of entries evicted.
        """
        with self._lock:
            self._flush_locked()
            self._compact()
            evicted = 0
            while self.disk_size() > max_size:
                db = self._db
                total = db.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM entries").fetchone()
                entry_bytes, count = int(total[0]), int(total[1])
                if count == 0:
                    with self._write() as txn:
                        for table in _DROP:
                            txn.execute(f"DELETE FROM {table}")
                    self._forget()
                    self._compact()
                    break
                overhead = max(0, self.disk_size() - entry_bytes)
                budget = max(0, max_size - overhead)
                keep_bytes = 0
                keep = 0
                for (size,) in db.execute("SELECT size FROM entries ORDER BY used DESC"):
                    if keep_bytes + size > budget:
                        break
                    keep_bytes += size
                    keep += 1
                drop = max(1, count - keep)
                with self._write() as txn:
                    txn.execute("DELETE FROM entries WHERE key IN (SELECT key FROM entries ORDER BY used ASC LIMIT ?)",
                                (drop,))
                    self._drop_orphans(txn)
                evicted += drop
                self._forget()
                self._compact()
            return evicted

    def _drop_orphans(self, db: sqlite3.Connection) -> None:
        # Stamps and scans serve future lookups too, but once no entry refers to a file they only take space.
        referenced: set[int] = set()
        for deps, dirs in db.execute("SELECT deps, dirs FROM entries"):
            for blob in (deps, dirs):
                ids = array("q")
                ids.frombytes(blob)
                referenced.update(ids)
        db.execute("CREATE TEMP TABLE IF NOT EXISTS keep_ids(id INTEGER PRIMARY KEY)")
        db.execute("DELETE FROM keep_ids")
        db.executemany("INSERT INTO keep_ids(id) VALUES (?)", ((i,) for i in referenced))
        db.execute("DELETE FROM file_stamps WHERE id NOT IN (SELECT id FROM keep_ids)")
        db.execute("DELETE FROM dir_stamps WHERE id NOT IN (SELECT id FROM keep_ids)")
        db.execute("DELETE FROM paths WHERE id NOT IN (SELECT id FROM keep_ids)")
        db.execute("DELETE FROM scans WHERE digest NOT IN (SELECT digest FROM file_stamps)")
        db.execute("DELETE FROM graphs")  # rebuilt on demand
        db.execute("DROP TABLE keep_ids")

    def _forget(self) -> None:
        self._ids.clear()
        self._paths.clear()
        self._paths_loaded = False
        self._file_stamps = self._dir_stamps = None
        self._scans.clear()

    def _compact(self) -> None:
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


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


def cache_dir(settings: Settings) -> Path:
    """Where every hdrtest cache of this run lives (``--cache-dir``, else the default)."""
    return settings.resolve(settings.cache_dir) if settings.cache_dir else default_cache_dir()


def cache_path(settings: Settings) -> Path:
    return cache_dir(settings) / DB_NAME


#: Content-addressed side caches kept beside the result database; ``clear`` empties them too.
SIDE_CACHES = ("scans", "relevance", "symbols", "kconfig", "generated", "variants", "facts")


def _tree_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def side_cache_sizes(directory: Path) -> dict[str, int]:
    """Bytes in each side cache that exists under ``directory``."""
    return {name: _tree_size(directory / name) for name in SIDE_CACHES if (directory / name).is_dir()}


def side_cache_lines(directory: Path) -> list[str]:
    return [f"{name + '/':<12} {format_size(size)}" for name, size in side_cache_sizes(directory).items()]


def clear_side_caches(directory: Path) -> int:
    """Remove the side caches; returns the bytes freed."""
    freed = 0
    for name in SIDE_CACHES:
        target = directory / name
        if target.is_dir():
            freed += _tree_size(target)
            shutil.rmtree(target, ignore_errors=True)
    return freed


def prune_side_caches(directory: Path, budget: int) -> int:
    """Remove the least recently used side-cache files until they take at most ``budget`` bytes.

    Returns the bytes freed.  Every side cache is content-addressed and written atomically,
    so a removed file is only work to redo, and a run reading it meanwhile recomputes it.
    """
    files: list[tuple[float, int, str]] = []
    for name in SIDE_CACHES:
        for dirpath, _dirs, names in os.walk(directory / name):
            for filename in names:
                path = os.path.join(dirpath, filename)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                # atime where the file system keeps it (relatime: at least daily), else when it was written.
                files.append((max(st.st_atime, st.st_mtime), st.st_size, path))
    excess = sum(size for _, size, _ in files) - budget
    freed = 0
    for _, size, path in sorted(files):
        if freed >= excess:
            break
        try:
            os.unlink(path)
        except OSError:
            continue
        freed += size
    return freed


def open_cache(settings: Settings, warn: Callable[[str], None] | None = None) -> ResultCache | None:
    """The run's result cache, or None with ``--no-cache`` or when it cannot be opened (a warning says why)."""
    if settings.no_cache:
        return None
    path = cache_path(settings)
    try:
        cache = ResultCache(path, context=context_for(settings), warn=warn)
    except (OSError, sqlite3.Error) as exc:
        (warn or _stderr)(f"hdrtest: warning: result cache disabled: {path}: {exc}")
        return None
    for message in cache.errors:
        (warn or _stderr)(f"hdrtest: warning: {message}")
    cache.errors.clear()
    return cache


def _stderr(message: str) -> None:
    sys.stderr.write(message + "\n")


def cache_command(action: str, settings: Settings, *, max_size: str | None = None, as_json: bool = False) -> str:
    """``hdrtest cache stats|clear|prune``: the text to print."""
    path = cache_path(settings)
    if action == "prune" and max_size is None:
        raise UsageError("prune needs --max-size", path="hdrtest cache prune", hint="e.g. --max-size 500M")
    limit = parse_size(max_size) if max_size is not None else 0
    if not path.exists():
        if as_json:
            return json.dumps({"path": str(path), "entries": 0, "exists": False}) + "\n"
        return f"no result cache at {path}\n"
    try:
        cache = ResultCache(path)
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"cannot open the result cache: {exc}", path=path) from None
    with cache:
        for message in cache.errors:
            _stderr(f"hdrtest: warning: {message}")
        try:
            cache.verify()  # stats from a damaged file would count what happens to be readable
            return _cache_action(cache, action, limit, as_json)
        except sqlite3.Error as exc:
            if not cache.recover(exc):
                raise UsageError(f"cache database: {exc}", path=path, hint="retry when no other hdrtest runs") from None
        return _cache_action(cache, action, limit, as_json)  # on the fresh database that replaced the damaged one


def _cache_action(cache: ResultCache, action: str, limit: int, as_json: bool) -> str:
    path = cache.path
    if action == "stats":
        stats = cache.stats()
        if as_json:
            body = {k: (str(v) if isinstance(v, Path) else v) for k, v in stats.__dict__.items()}
            return json.dumps({**body, "exists": True, "side_caches": side_cache_sizes(path.parent)},
                              indent=2) + "\n"
        return "\n".join(stats.lines() + side_cache_lines(path.parent)) + "\n"
    if action == "clear":
        removed = cache.clear()
        freed = clear_side_caches(path.parent)
        return (f"removed {removed} entries and {format_size(freed)} of scans, indexes and variant headers; "
                f"{format_size(cache.disk_size())} on disk ({path})\n")
    # --max-size bounds the whole directory: the results first, the side caches in what is left.
    sides = sum(side_cache_sizes(path.parent).values())
    before = cache.disk_size() + sides
    evicted = cache.prune(limit)
    freed = prune_side_caches(path.parent, max(0, limit - cache.disk_size()))
    after = cache.disk_size() + sides - freed
    return (f"evicted {evicted} least recently used entries and {format_size(freed)} of scans, indexes and "
            f"variant headers; {format_size(before)} -> {format_size(after)} on disk ({path.parent})\n")
