"""The files an explanation reads: text and directive scans, read once per run, with their digests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..scan.directives import FileScan, scan_directives
from ..scan.options import OptionFilter


@dataclass
class Files:
    options: OptionFilter
    _lines: dict[str, list[str]] = field(default_factory=dict)
    _scans: dict[str, FileScan] = field(default_factory=dict)
    #: Per standard header and search path: the files it reaches, with their include depth.
    standard: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)

    #: Content digests (sha256 hex, "" when unreadable) of the files read, and the paths read since ``touched``
    #: was last reset: what one result's explanation depends on.
    digests: dict[str, str] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)

    def lines(self, path: str) -> list[str]:
        self.touched.add(path)
        cached = self._lines.get(path)
        if cached is None:
            try:
                data = Path(path).read_bytes()
            except OSError:
                data = None
            self.digests[path] = hashlib.sha256(data).hexdigest() if data is not None else ""
            cached = data.decode("utf-8", errors="replace").splitlines() if data is not None else []
            self._lines[path] = cached
        return cached

    def digest(self, path: str) -> str:
        if path not in self.digests:
            self.lines(path)
        return self.digests[path]

    def scan(self, path: str) -> FileScan:
        self.touched.add(path)
        cached = self._scans.get(path)
        if cached is None:
            cached = scan_directives("\n".join(self.lines(path)) + "\n", path, self.options, strict=False)
            self._scans[path] = cached
        return cached
