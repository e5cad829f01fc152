"""Include resolution the way gcc does it, and the include graph of a set of headers.

The graph is an over-approximation on purpose: every ``#include`` of every branch
is followed, and the presence condition of the branch is kept on the edge, so one
graph serves every configuration.  Files are read once; scans are cached by content
hash so that a refresh after an edit only rescans what changed.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

from ..atomic import write_atomic
from ..toolchain.run import run
from . import conditions as _conditions_module
from . import directives as _directives_module
from .conditions import Formula, OptionFilter, from_json, to_json
from .directives import FileScan, IncludeDirective, ScanError, scan_directives

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


# ---------------------------------------------------------------------------
# The compiler's own search directories

@dataclass(frozen=True)
class CompilerInfo:
    """What a compiler searches and reads before the first line of a file."""

    #: Built-in ``#include <...>`` directories, in order.
    include_dirs: tuple[Path, ...] = ()
    #: Headers read implicitly before the main file (gcc's ``stdc-predef.h``).
    implicit_includes: tuple[Path, ...] = ()


_PROBE_CACHE: dict[tuple[str, str, tuple[str, ...]], CompilerInfo] = {}
_PROBE_LOCK = threading.Lock()


def _parse_verbose_dirs(stderr: str) -> tuple[Path, ...]:
    """Directories of the ``#include <...> search starts here:`` block of ``cc -v``."""
    dirs: list[Path] = []
    inside = False
    for line in stderr.splitlines():
        if line.startswith("#include <...> search starts here:"):
            inside = True
        elif line.startswith("End of search list."):
            break
        elif inside and line.startswith(" "):
            text = line.strip()
            if text.endswith("(framework directory)"):
                continue  # macOS frameworks need a different lookup; not supported
            dirs.append(Path(os.path.normpath(text)))
    return tuple(dirs)


_LINEMARKER = re.compile(r'^# \d+ "([^"<>]+)" 1(?: |$)', re.M)


def _parse_implicit(stdout: str) -> tuple[Path, ...]:
    """Files entered before the main file, from ``-E`` linemarkers (flag 1: entering)."""
    found = [Path(os.path.normpath(m.group(1))) for m in _LINEMARKER.finditer(stdout)]
    return tuple(dict.fromkeys(p for p in found if str(p) != os.devnull))


def probe_compiler(compiler: str, language: str = "c", flags: Sequence[str] = ()) -> CompilerInfo:
    """Ask ``compiler -E -x LANG -v /dev/null`` once per process what it searches and reads.

    ``flags`` are the options that change the answer (``--sysroot``, ``--target``,
    ``-m32``, ``-ffreestanding``...).  A compiler that cannot be run yields an empty
    answer rather than an exception: the graph then misses system headers, which only
    costs precision.
    """
    key = (compiler, language, tuple(flags))
    with _PROBE_LOCK:
        cached = _PROBE_CACHE.get(key)
    if cached is not None:
        return cached
    cmd = [compiler, *flags, "-E", "-x", language, "-v", os.devnull]
    try:
        proc = run(cmd, timeout=60)
        info = CompilerInfo(_parse_verbose_dirs(proc.err), _parse_implicit(proc.out)) if not proc.timed_out \
            else CompilerInfo()
    except OSError:
        info = CompilerInfo()
    with _PROBE_LOCK:
        _PROBE_CACHE[key] = info
    return info


def builtin_include_dirs(compiler: str, language: str = "c", flags: Sequence[str] = ()) -> tuple[Path, ...]:
    """The compiler's built-in ``#include <...>`` directories (see ``probe_compiler``)."""
    return probe_compiler(compiler, language, flags).include_dirs


# Options that change where the compiler's own headers are; passed on to the probe.
_PROBE_WITH_ARG = {"-target", "-isysroot", "--sysroot", "--gcc-toolchain", "-b", "-V"}
_PROBE_PREFIXES = ("--sysroot=", "--target=", "--gcc-toolchain=", "-stdlib=", "-isysroot")
_PROBE_EXACT = {
    "-m32",
    "-m64",
    "-mx32",
    "-m16",
    "-nostdinc++",
    "-nostdlibinc",
    "-nobuiltininc",
    "-ffreestanding",
    "-fno-hosted",
}


