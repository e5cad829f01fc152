"""The one include graph: which file includes which, under which condition.

Every ``#include`` of every branch is an edge carrying the presence condition of its
branch (the directive scanner's), resolved along one search path (``resolve.Chains``),
so one graph serves every configuration.  Questions that want every ``#include`` (which
headers a change affects, which units reach a header) walk all edges; a question about
one configuration passes its macro values and walks only the edges that may be taken.

The graph persists through a ``store.GraphStore``, one record per search path, with
each file's ``stat`` stamp and, for every directory a resolution consulted, its stamp and
the names looked up there: a warm ``update`` costs a ``stat`` per file and directory,
re-reads only the files that moved and re-resolves only the files that asked for a name
that came or went.  Stored edges (spellings, lines, conditions) are decoded only when a question
needs them: a warm run with nothing changed reads just stamps and targets.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ..scan.directives import IncludeDirective, listed_includes
from ..scan.formula import Formula, evaluate, from_json, to_json
from ..scan.scancache import ScanCache, read_text
from .resolve import Chains, Include, Resolver, SearchPath
from .store import GraphStore, Listing, Stamp, current_stamp, read_regular, revalidate, stamp_of, trusted

_HAS_INCLUDE = re.compile(rb"__has_include(_next)?[ \t]*\([ \t]*([<\"])([^>\"\r\n]*)[>\"]")
_KIND = {"include": "include", "import": "include", "include_next": "next"}
_TAGS = {"include": "q", "next": "n", "has": "h"}
_KINDS = {tag: kind for kind, tag in _TAGS.items()}
#: Bump when the stored form changes; a graph stored in another form is rebuilt.
_FORMAT = 6


class IncludeEdge(NamedTuple):
    spelling: str
    angled: bool
    line: int
    condition: Formula
    target: Path | None  # None: not found, or a computed include
    kind: str = "include"  # "include", "include_next", "import"
    computed: bool = False


def written(include: IncludeDirective | IncludeEdge) -> Include:
    """What resolution needs of a scanned ``#include`` (``#import`` reads like ``#include``)."""
    return Include(include.spelling, include.angled, _KIND[include.kind], include.computed)


def _may_include(data: bytes) -> bool:
    """Whether ``data`` may hold an include directive: "#" (or "%:"), blanks, comments or line continuations,
    then the keyword.  A file without one is not scanned: the kernel's generated register headers (23 MB of
    ``#define``s each) cost the directive scanner seconds, and ``bytes.find`` skips them in milliseconds."""
    for word in (b"include", b"import"):
        at = data.find(word)
        while at >= 0:
            if data[max(0, at - 64):at].rstrip(b" \t").endswith((b"#", b"%:", b"*/", b"\\\n", b"\\\r\n")):
                return True
            at = data.find(word, at + 1)
    return False


def probes(data: bytes) -> tuple[Include, ...]:
    """The names ``__has_include`` asks about: never read, but a file appearing there changes the answer."""
    if b"__has_include" not in data:
        return ()
    return tuple(Include(m.group(3).decode("utf-8", "surrogateescape"), m.group(2) == b"<", "has")
                 for m in _HAS_INCLUDE.finditer(data))


def scan_includes(data: bytes) -> tuple[Include, ...]:
    """Every include a file's text names (the directive scanner's, every branch), then its probes."""
    if not _may_include(data):
        return probes(data)
    return (*(written(i) for i in listed_includes(read_text(data))), *probes(data))


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


@dataclass(slots=True)
class FileNode:
    path: str
    stamp: Stamp | None = None  # None: not trusted, re-read next time
    targets: list[str] = field(default_factory=list)  # distinct resolved includes, every branch, itself excluded
    #: Content digest ("" when unreadable); None until the stored details are loaded.
    sha256: str | None = ""
    edges: list[IncludeEdge] = field(default_factory=list)
    probes: tuple[Include, ...] = ()
    #: The edges as stored, until first used (``IncludeGraph._edges`` decodes them): a warm run reads few.
    stored: list[Any] | None = None


def _norm(path: Path | str) -> str:
    return os.path.normpath(os.path.abspath(path))


