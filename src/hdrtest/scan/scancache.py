"""Directive scans of header files, cached by content hash in memory and on disk.

The same header copied around the tree is scanned once, and a warm run reads the
include part of each scan (what the include graph needs) from the disk cache instead
of scanning again.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from ..store.atomic import write_atomic
from ..store.namespaces import SCANS, code_digest, load
from . import cexpr as _cexpr_module
from . import conditions as _conditions_module
from . import directives as _directives_module
from . import formula as _formula_module
from . import options as _options_module
from .directives import FileScan, IncludeDirective, scan_lenient
from .formula import from_json, to_json


def read_bytes(path: Path) -> bytes | None:
    """A file's bytes, None when it cannot be read (what each reader does without it is its own call)."""
    try:
        return path.read_bytes()
    except OSError:
        return None


def read_text(data: bytes) -> str:
    """Decode source bytes; undecodable bytes survive (identifiers are ASCII anyway)."""
    return data.decode("utf-8", "surrogateescape")


class IncludeScan(NamedTuple):
    """What an include graph needs of a file's directive scan (all a warm run reads from disk)."""

    includes: tuple[IncludeDirective, ...]
    guard: str | None
    #: Why the scan was lenient (unbalanced ``#if``), spelled with the path it was scanned as.
    error: str | None


def _encode_scan(path: str, scan: IncludeScan) -> bytes:
    # Formulas as JSON-like lists: unpickling lists is far cheaper than dataclass instances.
    rows = [(i.spelling, i.angled, i.line, to_json(i.condition), i.kind, i.computed) for i in scan.includes]
    return pickle.dumps((path, rows, scan.guard, scan.error), protocol=pickle.HIGHEST_PROTOCOL)


def _decode_scan(blob: bytes) -> tuple[IncludeScan, str]:
    path, rows, guard, error = pickle.loads(blob)
    includes = tuple(IncludeDirective(sp, bool(ang), int(line), from_json(cond), str(kind), bool(comp))
                     for sp, ang, line, cond, kind, comp in rows)
    if not isinstance(path, str) or not (guard is None or isinstance(guard, str)) or \
            not (error is None or isinstance(error, str)):
        raise ValueError("damaged scan record")
    return IncludeScan(includes, guard, error), path


class ScanCache:
    """Directive scans by content hash (the same header copied around is scanned once).

    With ``cache_dir`` (the run's cache directory), the include part of each scan
    (``include_scan``) is also kept on disk in the ``scans`` namespace, one file per
    content hash, so a later run reads scans instead of redoing them.
    Full scans (every ``#define``) stay in memory: they are ten times larger and only
    worth keeping for the run that needs them.
    """

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir
        #: What a stored scan depends on besides the file's content: the scanner's code.
        self._code = code_digest(_cexpr_module, _conditions_module, _directives_module, _formula_module,
                                 _options_module)
        #: sha256 -> (the scan, why it was lenient), spelled with the path it was scanned as
        self._scans: dict[str, tuple[FileScan, str | None]] = {}
        #: sha256 -> (the include scan, the path its error message names)
        self._include_scans: dict[str, tuple[IncludeScan, str]] = {}
        self.hits = 0
        self.misses = 0
        #: Include scans read from ``cache_dir`` (counted in ``hits`` too).
        self.disk_hits = 0

    def scan(self, path: str, data: bytes) -> tuple[str, FileScan, str | None]:
        """``(sha256, scan, error)``; a file with unbalanced directives is scanned leniently."""
        digest = hashlib.sha256(data).hexdigest()
        return (digest, *self._scan(digest, path, data))

    def _scan(self, digest: str, path: str, data: bytes) -> tuple[FileScan, str | None]:
        known = self._scans.get(digest)
        if known is None:
            self.misses += 1
            known = self._scans[digest] = scan_lenient(read_text(data), path)
            return known
        self.hits += 1
        scan, error = known
        return (scan, error) if scan.path == path else (replace(scan, path=path), _renamed(error, scan.path, path))

    def include_scan(self, path: str, data: bytes) -> tuple[str, IncludeScan]:
        """``(sha256, includes, guard and error)`` of ``data``, from memory, the disk cache or a scan."""
        digest = hashlib.sha256(data).hexdigest()
        known = self._include_scans.get(digest)
        if known is None and digest not in self._scans:
            known = load(self._path(digest), _decode_scan)
            if known is not None:
                self.disk_hits += 1
                self._include_scans[digest] = known
        if known is not None:
            self.hits += 1
            stored, scanned_as = known
            return digest, stored._replace(error=_renamed(stored.error, scanned_as, path))
        scan, error = self._scan(digest, path, data)
        found = IncludeScan(tuple(scan.includes), scan.guard, error)
        self._include_scans[digest] = (found, path)
        where = self._path(digest)
        if where is not None:
            write_atomic(where, _encode_scan(path, found))
        return digest, found

    # -- disk ---------------------------------------------------------------------

    def _path(self, digest: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return SCANS.path(self.cache_dir, SCANS.key(digest, self._code), ".pickle")


def _renamed(error: str | None, scanned_as: str, path: str) -> str | None:
    """The error of a scan of the same content elsewhere, naming this path."""
    return None if error is None else error.replace(scanned_as, path, 1)
