"""The result cache's SQLite file: opening it, surviving damage, and keeping it within a size.

One database in WAL mode.  Writes are short ``BEGIN IMMEDIATE`` transactions, so
concurrent runs wait for each other briefly instead of failing.  A file that is not a
database, or is damaged (``PRAGMA quick_check``), is set aside and replaced by an empty
one: a cache only saves time, and a damaged one would make every later run miss.

``Database`` knows the tables but not what a result is: ``results.ResultCache`` builds
on it and says, through ``_flush_locked``, ``_forget``, ``_forget_ids`` and ``_discard_pending``, what it
holds in memory that refers to the file.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from .sizes import format_size

# 2: explanation records (models.Diagnosis) carry the fields their notes are rendered from.
# 3: no "deduped" status any more (variants are not deduplicated by preprocessing).
SCHEMA = 3
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


#: How long a run waits for another run's write transaction before giving up on the cache.
_BUSY_SECONDS = 60

_Self = TypeVar("_Self", bound="Database")
T = TypeVar("T")


def warn_stderr(message: str) -> None:
    sys.stderr.write(message + "\n")


class Database:
    """The connection, its recovery, the include graphs' table and the maintenance commands."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.errors: list[str] = []
        self._lock = threading.RLock()
        self._closed = False
        self._db = self._open()

    # -- what the subclass keeps in memory -------------------------------------------------------------------

    def _flush_locked(self) -> None:
        """Write what is waiting to be written (the caller holds the lock)."""

    def _forget(self) -> None:
        """Drop what was read from the file (ids, stamps): it may no longer be there."""

    def _forget_ids(self) -> None:
        """Drop the path ids learnt: a rolled back transaction took them back, and another run may reuse them."""

    def _discard_pending(self, *, everything: bool) -> None:
        """Drop the rows waiting to be written: all of them, or (``everything=False``) only new entries."""

    def _guarded(self, what: str, default: T, action: Callable[..., T], *args: Any) -> T:
        """``action(*args)`` under the lock, unless the database is closed; ``default`` after a database error
        (which sets a damaged file aside, ``recover``) or a file that cannot be read, kept in ``errors``: a cache
        only saves time."""
        with self._lock:
            if self._closed:
                return default
            try:
                return action(*args)
            except sqlite3.Error as exc:
                if not self.recover(exc):
                    self.errors.append(f"cache {what} failed: {exc}")
            except OSError as exc:
                self.errors.append(f"cache {what} skipped: {exc}")
            return default

    # -- connection -----------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=_BUSY_SECONDS, isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout = {_BUSY_SECONDS * 1000}")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch {self.path} to WAL mode")
        db.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable against crashes, not power loss
        db.execute("PRAGMA foreign_keys = OFF")
        return db

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connected()
        except sqlite3.OperationalError:
            raise  # locked, unwritable, out of space: the caller runs without a cache
        except sqlite3.DatabaseError as exc:
            # Not a database, or damaged beyond use: set it aside and start afresh.
            self.errors.append(self._set_aside(exc))
            return self._connected()

    def _connected(self) -> sqlite3.Connection:
        """``_connect`` with the tables of this ``SCHEMA``; closed again when that fails."""
        db = self._connect()
        try:
            self._migrate(db)
        except BaseException:
            db.close()
            raise
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
            warn_stderr(f"hdrtest: warning: {message}; the results cached in it are lost")
            # Nothing learnt from the old file is worth keeping: ids, stamps and pending rows referred to it.
            self._forget()
            self._discard_pending(everything=True)
            self._db = self._connected()
            return True

    def _migrate(self, db: sqlite3.Connection) -> None:
        if db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA:
            return
        with self._write(db):
            if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA:  # another run may have done it
                for table in _DROP:
                    db.execute(f"DROP TABLE IF EXISTS {table}")
                for statement in _TABLES.split(";"):  # not executescript(): it would commit midway
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA}")

    @contextmanager
    def _write(self, db: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        """One short write transaction (on ``db``, default the open one), taken at once so concurrent writers queue
        instead of deadlocking."""
        db = db or self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            # Ids learnt inside the transaction are gone with it; another run may hand them out.
            self._forget_ids()
            raise

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self._flush_locked()
            except sqlite3.Error as exc:
                self.errors.append(str(exc))
            self._closed = True
            self._db.close()

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # -- include graphs (changes.GraphStore) ----------------------------------------------------------------

    def load_graph(self, key: str) -> bytes | None:
        row = self._guarded("graph load", None,
                            lambda: self._db.execute("SELECT data FROM graphs WHERE key = ?", (key,)).fetchone())
        return bytes(row[0]) if row is not None else None

    def save_graph(self, key: str, data: bytes) -> None:
        self._guarded("graph save", None, self._save_graph, key, data)

    def _save_graph(self, key: str, data: bytes) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO graphs(key, data, used) VALUES (?, ?, ?)", (key, data, time.time_ns()))


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
            self._discard_pending(everything=False)
            return self._wipe()

    def _wipe(self) -> int:
        """Empty every table; returns the number of entries there were."""
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
                    self._wipe()
                    break
                budget = max_size - max(0, self.disk_size() - entry_bytes)
                # The most recently used entries that fit in what the database's own pages leave.
                keep = db.execute("SELECT COUNT(*) FROM (SELECT SUM(size) OVER (ORDER BY used DESC ROWS UNBOUNDED"
                                  " PRECEDING) AS kept FROM entries) WHERE kept <= ?", (budget,)).fetchone()[0]
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

    def _compact(self) -> None:
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
