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
from .directives import FileScan, IncludeDirective, ScanError, scan_directives
from .formula import from_json, to_json
from .options import OptionFilter

__all__ = ["IncludeScan", "ScanCache", "read_text"]


def read_text(data: bytes) -> str:
    """Decode source bytes; undecodable bytes survive (identifiers are ASCII anyway)."""
    return data.decode("utf-8", "surrogateescape")


class IncludeScan(NamedTuple):
    """What an include graph needs of a file's directive scan (all a warm run reads from disk)."""

    includes: tuple[IncludeDirective, ...]
    guard: str | None
    #: Why the scan was lenient (unbalanced ``#if``), spelled with the path it was scanned as.
    error: str | None


def _key_parts(options: OptionFilter | None) -> tuple[str, ...]:
    """What a stored scan depends on besides the file's content: the option filter and the scanner's code."""
    opts = options or OptionFilter()
    return (repr((opts.patterns, tuple(sorted(opts.names)))),
            code_digest(_cexpr_module, _conditions_module, _directives_module, _formula_module, _options_module))


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

    def __init__(self, options: OptionFilter | None = None, cache_dir: Path | None = None) -> None:
        self.options = options
        self.cache_dir = cache_dir
        self._key_parts = _key_parts(options)
        self._scans: dict[str, FileScan] = {}
        self._errors: dict[str, str] = {}
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
        scan = self._scans.get(digest)
        if scan is not None:
            self.hits += 1
            if scan.path != path:
                scan = replace(scan, path=path)
            error = self._errors.get(digest)
            if error is not None:
                error = error.replace(self._scans[digest].path, path, 1)
            return scan, error
        self.misses += 1
        text = read_text(data)
        error = None
        try:
            scan = scan_directives(text, path, self.options)
        except ScanError as exc:
            error = str(exc)
            scan = scan_directives(text, path, self.options, strict=False)
            self._errors[digest] = error
        self._scans[digest] = scan
        return scan, error

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
            return digest, _moved(known, path)
        scan, error = self._scan(digest, path, data)
        found = IncludeScan(tuple(scan.includes), scan.guard, error)
        self._include_scans[digest] = (found, path)
        self._save(digest, path, found)
        return digest, found

    # -- disk ---------------------------------------------------------------------

    def _path(self, digest: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return SCANS.path(self.cache_dir, SCANS.key(digest, *self._key_parts), ".pickle")

    def _save(self, digest: str, path: str, scan: IncludeScan) -> None:
        where = self._path(digest)
        if where is not None:
            write_atomic(where, _encode_scan(path, scan))


def _moved(known: tuple[IncludeScan, str], path: str) -> IncludeScan:
    """A stored scan for a file with the same content elsewhere: its error names this path."""
    scan, scanned_as = known
    if scan.error is None or scanned_as == path:
        return scan
    return scan._replace(error=scan.error.replace(scanned_as, path, 1))