def _walk(start: Iterable[str], step: Callable[[str], Iterable[str]]) -> set[str]:
    seen = set(start)
    queue = deque(seen)
    while queue:
        for nxt in step(queue.popleft()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


class IncludeGraph:
    """Files and the files they include (every branch, each edge with its condition), for one search path."""

    def __init__(self, chains: Chains, cache: ScanCache | None = None) -> None:
        self.chains = chains
        self.cache = cache if cache is not None else ScanCache()
        self.files: dict[str, FileNode] = {}
        self.consulted: dict[str, Listing] = {}
        #: What the last ``update`` did: files re-read, files whose content changed.
        self.rescanned = 0
        self.changed: set[str] = set()
        #: Directory listings shared by the resolutions of one run (``update`` starts afresh).
        self._resolver = Resolver()
        self._reverse: dict[str, set[str]] | None = None
        #: Stored edges, decoded on first need, and the path table their targets index.
        self._details: bytes | None = None
        self._paths: list[str] = []
        self._stored_order: list[str] = []

    @classmethod
    def build(cls, start_files: Iterable[Path | str], search: SearchPath, cache: ScanCache | None = None) -> IncludeGraph:
        """Scan the start files and everything they reach (plus the implicit and ``-include`` files)."""
        graph = cls(Chains.of(search), cache)
        graph.add([*start_files, *search.read_first()])
        return graph

    # -- building --------------------------------------------------------------------------------------------

    def add(self, files: Iterable[Path | str]) -> list[Path]:
        """Scan files not yet in the graph and all they include; returns the new ones."""
        resolver = self._resolver
        queue = deque(_norm(f) for f in files)
        added = []
        while queue:
            path = queue.popleft()
            if path in self.files:
                continue
            node = self.files[path] = FileNode(path)
            self._read(node)
            self._resolve(node, resolver)
            added.append(Path(path))
            queue.extend(t for t in node.targets if t not in self.files)
        self._remember(resolver)
        if added:
            self._reverse = None
        return added

    def update(self, roots: Iterable[Path | str] = ()) -> bool:
        """Bring the graph up to date with the disk and extend it to ``roots``; True if anything changed."""
        self.rescanned = 0
        self.changed = set()
        resolver = self._resolver = Resolver()  # listings are taken afresh
        dirty: set[str] = set()
        flipped, refreshed = revalidate(self.consulted)
        if flipped:  # a name some resolution looked up came or went: redo those resolutions, scans are good
            self._load_details()
            dirty.update(path for path, node in self.files.items() if self._asks_for(node, flipped))
        for path, node in self.files.items():
            now = current_stamp(path)
            if (now is None or node.stamp is None or now != node.stamp) and self._read(node):
                dirty.add(path)
                self.changed.add(path)
        for path in dirty:
            self._resolve(self.files[path], resolver)
        added = self.add([*roots, *(t for p in dirty for t in self.files[p].targets)])
        changed = bool(dirty) or bool(added) or self.rescanned > 0 or refreshed
        if changed:
            self._reverse = None
        return changed

    def _asks_for(self, node: FileNode, names: set[str]) -> bool:
        """Whether resolving ``node``'s includes looks one of ``names`` up (the last component of a
        spelling is the name looked up in each directory tried; one that ends in ``..`` is anything)."""
        # Stored rows keep the edges' field order: [0] is the spelling, [6] whether it is computed.
        for row in node.stored if node.stored is not None else node.edges:
            tail = os.path.basename(os.path.normpath(row[0]))
            if not row[6] and (tail in names or tail in ("", ".", "..")):
                return True
        return False

    def _remember(self, resolver: Resolver) -> None:
        """Keep what ``resolver`` looked up, beside what earlier resolutions did."""
        for directory, asked in resolver.consulted.items():
            known = self.consulted.setdefault(directory, asked)
            if known is not asked:
                known.merge(asked)

    def _read(self, node: FileNode) -> bool:
        """Re-read ``node``'s file; True if its includes may have changed."""
        self.rescanned += 1
        if node.sha256 is None:
            self._load_details()
        taken = time.time_ns()
        try:
            data, st = read_regular(node.path)
            stamp = stamp_of(st)
        except OSError:
            changed = node.sha256 != ""
            node.stamp, node.sha256, node.edges, node.probes, node.stored = None, "", [], (), None
            return changed
        node.stamp = stamp if trusted(stamp, taken) else None
        digest = hashlib.sha256(data).hexdigest()
        if digest == node.sha256:
            return False
        node.sha256, node.probes, node.edges, node.stored = digest, probes(data), [], None
        if _may_include(data):
            _, scan = self.cache.include_scan(node.path, data)
            node.edges = [IncludeEdge(i.spelling, i.angled, i.line, i.condition, None, i.kind, i.computed)
                          for i in scan.includes]
        return True

    def _resolve(self, node: FileNode, resolver: Resolver) -> None:
        edges = []
        targets: dict[str, None] = {}
        for edge in self._edges(node):
            found = None if edge.computed else resolver.resolve(written(edge), node.path, self.chains)
            edges.append(edge._replace(target=None if found is None else Path(found)))
            if found is not None and found != node.path:
                targets[found] = None
        node.edges, node.targets = edges, list(targets)

    # -- queries (conditions ignored unless ``values`` are given) --------------------------------------------

    def _edges(self, node: FileNode) -> list[IncludeEdge]:
        if node.sha256 is None:
            self._load_details()
        if node.stored is not None:
            paths = self._paths
            node.edges = [IncludeEdge(sp, ang, line, from_json(cond), None if t < 0 else Path(paths[t]), kind, comp)
                          for sp, ang, line, cond, t, kind, comp in node.stored]
            node.stored = None
        return node.edges

    def node(self, path: Path | str) -> FileNode | None:
        """The node of ``path`` (normalised, as ``files`` keys them) with its edges decoded; None if not read."""
        node = self.files.get(os.fspath(path))
        if node is not None:
            self._edges(node)
        return node

    def edges(self, path: Path | str) -> list[IncludeEdge]:
        node = self.files.get(_norm(path))
        return self._edges(node) if node is not None else []

    def includes(self, path: str) -> tuple[Include, ...]:
        """What ``path`` names, as written: its includes (every branch), then its ``__has_include`` probes."""
        return (*(written(e) for e in self.edges(path)), *self.files[path].probes) if path in self.files else ()

    def closure(self, path: Path | str, values: Mapping[str, str | None] | None = None) -> list[Path]:
        """The file and everything it may include, in order of first inclusion.

        ``values``: follow only the edges whose condition is not false with these macros.
        """
        start = _norm(path)
        if start not in self.files:
            self.add([start])
        order: list[Path] = []
        seen: set[Path] = set()
        # Iterative pre-order DFS: a file is entered where its first #include is.  It walks the edges' own
        # Path targets: making a Path per visited file cost seconds per kernel run (fragility asks per file).
        stack = [Path(start)]
        while stack:
            p = stack.pop()
            if p in seen:
                continue
            seen.add(p)
            order.append(p)
            node = self.files.get(str(p))
            for e in reversed(self._edges(node) if node is not None else []):
                if e.target is not None and (values is None or evaluate(e.condition, values) is not False):
                    stack.append(e.target)
        return order

    def reach(self, files: Iterable[str]) -> set[str]:
        """``files`` (normalised path strings) and everything they include, every branch."""
        return _walk(files, lambda p: node.targets if (node := self.files.get(p)) is not None else ())

    def reach_back(self, files: Iterable[str]) -> set[str]:
        """``files`` (normalised path strings) and every file that includes one of them, directly or not."""
        reverse = self._reverse_map()
        return _walk(files, lambda p: reverse.get(p, ()))

    def includers(self, path: Path | str) -> set[Path]:
        """Files that include ``path`` directly."""
        return {Path(p) for p in self._reverse_map().get(_norm(path), ())}

    def _reverse_map(self) -> dict[str, set[str]]:
        if self._reverse is None:
            reverse: dict[str, set[str]] = {}
            for source, node in self.files.items():
                for target in node.targets:
                    reverse.setdefault(target, set()).add(source)
            self._reverse = reverse
        return self._reverse

    # -- persistence -----------------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """A head (stamps, targets, listings) read on every run, then details (digests, probes, edges) read on
        demand; both index one path table."""
        # Details never loaded and no file added: nothing was re-read or re-resolved, so the stored details still
        # hold and only the head is new.  Decoding and encoding them again cost a second per save on a kernel
        # graph, and a moved directory stamp asks for a save.
        unchanged = self._details is not None and list(self.files) == self._stored_order
        if not unchanged:
            self._load_details()
        nodes = list(self.files.values())
        # Edges still as stored index the stored path table: keep it as the prefix (rebuilt when none is left).
        paths = list(self._paths) if unchanged or any(n.stored is not None for n in nodes) else []
        index = {p: i for i, p in enumerate(paths)}

        def at(path: str) -> int:
            found = index.get(path)
            if found is None:
                found = index[path] = len(paths)
                paths.append(path)
            return found

        head = {"version": _FORMAT, "chains": [self.chains.quote, self.chains.angled], "paths": paths,
                "nodes": [at(n.path) for n in nodes], "stamps": [n.stamp for n in nodes],
                "targets": [[at(t) for t in n.targets] for n in nodes],
                "consulted": [[d, a.stamp, "\n".join(sorted(a.found)), "\n".join(sorted(a.missing))]
                              for d, a in self.consulted.items()]}
        if unchanged and self._details is not None:
            tail = self._details
        else:
            rows = [n.stored if n.stored is not None else
                    [[e.spelling, e.angled, e.line, to_json(e.condition),
                      -1 if e.target is None else at(os.fspath(e.target)), e.kind, e.computed] for e in n.edges]
                    for n in nodes]
            details = [[n.sha256 for n in nodes], [encode_includes(n.probes) for n in nodes], rows]
            tail = zlib.compress(json.dumps(details, separators=(",", ":")).encode(), 1)
        packed = zlib.compress(json.dumps(head, separators=(",", ":")).encode(), 1)  # after ``at`` grew ``paths``
        return len(packed).to_bytes(8, "little") + packed + tail

    @classmethod
    def from_bytes(cls, data: bytes, chains: Chains, cache: ScanCache | None = None) -> IncludeGraph:
        """A stored graph, or an empty one when ``data`` is unusable or for another search path."""
        graph = cls(chains, cache)
        try:
            size = int.from_bytes(data[:8], "little")
            head = json.loads(zlib.decompress(data[8:8 + size]))
            if head.get("version") != _FORMAT or head.get("chains") != [list(chains.quote), list(chains.angled)]:
                return graph
            graph._paths = paths = head["paths"]
            graph._stored_order = [paths[i] for i in head["nodes"]]
            for path, stamp, targets in zip(graph._stored_order, head["stamps"], head["targets"], strict=True):
                graph.files[path] = FileNode(path, tuple(stamp) if stamp else None, [paths[t] for t in targets], None)
            graph.consulted = {d: Listing(tuple(stamp) if stamp else None, _names(found), _names(missing))
                               for d, stamp, found, missing in head["consulted"]}
            graph._details = data[8 + size:]
        except (ValueError, KeyError, TypeError, IndexError, zlib.error):
            return cls(chains, cache)
        return graph

    def _load_details(self) -> None:
        if self._details is None:
            return
        data, self._details = self._details, None
        try:
            for path, digest, named, rows in zip(self._stored_order, *json.loads(zlib.decompress(data)), strict=True):
                node = self.files[path]
                if node.sha256 is None:  # else re-read since: newer than the stored details
                    node.sha256, node.probes, node.stored = digest, decode_includes(named), rows
        except (ValueError, KeyError, TypeError, IndexError, zlib.error):
            # Stored details unusable: read every file again (a cold build).
            self.consulted = {}
            resolver = self._resolver = Resolver()
            for node in self.files.values():
                node.stamp, node.sha256, node.stored = None, "", None
                self._read(node)
                self._resolve(node, resolver)
            self._remember(resolver)
            self._reverse = None


def _names(joined: str) -> set[str]:
    return set(joined.split("\n")) if joined else set()


def load_graph(chains: Chains, roots: Iterable[str], store: GraphStore | None = None,
               cache: ScanCache | None = None) -> IncludeGraph:
    """The up-to-date include graph reaching ``roots`` along ``chains``, through ``store`` when given."""
    key = "graph:" + chains.key()
    data = store.load_graph(key) if store is not None else None
    graph = IncludeGraph.from_bytes(data, chains, cache) if data else IncludeGraph(chains, cache)
    if graph.update(roots) and store is not None:
        store.save_graph(key, graph.to_bytes())
    return graph
