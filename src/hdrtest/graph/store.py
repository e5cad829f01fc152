"""What lets a stored include graph be trusted on a later run: file and directory stamps.

A stored graph is valid while every file it scanned keeps its ``stat`` stamp and every
directory whose listing a resolution consulted keeps its names.  Checking that costs a
``stat`` per file and per directory: tens of milliseconds on thousands of headers, where
a cold scan takes seconds.  ``GraphStore`` is where graphs persist (``ResultCache`` is one).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

#: A stamp newer than this (relative to when it was taken) is not trusted: a write within
#: the file system's timestamp granularity could follow unseen.
RACY_NS = 50_000_000

Stamp = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
Listing = tuple[Stamp, str]  # a directory's stamp and names digest
UNTRUSTED: Stamp = (-1, -1, -1, -1)


@runtime_checkable
class GraphStore(Protocol):
    """Where graphs persist between runs (``ResultCache`` is one)."""

    def load_graph(self, key: str) -> bytes | None: ...

    def save_graph(self, key: str, data: bytes) -> None: ...


def stamp_of(st: os.stat_result) -> Stamp:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def trusted(stamp: Stamp, taken_ns: int) -> bool:
    """Whether a later change is sure to alter the stamp (see ``RACY_NS``)."""
    return max(stamp[1], stamp[2]) < taken_ns - RACY_NS


def current_stamp(path: str) -> Stamp | None:
    try:
        return stamp_of(os.stat(path))
    except OSError:
        return None


def list_directory(directory: str) -> tuple[Stamp, list[str], frozenset[str]] | None:
    """A directory's stamp (``UNTRUSTED`` when too fresh to rely on), its names, and the regular files among
    them (what an ``#include`` can name for us: gcc passes over directories, and a FIFO would block the scan
    that reads it); None if it cannot be listed."""
    try:
        taken = time.time_ns()
        stamp = stamp_of(os.stat(directory))
        with os.scandir(directory) as entries:
            listed = [(entry.name, _regular(entry)) for entry in entries]
    except OSError:
        return None
    regular = frozenset(name for name, is_file in listed if is_file)
    return (stamp if trusted(stamp, taken) else UNTRUSTED), [name for name, _ in listed], regular


def _regular(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()  # follows symbolic links, like the compiler's open
    except OSError:
        return False


def names_digest(names: Iterable[str]) -> str:
    return hashlib.sha256("\0".join(sorted(names)).encode("utf-8", "surrogateescape")).hexdigest()


def still_valid(consulted: dict[str, Listing | None]) -> tuple[bool, bool]:
    """Whether every directory listing behind a resolution is unchanged, and whether a stamp was refreshed."""
    refreshed = False
    for directory, known in consulted.items():
        now = current_stamp(directory)
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
