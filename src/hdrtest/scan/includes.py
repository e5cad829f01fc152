"""The include graph of a set of headers: which file includes which, under which condition.

The graph is an over-approximation on purpose: every ``#include`` of every branch
is followed, and the presence condition of the branch is kept on the edge, so one
graph serves every configuration.  Files are read once; scans are cached by content
hash (``scancache``) so that a refresh after an edit only rescans what changed.
Resolving a spelling to a file is ``search.SearchPath``'s job.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .formula import Formula, from_json, to_json

# Re-exported: callers outside the scanner import these from here.
from .probe import CompilerInfo, builtin_include_dirs, probe_compiler
from .scancache import IncludeScan, ScanCache, read_text
from .search import SearchPath

__all__ = [
    "SearchPath",
    "CompilerInfo",
    "probe_compiler",
    "builtin_include_dirs",
    "IncludeEdge",
    "FileNode",
    "IncludeScan",
    "ScanCache",
    "IncludeGraph",
    "read_text",
]


@dataclass(frozen=True)
class IncludeEdge:
    spelling: str
    angled: bool
    line: int
    condition: Formula
    target: Path | None  # None: not found, or a computed include
    kind: str = "include"  # "include", "include_next", "import"
    computed: bool = False


@dataclass
class FileNode:
    path: Path
    sha256: str
    size: int
    mtime_ns: int
    guard: str | None = None
    edges: list[IncludeEdge] = field(default_factory=list)
    #: Why the scan was imperfect (unbalanced #if), or why the file could not be read.
    error: str | None = None


class IncludeGraph:
    """Which file includes which, over all branches, with the condition of each edge."""

    def __init__(self, search: SearchPath, cache: ScanCache | None = None) -> None:
        self.search = search
        self.cache = cache if cache is not None else ScanCache()
        self.nodes: dict[Path, FileNode] = {}
        self._reverse: dict[Path, set[Path]] | None = None

    @classmethod
    def build(
        cls,
        start_files: Iterable[Path | str],
        search: SearchPath,
        cache: ScanCache | None = None,
        with_forced: bool = True,
    ) -> IncludeGraph:
        """Scan the start files and everything they reach (plus the ``-include`` files)."""
        graph = cls(search, cache)
        starts: list[Path | str] = list(start_files)
        if with_forced:
            starts += list(search.implicit_includes)
            starts += [p for p in search.forced_include_paths() if p is not None]
        graph.add(starts)
        return graph

    # -- building -----------------------------------------------------------

    def _scan_file(self, path: Path) -> FileNode:
        try:
            st = path.stat()
            data = path.read_bytes()
        except OSError as exc:
            return FileNode(path, "", 0, 0, error=f"{path}: {exc.strerror or exc}")
        digest, scan = self.cache.include_scan(str(path), data)
        edges = []
        for inc in scan.includes:
            if inc.computed:
                target = None
            elif inc.kind == "include_next":
                target = self.search.resolve_next(inc.spelling, inc.angled, path)
            else:
                target = self.search.resolve(inc.spelling, inc.angled, path)
            edges.append(
                IncludeEdge(inc.spelling, inc.angled, inc.line, inc.condition, target, inc.kind, inc.computed)
            )
        return FileNode(path, digest, st.st_size, st.st_mtime_ns, scan.guard, edges, scan.error)

    def add(self, files: Iterable[Path | str]) -> list[Path]:
        """Scan files not yet in the graph and all they include; returns the new nodes."""
        todo = deque(Path(os.path.normpath(os.path.abspath(f))) for f in files)
        added = []
        while todo:
            path = todo.popleft()
            if path in self.nodes:
                continue
            node = self._scan_file(path)
            self.nodes[path] = node
            added.append(path)
            for e in node.edges:
                if e.target is not None and e.target not in self.nodes:
                    todo.append(e.target)
        if added:
            self._reverse = None
        return added

    def refresh(self) -> set[Path]:
        """Rescan files whose content changed on disk; returns the changed (or vanished) ones."""
        changed: set[Path] = set()
        for path, node in list(self.nodes.items()):
            try:
                st = path.stat()
            except OSError:
                if node.sha256:
                    changed.add(path)
                    self.nodes[path] = FileNode(path, "", 0, 0, error=f"{path}: vanished")
                continue
            if st.st_size == node.size and st.st_mtime_ns == node.mtime_ns and node.sha256:
                continue
            fresh = self._scan_file(path)
            self.nodes[path] = fresh
            if fresh.sha256 != node.sha256:
                changed.add(path)
        if changed:
            self._reverse = None
            self.add(e.target for p in changed for e in self.nodes[p].edges if e.target is not None)
        return changed

    # -- queries ------------------------------------------------------------

    def __contains__(self, path: object) -> bool:
        return isinstance(path, (str, Path)) and Path(os.path.abspath(path)) in self.nodes

    def files(self) -> list[Path]:
        return list(self.nodes)

    def edges(self, path: Path | str) -> list[IncludeEdge]:
        node = self.nodes.get(Path(os.path.normpath(os.path.abspath(path))))
        return node.edges if node is not None else []

    def closure(self, path: Path | str) -> list[Path]:
        """The file and everything it may include, in order of first inclusion."""
        start = Path(os.path.normpath(os.path.abspath(path)))
        if start not in self.nodes:
            self.add([start])
        order: list[Path] = []
        seen: set[Path] = set()
        # Iterative pre-order DFS: a file is entered where its first #include is.
        stack: list[Path] = [start]
        while stack:
            p = stack.pop()
            if p in seen:
                continue
            seen.add(p)
            order.append(p)
            node = self.nodes.get(p)
            if node is None:
                continue
            for e in reversed(node.edges):
                if e.target is not None and e.target not in seen:
                    stack.append(e.target)
        return order

    def compile_closure(self, path: Path | str) -> list[Path]:
        """What ``cc FLAGS -include path`` reads, in order: implicit and forced includes first."""
        order: list[Path] = []
        seen: set[Path] = set()
        forced = [p for p in self.search.forced_include_paths() if p is not None]
        for first in [*self.search.implicit_includes, *forced, Path(path)]:
            for p in self.closure(first):
                if p not in seen:
                    seen.add(p)
                    order.append(p)
        return order

    def includers(self, path: Path | str) -> set[Path]:
        """Files that include ``path`` directly."""
        return set(self._reverse_map().get(Path(os.path.normpath(os.path.abspath(path))), ()))

    def _reverse_map(self) -> dict[Path, set[Path]]:
        if self._reverse is None:
            rev: dict[Path, set[Path]] = {}
            for p, node in self.nodes.items():
                for e in node.edges:
                    if e.target is not None:
                        rev.setdefault(e.target, set()).add(p)
            self._reverse = rev
        return self._reverse

    def reverse_closure(self, changed_files: Iterable[Path | str]) -> set[Path]:
        """Every file of the graph whose closure contains one of ``changed_files`` (themselves too)."""
        rev = self._reverse_map()
        todo = deque(Path(os.path.normpath(os.path.abspath(f))) for f in changed_files)
        out: set[Path] = set()
        while todo:
            p = todo.popleft()
            if p in out:
                continue
            if p in self.nodes:
                out.add(p)
            for q in rev.get(p, ()):
                if q not in out:
                    todo.append(q)
        return out

    def missing(self) -> list[tuple[Path, IncludeEdge]]:
        """Includes that resolve to nothing (computed ones excluded)."""
        return [(p, e) for p, n in self.nodes.items() for e in n.edges if e.target is None and not e.computed]

    # -- persistence ------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        return {
            "version": 1,
            "search_key": repr(self.search.key()),
            "files": {
                str(p): {
                    "sha256": n.sha256,
                    "size": n.size,
                    "mtime_ns": n.mtime_ns,
                    "guard": n.guard,
                    "error": n.error,
                    "edges": [
                        [
                            e.spelling,
                            e.angled,
                            e.line,
                            to_json(e.condition),
                            None if e.target is None else str(e.target),
                            e.kind,
                            e.computed,
                        ]
                        for e in n.edges
                    ],
                }
                for p, n in self.nodes.items()
            },
        }

    @classmethod
    def from_json(cls, obj: dict[str, object], search: SearchPath, cache: ScanCache | None = None) -> IncludeGraph:
        """Restore a graph; call ``refresh()`` afterwards to catch edits made since.

        A graph saved under a different search path is not reused (returns an empty graph).
        """
        graph = cls(search, cache)
        if obj.get("version") != 1 or obj.get("search_key") != repr(search.key()):
            return graph
        files = obj.get("files")
        if not isinstance(files, dict):
            return graph
        for p, n in files.items():
            edges = [
                IncludeEdge(sp, bool(ang), int(line), from_json(cond), None if t is None else Path(t), kind, bool(comp))
                for sp, ang, line, cond, t, kind, comp in n["edges"]
            ]
            graph.nodes[Path(p)] = FileNode(
                Path(p), n["sha256"], n["size"], n["mtime_ns"], n["guard"], edges, n["error"]
            )
        return graph
