"""What lets a stored include graph be trusted on a later run: file and directory stamps.

A stored graph is valid while every file it scanned keeps its ``stat`` stamp and every
name a resolution looked up in a directory is still there, or still absent.  Checking
that costs a ``stat`` per file and per directory (and a listing when a directory's stamp
moved): tens of milliseconds on thousands of headers, where a cold scan takes seconds.
``GraphStore`` is where graphs persist (``ResultCache`` is one).
"""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

#: A stamp newer than this (relative to when it was taken) is not trusted: a write within
#: the file system's timestamp granularity could follow unseen.
RACY_NS = 50_000_000

Stamp = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
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


def read_regular(path: str | Path) -> tuple[bytes, os.stat_result]:
    """A regular file's bytes and stat.  Anything else is refused (``EINVAL``) before a read: a FIFO nobody
    writes would never return, a device (``/dev/zero``) never end, and resolution finds both (a name in a listing)."""
    with open(path, "rb", opener=lambda name, flags: os.open(name, flags | os.O_NONBLOCK)) as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return handle.read(), st


def list_directory(directory: str) -> tuple[Stamp | None, frozenset[str]]:
    """A directory's stamp (``UNTRUSTED`` when too fresh to rely on; None if it cannot be listed) and its
    regular files (what an ``#include`` can name for us: gcc passes over directories, and a FIFO would block
    the scan that reads it)."""
    try:
        taken = time.time_ns()
        stamp = stamp_of(os.stat(directory))
        with os.scandir(directory) as entries:
            regular = frozenset(entry.name for entry in entries if _regular(entry))
    except OSError:
        return None, frozenset()
    return (stamp if trusted(stamp, taken) else UNTRUSTED), regular


def _regular(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()  # follows symbolic links, like the compiler's open
    except OSError:
        return False


@dataclass(slots=True)
class Listing:
    """What resolutions asked of one directory: the names they looked up, found or not.

    Only those names matter: a directory next to the tree (``-I include`` with a spelling
    that climbs above it, ``"../../x.h"``) sees files come and go all day, and none of
    them changes a resolution that never asked for it.
    """

    stamp: Stamp | None  # None: it could not be listed (did not exist)
    found: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)

    def merge(self, newer: Listing) -> None:
        """Add what a later resolution asked (its listing is the newer, so its answers win).  A stamp
        that moved in between vouches only for the newer names: the next run lists it again."""
        self.stamp = newer.stamp if newer.stamp == self.stamp else UNTRUSTED
        self.found = (self.found - newer.missing) | newer.found
        self.missing = (self.missing - newer.found) | newer.missing


def revalidate(consulted: dict[str, Listing]) -> tuple[set[str], bool]:
    """The looked-up names now present where they were absent or gone where they were found (a
    resolution that asked for one may differ), and whether a stamp was refreshed.  Every listing
    is brought up to date: after the resolutions that asked for those names are redone, all hold."""
    flipped: set[str] = set()
    refreshed = False
    for directory, known in consulted.items():
        if current_stamp(directory) == known.stamp:
            continue
        stamp, regular = list_directory(directory)  # moved stamp: did a name we asked for come or go?
        gone, came = known.found - regular, known.missing & regular
        flipped |= gone | came
        known.stamp = stamp
        known.found, known.missing = (known.found - gone) | came, (known.missing - came) | gone
        refreshed = True
    return flipped, refreshed