# ---------------------------------------------------------------------------
# Search path


@dataclass
class SearchPath:
    """gcc's search chain: quote dirs, then -I, then system, then -idirafter."""

    quote_dirs: tuple[Path, ...] = ()  # -iquote
    include_dirs: tuple[Path, ...] = ()  # -I
    system_dirs: tuple[Path, ...] = ()  # -isystem
    builtin_dirs: tuple[Path, ...] = ()  # the compiler's own
    #: Read before everything else without being asked for (gcc's stdc-predef.h).
    implicit_includes: tuple[Path, ...] = ()
    after_dirs: tuple[Path, ...] = ()  # -idirafter
    #: ``-include`` files in order, as spelled (see ``forced_include_paths``).
    forced_includes: tuple[str, ...] = ()
    #: ``-imacros`` files: only their macros matter, but they are read first.
    macro_includes: tuple[str, ...] = ()
    nostdinc: bool = False
    sysroot: Path | None = None
    directory: Path = Path(".")
    compiler: str | None = None
    language: str = "c"
    _cache: dict[tuple[str, bool, str], Path | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    _isfile: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_flags(
        cls,
        flags: Sequence[str],
        directory: Path,
        compiler: str | None = None,
        language: str | None = None,
    ) -> SearchPath:
        """Build the chain from compile flags; relative directories are taken from ``directory``.

        ``compiler`` is asked for its built-in directories (once per compiler, language
        and target flags); without one only the flags' directories are searched.
        ``language`` defaults to the flags' ``-x`` or ``"c"``.
        """
        directory = Path(os.path.abspath(directory))
        quote: list[str] = []
        inc: list[str] = []
        system: list[str] = []
        after: list[str] = []
        forced: list[str] = []
        imacros: list[str] = []
        probe: list[str] = []
        nostdinc = False
        sysroot: str | None = None
        prefix = ""
        lang = language
        i = 0
        n = len(flags)

        def arg_of(opt: str) -> str | None:
            """The value of ``opt`` given as ``optVALUE`` or ``opt VALUE``; advances ``i``."""
            nonlocal i
            f = flags[i]
            if f == opt:
                i += 1
                return flags[i] if i < n else None
            return f[len(opt) :].lstrip("=") if opt.startswith("--") else f[len(opt) :]

        while i < n:
            f = flags[i]
            if f.startswith("-I") and f != "-I-":
                v = arg_of("-I")
                if v:
                    inc.append(v)
            elif f.startswith("--include-directory"):
                v = arg_of("--include-directory")
                if v:
                    inc.append(v)
            elif f.startswith("-iquote"):
                v = arg_of("-iquote")
                if v:
                    quote.append(v)
            elif f.startswith("-isystem"):
                v = arg_of("-isystem")
                if v:
                    system.append(v)
            elif f.startswith("-idirafter"):
                v = arg_of("-idirafter")
                if v:
                    after.append(v)
            elif f.startswith("-include-pch"):
                arg_of("-include-pch")
            elif f.startswith("-include"):
                v = arg_of("-include")
                if v:
                    forced.append(v)
            elif f.startswith("-imacros"):
                v = arg_of("-imacros")
                if v:
                    imacros.append(v)
            elif f.startswith("-iprefix"):
                prefix = arg_of("-iprefix") or ""
            elif f.startswith("-iwithprefixbefore"):
                v = arg_of("-iwithprefixbefore")
                if v:
                    inc.append(prefix + v)
            elif f.startswith("-iwithprefix"):
                v = arg_of("-iwithprefix")
                if v:
                    after.append(prefix + v)
            elif f == "-nostdinc":
                nostdinc = True
            elif f.startswith("--sysroot"):
                sysroot = arg_of("--sysroot")
                if sysroot:
                    probe.append("--sysroot=" + str(directory / sysroot))
            elif f == "-x" and i + 1 < n:
                i += 1
                lang = lang or flags[i]
            elif f.startswith("-x") and len(f) > 2:
                lang = lang or f[2:]
            elif f in _PROBE_WITH_ARG and i + 1 < n:
                probe += [f, flags[i + 1]]
                i += 1
            elif f.startswith(_PROBE_PREFIXES) or f in _PROBE_EXACT:
                probe.append(f)
            i += 1

        root = Path(os.path.normpath(directory / sysroot)) if sysroot else None

        def absolute(d: str) -> Path:
            # "=dir" and "$SYSROOT/dir" are relative to the sysroot (gcc).
            if root is not None and d.startswith("="):
                d = str(root) + d[1:]
            elif root is not None and d.startswith("$SYSROOT"):
                d = str(root) + d[len("$SYSROOT") :]
            return Path(os.path.normpath(directory / d))

        lang = lang or "c"
        info = CompilerInfo()
        if compiler is not None and not nostdinc:
            info = probe_compiler(compiler, "c++" if lang.startswith("c++") else "c", probe)
        return cls(
            quote_dirs=tuple(absolute(d) for d in quote),
            include_dirs=tuple(absolute(d) for d in inc),
            system_dirs=tuple(absolute(d) for d in system),
            builtin_dirs=info.include_dirs,
            implicit_includes=info.implicit_includes,
            after_dirs=tuple(absolute(d) for d in after),
            forced_includes=tuple(forced),
            macro_includes=tuple(imacros),
            nostdinc=nostdinc,
            sysroot=root,
            directory=directory,
            compiler=compiler,
            language=lang,
        )

    # -- chains ------------------------------------------------------------

    def angled_chain(self) -> tuple[Path, ...]:
        """Directories for ``#include <...>``, in order, duplicates removed like gcc."""
        system = _dedupe(self.system_dirs + self.builtin_dirs)
        system_set = set(system)
        # gcc: a directory given both with -I and as a system directory is searched as
        # a system directory only, at the system position.
        user = tuple(d for d in _dedupe(self.include_dirs) if d not in system_set)
        return _dedupe(user + system + self.after_dirs)

    def quote_chain(self) -> tuple[Path, ...]:
        """Directories for ``#include "..."`` after the including file's own directory."""
        return _dedupe(self.quote_dirs + self.angled_chain())

    def key(self) -> tuple[object, ...]:
        """A hashable identity of the chain (for caches keyed by search path)."""
        return (
            self.quote_chain(),
            self.angled_chain(),
            self.forced_includes,
            self.macro_includes,
            str(self.directory),
        )

    # -- resolution -------------------------------------------------------

    def _exists(self, path: str) -> bool:
        found = self._isfile.get(path)
        if found is None:
            found = os.path.isfile(path)
            self._isfile[path] = found
        return found

    def _search(self, spelling: str, dirs: Iterable[Path]) -> Path | None:
        for d in dirs:
            candidate = os.path.normpath(os.path.join(d, spelling))
            if self._exists(candidate):
                return Path(candidate)
        return None

    def resolve(self, spelling: str, angled: bool, including_file: Path | str | None = None) -> Path | None:
        """The file ``#include "spelling"`` (or ``<spelling>``) in ``including_file`` names."""
        if os.path.isabs(spelling):
            p = os.path.normpath(spelling)
            return Path(p) if self._exists(p) else None
        here = "" if angled or including_file is None else os.path.dirname(os.path.abspath(including_file))
        key = (spelling, angled, here)
        if key in self._cache:
            return self._cache[key]
        result: Path | None = None
        if here:
            result = self._search(spelling, (Path(here),))
        if result is None:
            result = self._search(spelling, self.angled_chain() if angled else self.quote_chain())
        self._cache[key] = result
        return result

    def resolve_next(self, spelling: str, angled: bool, including_file: Path | str) -> Path | None:
        """``#include_next``: search the chain after the directory the includer was found in."""
        chain = self.quote_chain()
        including = os.path.abspath(including_file)
        for i, d in enumerate(chain):
            if including.startswith(str(d).rstrip(os.sep) + os.sep):
                return self._search(spelling, chain[i + 1 :])
        # Not found through the chain (e.g. the main file): gcc treats it as #include.
        return self.resolve(spelling, angled, including_file)

    def forced_include_paths(self) -> list[Path | None]:
        """``-include`` files resolved: the working directory first, then the quote chain."""
        out: list[Path | None] = []
        for spelling in self.forced_includes:
            candidate = os.path.normpath(os.path.join(self.directory, spelling))
            out.append(Path(candidate) if self._exists(candidate) else self.resolve(spelling, False, None))
        return out


def _dedupe(dirs: Iterable[Path]) -> tuple[Path, ...]:
    seen: set[Path] = set()
    out = []
    for d in dirs:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return tuple(out)


# ---------------------------------------------------------------------------
# Graph


def read_text(data: bytes) -> str:
    """Decode source bytes; undecodable bytes survive (identifiers are ASCII anyway)."""
    return data.decode("utf-8", "surrogateescape")


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


class IncludeScan(NamedTuple):
    """What an include graph needs of a file's directive scan (all a warm run reads from disk)."""

    includes: tuple[IncludeDirective, ...]
    guard: str | None
    #: Why the scan was lenient (unbalanced ``#if``), spelled with the path it was scanned as.
    error: str | None


#: Bump when the stored form of an ``IncludeScan`` changes.
_SCAN_FORMAT = 1
_NAMESPACES: dict[tuple[object, ...], str] = {}


def _scan_namespace(options: OptionFilter | None) -> str:
    """The disk cache's subdirectory: the scanner's own source and the option filter are part of it.

    Hashing the scanner's source means an edit to it (a fixed corner case) is never
    answered from scans the old code made, without anyone remembering to bump a version.
    """
    opts = options or OptionFilter()
    key = (opts.patterns, tuple(sorted(opts.names)))
    cached = _NAMESPACES.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256(repr((_SCAN_FORMAT, key)).encode())
    for module in (_conditions_module, _directives_module):
        try:
            h.update(Path(module.__file__ or "").read_bytes())
        except OSError:
            h.update(getattr(module, "__name__", "").encode())
    name = f"includes-v{_SCAN_FORMAT}-{h.hexdigest()[:16]}"
    _NAMESPACES[key] = name
    return name


def _encode_scan(path: str, scan: IncludeScan) -> bytes:
    # Formulas as JSON-like lists: unpickling lists is far cheaper than dataclass instances.
    rows = [(i.spelling, i.angled, i.line, to_json(i.condition), i.kind, i.computed) for i in scan.includes]
    return pickle.dumps((path, rows, scan.guard, scan.error), protocol=pickle.HIGHEST_PROTOCOL)


def _decode_scan(blob: bytes) -> tuple[str, IncludeScan]:
    path, rows, guard, error = pickle.loads(blob)
    includes = tuple(IncludeDirective(sp, bool(ang), int(line), from_json(cond), str(kind), bool(comp))
                     for sp, ang, line, cond, kind, comp in rows)
    if not isinstance(path, str) or not (guard is None or isinstance(guard, str)) or \
            not (error is None or isinstance(error, str)):
        raise ValueError("damaged scan record")
    return path, IncludeScan(includes, guard, error)


class ScanCache:
    """Directive scans by content hash (the same header copied around is scanned once).

    With ``cache_dir``, the include part of each scan (``include_scan``) is also kept on
    disk, one file per content hash, so a later run reads scans instead of redoing them.
    Full scans (every ``#define``) stay in memory: they are ten times larger and only
    worth keeping for the run that needs them.
    """

    def __init__(self, options: OptionFilter | None = None, cache_dir: Path | None = None) -> None:
        self.options = options
        self.cache_dir = cache_dir
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
            known = self._load(digest)
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
        return self.cache_dir / _scan_namespace(self.options) / digest[:2] / f"{digest}.pickle"

    def _load(self, digest: str) -> tuple[IncludeScan, str] | None:
        where = self._path(digest)
        if where is None:
            return None
        try:
            with open(where, "rb") as handle:
                path, scan = _decode_scan(handle.read())
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError, IndexError):
            return None  # missing or damaged: scan again (and overwrite it)
        return scan, path

    def _save(self, digest: str, path: str, scan: IncludeScan) -> None:
        where = self._path(digest)
        if where is not None:
            write_atomic(where, _encode_scan(path, scan))

    def __len__(self) -> int:
        return len(set(self._scans) | set(self._include_scans))


def _moved(known: tuple[IncludeScan, str], path: str) -> IncludeScan:
    """A stored scan for a file with the same content elsewhere: its error names this path."""
    scan, scanned_as = known
    if scan.error is None or scanned_as == path:
        return scan
    return scan._replace(error=scan.error.replace(scanned_as, path, 1))


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
