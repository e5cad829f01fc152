"""A symbol index: where every struct, typedef, function, variable and macro is defined,
and under which presence condition.

C definitions come from tree-sitter-c; macros and presence conditions come from the
directive scanner.  tree-sitter sees every ``#if`` branch at once (it does not
preprocess), which is exactly what is wanted here: the index answers "where could X be
defined, and when", e.g. ``struct kvm_page_track_notifier_node`` is complete only when
``defined(CONFIG_KVM_EXTERNAL_WRITE_TRACKING)``.

Kernel headers are full of attribute macros (``__packed``, ``__must_check``, ``__init``)
that a grammar cannot know; they are blanked out (same length, so offsets and lines
stay valid) before parsing, and whatever still fails to parse is skipped: ERROR nodes
are searched for the declarations inside them.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import pickle
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import tree_sitter

from ..atomic import write_atomic
from .formula import FALSE, Formula, from_json, to_json
from .options import OptionFilter
from .directives import FileScan, ScanError, scan_directives
from .scancache import read_text
from .uses import C_KEYWORDS, identifiers_in, new_parser

__all__ = [
    "Definition",
    "KINDS",
    "TAG_KINDS",
    "index_file",
    "index_symbols",
    "FileSymbols",
    "IndexStats",
    "blank_attributes",
    "blank_bare_macros",
    "scan_file",
    "SymbolIndex",
    "INDEX_VERSION",
]

#: Bump when what index_file() produces changes, so old caches are not used.
INDEX_VERSION = 3

KINDS = ("struct", "union", "enum", "typedef", "function", "function-decl", "variable", "enumerator", "macro")
TAG_KINDS = frozenset({"struct", "union", "enum"})


@dataclass(frozen=True, slots=True)
class Definition:
    """One definition or declaration of a name.

    ``complete``: for tags, a ``{...}`` body (versus a forward declaration ``struct X;``
    or a file-scope mention such as ``typedef struct X X_t;``); for functions, a body
    (versus a prototype, kind ``function-decl``); for variables, a definition (versus
    ``extern``); always True for typedefs, enumerators and macros.
    """

    name: str
    kind: str
    complete: bool
    file: str  # absolute
    line: int  # 1-based
    condition: Formula
    signature: str | None = None
    uses: frozenset[str] = frozenset()
    return_type: str | None = None
    end_line: int = 0
    #: Macros: the replacement text (``uses`` are the identifiers in it, parameters excluded).
    body: str | None = None

    def __reduce__(self) -> tuple[object, ...]:
        # Frozen slotted dataclasses do not unpickle on every Python we support.
        return (
            Definition,
            (
                self.name,
                self.kind,
                self.complete,
                self.file,
                self.line,
                self.condition,
                self.signature,
                self.uses,
                self.return_type,
                self.end_line,
                self.body,
            ),
        )

    @property
    def is_tag(self) -> bool:
        return self.kind in TAG_KINDS

    def location(self) -> str:
        return f"{self.file}:{self.line}"


# ---------------------------------------------------------------------------
# Attribute macros


# Object-like macros that expand to attributes, qualifiers or nothing (Linux, glibc).
_ATTRIBUTE_WORDS = frozenset(
    """
    __packed __always_inline __user __force __iomem asmlinkage __must_check __init __exit
    noinstr __rcu __percpu ____cacheline_aligned ____cacheline_aligned_in_smp
    __cacheline_aligned __cacheline_aligned_in_smp __randomize_layout __no_randomize_layout
    __bitwise __maybe_unused notrace __cold __hot __visible __read_mostly __noreturn
    __ro_after_init __pure __weak __used __always_unused __initdata __initconst __exitdata
    __ref __refdata __meminit __meminitdata __sched __malloc __attribute_const__ noinline
    __noinline __designated_init __nonstring __latent_entropy __naked __flatten __noclone
    __nocfi __gnu_inline __safe __nocast __kernel __private __cpuidle __irq_entry __kprobes
    __deprecated __noinline_for_stack noinline_for_stack __no_kcsan __no_sanitize_address
    __noscs __fix_address __init_or_module __net_init __net_exit __head __bpf_kfunc
    __THROW __THROWNL __wur __attribute_pure__ __attribute_malloc__ __attribute_deprecated__
    __attribute_warn_unused_result__ __attribute_used__ __attribute_noinline__
    __fortify_function __extern_inline __extern_always_inline __BEGIN_DECLS __END_DECLS
    __attribute_artificial__ __returns_nonnull __attribute_maybe_unused__
    """.split()
)
# Function-like ones: the parenthesised arguments go too.
_ATTRIBUTE_CALLS = frozenset(
    """
    __attribute__ __attribute __aligned __printf __scanf __section __counted_by __alloc_size
    __realloc_size __assume_aligned __must_hold __acquires __releases __cond_acquires
    __cond_releases __alias __copy __nonnull __attr_access __attr_access_none __attr_dealloc
    __attribute_format_arg__ __attribute_format_strfmon__ __deprecated_msg __asm__ __asm
    __declspec __attribute_alloc_size__ __attribute_alloc_align__ __diagnose_as
    """.split()
)


def _attribute_regex() -> re.Pattern[str]:
    # One alternation under a literal "__" prefix: far faster than matching every
    # dunder identifier and checking it in Python (kernel code has many).
    words = sorted(_ATTRIBUTE_WORDS | _ATTRIBUTE_CALLS, key=len, reverse=True)
    dunder = [re.escape(w[2:]) for w in words if w.startswith("__")]
    other = [re.escape(w) for w in words if not w.startswith("__")]
    return re.compile(r"\b(?:__(?:%s)|%s)\b" % ("|".join(dunder), "|".join(other)), re.A)


_ATTRIBUTE_RE = _attribute_regex()
_DIRECTIVE_NAME = re.compile(rb"[ \t]*#[ \t]*(?:define|undef|ifdef|ifndef)[ \t]+\Z")


def blank_attributes(data: bytes) -> bytes:
    """Replace attribute macros by spaces of the same length (newlines kept)."""
    buf: bytearray | None = None
    n = len(data)
    for m in _ATTRIBUTE_RE.finditer(data.decode("latin-1")):
        word = m.group()
        start, end = m.span()
        if _DIRECTIVE_NAME.match(data, data.rfind(b"\n", 0, start) + 1, start):
            continue  # the name in "#define __BEGIN_DECLS": blanking it would glue the next lines to the #define
        if word in _ATTRIBUTE_CALLS:
            i = end
            while i < n and data[i] in b" \t\n":
                i += 1
            if i < n and data[i] == 0x28:  # "(": blank to the matching ")"
                depth = 0
                while i < n:
                    c = data[i]
                    if c == 0x28:
                        depth += 1
                    elif c == 0x29:
                        depth -= 1
                        if depth == 0:
                            break
                    i += 1
                end = min(i + 1, n)
        if buf is None:
            buf = bytearray(data)
        segment = data[start:end]
        buf[start:end] = bytes(b if b == 0x0A else 0x20 for b in segment) if b"\n" in segment else b" " * (end - start)
    return bytes(buf) if buf is not None else data


# A line holding one identifier and nothing else (``G_BEGIN_DECLS``, ``GLIB_AVAILABLE_IN_ALL``).
_BARE_LINE = re.compile(r"^[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*(?://[^\n]*|/\*[^\n]*?\*/[ \t]*)?$", re.M)
_KEYWORD_WORDS = frozenset(
    "auto char const double enum extern float inline int long register restrict short signed static struct "
    "typedef union unsigned void volatile _Bool _Complex _Atomic _Noreturn _Thread_local".split()
)


def _ends_statement(text: str) -> bool:
    """Whether the code line before a bare identifier closes what came before it."""
    stripped = text.rstrip()
    if stripped.endswith("\\"):
        return False  # the identifier continues a #define
    return not stripped or stripped.endswith((";", "{", "}", "*/")) or stripped.lstrip().startswith("#")


def _starts_declaration(text: str) -> bool:
    """Whether the line after a bare identifier can begin a declaration of its own (not ``f(void)``, ``*p;``,
    nor the ``};`` after an enum's last enumerator)."""
    stripped = text.lstrip()
    if not stripped or stripped[0] in "(*[=,;})":
        return False
    return re.match(r"[A-Za-z_][A-Za-z0-9_]*\s*\(", stripped) is None


def _is_code(line: str) -> bool:
    """Neither blank, nor a directive, nor a comment-only line (the next line of code decides)."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(("#", "/*", "*", "//"))


def blank_bare_macros(data: bytes) -> bytes:
    """Blank lines that are a lone macro name between declarations (``G_BEGIN_DECLS``, an attribute macro
    on the line before a prototype): tree-sitter would glue them to the next declaration and lose it.

    A lone word before ``f(void)`` or ``*p;`` is a return type or a declaration split over lines, and stays.
    """
    text = data.decode("latin-1")
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    buf: bytearray | None = None
    for match in _BARE_LINE.finditer(text):
        if match.group(1) in _KEYWORD_WORDS:
            continue
        number = bisect.bisect_right(offsets, match.start()) - 1
        before = next((lines[i] for i in range(number - 1, -1, -1) if lines[i].strip()), "")
        after = next((lines[i] for i in range(number + 1, len(lines)) if _is_code(lines[i])), "")
        if not _ends_statement(before) or not _starts_declaration(after):
            continue
        if buf is None:
            buf = bytearray(data)
        start, end = match.span(1)
        buf[start:end] = b" " * (end - start)
    return bytes(buf) if buf is not None else data


# ---------------------------------------------------------------------------
# Indexing one file

_CONTAINERS = {
    "translation_unit",
    "preproc_if",
    "preproc_ifdef",
    "preproc_else",
    "preproc_elif",
    "preproc_elifdef",
    "ERROR",
    "declaration_list",
}
_TAG_SPECIFIERS = {"struct_specifier": "struct", "union_specifier": "union", "enum_specifier": "enum"}
_NAME_NODES = {"identifier", "type_identifier", "field_identifier", "primitive_type"}
_STORAGE_WORDS = frozenset(
    "static extern inline __inline __inline__ _Noreturn register auto __extension__ constexpr "
    "thread_local _Thread_local __thread".split()
)
_SPACES = re.compile(r"\s+")


def _unwrap(d: tree_sitter.Node | None) -> tuple[tree_sitter.Node | None, bool, int]:
    """``(name node, declares a function, pointer levels around the function declarator)``."""
    is_func = False
    stars = 0
    while d is not None:
        t = d.type
        if t in _NAME_NODES:
            return d, is_func, stars
        if t == "function_declarator":
            is_func = True
            d = d.child_by_field_name("declarator")
        elif t == "pointer_declarator":
            is_func = False
            stars += 1
            d = d.child_by_field_name("declarator")
        elif t in ("array_declarator", "init_declarator"):
            if t == "array_declarator":
                is_func = False
            d = d.child_by_field_name("declarator")
        elif t in ("parenthesized_declarator", "attributed_declarator"):
            d = d.named_child(0)
        else:
            return None, False, 0
    return None, False, 0


# A definition without its file, as stored in caches and in the index: the same content
# may live at several paths, and building Definition objects for 500,000 macros nobody
# asks about is most of a warm build's time otherwise.
#   (name, kind, complete, line, condition index, signature, uses, return_type, end_line,
#    macro body).  A macro's uses are computed from its body when it is looked up.
_Row = tuple[str, str, bool, int, int, str | None, tuple[str, ...], str | None, int, str | None]


@dataclass
class FileSymbols:
    """One file's definitions in stored form: conditions are shared through a table."""

    conditions: list[Formula]
    rows: list[_Row]

    def definition(self, path: str, i: int) -> Definition:
        r = self.rows[i]
        uses = frozenset(r[6]) if r[9] is None else _macro_uses(r[0], r[5], r[9])
        return Definition(r[0], r[1], r[2], path, r[3], self.conditions[r[4]], r[5], uses, r[7], r[8], r[9])

    def definitions(self, path: str) -> list[Definition]:
        return [self.definition(path, i) for i in range(len(self.rows))]


def _macro_uses(name: str, signature: str | None, body: str) -> frozenset[str]:
    if not body:
        return frozenset()
    found = identifiers_in(body)
    found.discard(name)
    if signature is not None and signature.endswith(")"):
        found.difference_update(p.strip() for p in signature.partition("(")[2][:-1].split(","))
    return frozenset(found)


class _Indexer:
    def __init__(self, data: bytes, blanked: bytes, scan: FileScan) -> None:
        self.data = data
        self.latin = data.decode("latin-1")  # same offsets as the bytes, for the tokenizer
        self.blanked = blanked
        self.scan = scan
        self.rows: list[_Row] = []
        self.conditions: list[Formula] = []
        self._cond_index: dict[Formula, int] = {}
        self._by_id: dict[int, int] = {}
        self._keep: list[Formula] = []

    def text(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", "surrogateescape")

    def cond(self, f: Formula) -> int:
        # By identity first: condition_at() hands out the same object for a whole
        # region, and hashing a formula walks all of it (dataclass hashes are not cached).
        i = self._by_id.get(id(f))
        if i is None:
            i = self._cond_index.get(f)
            if i is None:
                i = self._cond_index[f] = len(self.conditions)
                self.conditions.append(f)
            self._by_id[id(f)] = i
            self._keep.append(f)  # ids stay unique only while the objects live
        return i

    def add(
        self,
        name: str,
        kind: str,
        complete: bool,
        node: tree_sitter.Node,
        uses: tuple[str, ...] = (),
        signature: str | None = None,
        return_type: str | None = None,
    ) -> None:
        line = node.start_point.row + 1
        cond = self.scan.condition_at(line)
        if cond == FALSE:
            return  # in "#if 0": never compiled
        self.rows.append(
            (name, kind, complete, line, self.cond(cond), signature, uses, return_type, node.end_point.row + 1, None)
        )

    def uses_of(self, node: tree_sitter.Node, own: str | None) -> tuple[str, ...]:
        found = identifiers_in(self.latin, node.start_byte, node.end_byte)
        found.discard(own or "")
        return tuple(sorted(found))

    # -- walkers ------------------------------------------------------------

    def items(self, node: tree_sitter.Node) -> None:
        for child in node.children:
            t = child.type
            if t == "declaration":
                self.declaration(child)
            elif t == "function_definition":
                self.function(child)
            elif t == "type_definition":
                self.typedef(child)
            elif t in _TAG_SPECIFIERS:
                self.tag(child, mention=True)
            elif t in _CONTAINERS:
                self.items(child)
            elif t == "linkage_specification":  # extern "C" { ... } or extern "C" int f(void);
                self.items(child)

    def tag(self, spec: tree_sitter.Node, mention: bool) -> None:
        """A struct/union/enum specifier; ``mention``: record it even without a body."""
        kind = _TAG_SPECIFIERS[spec.type]
        name_node = spec.child_by_field_name("name")
        body = spec.child_by_field_name("body")
        name = name_node.text.decode("ascii", "replace") if name_node is not None and name_node.text else None
        if body is None:
            if name and mention:
                self.add(name, kind, False, spec)
            return
        if name:
            self.add(name, kind, True, spec, self.uses_of(body, name))
        if kind == "enum":
            self.enumerators(body)
        else:
            self.fields(body)

    def fields(self, body: tree_sitter.Node) -> None:
        # C puts tags defined inside a struct into the enclosing (file) scope.
        for child in body.children:
            t = child.type
            if t == "field_declaration":
                spec = child.child_by_field_name("type")
                if spec is not None and spec.type in _TAG_SPECIFIERS:
                    self.tag(spec, mention=False)
            elif t in _CONTAINERS:
                self.fields(child)

    def enumerators(self, body: tree_sitter.Node) -> None:
        for child in body.children:
            if child.type == "enumerator":
                name = child.child_by_field_name("name")
                if name is not None and name.text:
                    ident = name.text.decode("ascii", "replace")
                    value = child.child_by_field_name("value")
                    uses = self.uses_of(value, ident) if value is not None else ()
                    self.add(ident, "enumerator", True, child, uses)
            elif child.type in _CONTAINERS:
                self.enumerators(child)

    def _type_part(self, node: tree_sitter.Node, declarator: tree_sitter.Node, stars: int) -> str | None:
        """Return type text: specifiers before the declarator, storage and attributes dropped."""
        text = self.blanked[node.start_byte : declarator.start_byte].decode("utf-8", "surrogateescape")
        words = [w for w in _SPACES.split(text.replace("*", " * ")) if w and w not in _STORAGE_WORDS]
        rtype = " ".join(words)
        if stars:
            rtype += " " + "*" * stars
        return rtype.replace("* *", "**") or None

    def function(self, node: tree_sitter.Node) -> None:
        spec = node.child_by_field_name("type")
        if spec is not None and spec.type in _TAG_SPECIFIERS:
            self.tag(spec, mention=False)
        declarator = node.child_by_field_name("declarator")
        body = node.child_by_field_name("body")
        name_node, is_func, stars = _unwrap(declarator)
        if name_node is None or declarator is None or body is None or not is_func or not name_node.text:
            return
        name = name_node.text.decode("ascii", "replace")
        signature = _SPACES.sub(" ", self.text(node.start_byte, body.start_byte)).strip()
        self.add(
            name,
            "function",
            True,
            node,
            self.uses_of(node, name),
            signature,
            self._type_part(node, declarator, stars),
        )

    def declaration(self, node: tree_sitter.Node) -> None:
        spec = node.child_by_field_name("type")
        has_body = False
        if spec is not None and spec.type in _TAG_SPECIFIERS:
            has_body = spec.child_by_field_name("body") is not None
            self.tag(spec, mention=True)
        extern = any(c.type == "storage_class_specifier" and c.text == b"extern" for c in node.children)
        uses: tuple[str, ...] | None = None
        for d in node.children_by_field_name("declarator"):
            name_node, is_func, stars = _unwrap(d)
            if name_node is None or not name_node.text:
                continue
            name = name_node.text.decode("ascii", "replace")
            if (has_body and name.startswith("__")) or name in C_KEYWORDS:
                continue  # "struct x {...} __some_attribute;" misread as a declarator
            if uses is None:
                uses = self.uses_of(node, None)
            own = tuple(u for u in uses if u != name)
            if is_func:
                signature = _SPACES.sub(" ", self.text(node.start_byte, d.end_byte)).strip()
                self.add(name, "function-decl", False, node, own, signature, self._type_part(node, d, stars))
            else:
                self.add(name, "variable", not extern, node, own)

    def typedef(self, node: tree_sitter.Node) -> None:
        spec = node.child_by_field_name("type")
        has_body = False
        if spec is not None and spec.type in _TAG_SPECIFIERS:
            has_body = spec.child_by_field_name("body") is not None
            self.tag(spec, mention=True)
        signature = None if has_body else _SPACES.sub(" ", self.text(node.start_byte, node.end_byte)).strip()
        uses: tuple[str, ...] | None = None
        for d in node.children_by_field_name("declarator"):
            name_node, _, _ = _unwrap(d)
            if name_node is None or not name_node.text:
                continue
            name = name_node.text.decode("ascii", "replace")
            if uses is None:
                uses = self.uses_of(node, None)
            self.add(name, "typedef", True, node, tuple(u for u in uses if u != name), signature)

    def macros(self) -> None:
        for m in self.scan.defines:
            if m.condition == FALSE:
                continue
            if m.is_function_like:
                signature = f"#define {m.name}({', '.join(m.params)})"
            else:
                signature = f"#define {m.name}"
            self.rows.append(
                (m.name, "macro", True, m.line, self.cond(m.condition), signature, (), None, m.end_line, m.body)
            )


def scan_file(path: str, data: bytes, options: OptionFilter | None = None) -> FileScan:
    """Directive scan that never fails: unbalanced files are scanned leniently."""
    text = read_text(data)
    try:
        return scan_directives(text, path, options)
    except ScanError:
        return scan_directives(text, path, options, strict=False)


def index_symbols(
    path: str, data: bytes, options: OptionFilter | None = None, scan: FileScan | None = None
) -> FileSymbols:
    """``index_file`` in stored form (what the index and its cache keep)."""
    if scan is None:
        scan = scan_file(path, data, options)
    indexer = _Indexer(data, b"", scan)
    indexer.macros()
    if scan.has_code:
        blanked = blank_bare_macros(blank_attributes(data))
        indexer.blanked = blanked
        tree = new_parser().parse(blanked)
        indexer.items(tree.root_node)
    return FileSymbols(indexer.conditions, indexer.rows)


def index_file(
    path: str, text: bytes, options: OptionFilter | None = None, scan: FileScan | None = None
) -> list[Definition]:
    """Definitions in one file (macros first, then C in source order), ``#if 0`` code left out.

    ``path`` is recorded absolute; ``scan`` may be passed when the caller already has
    the file's directive scan.
    """
    path = os.path.abspath(path)
    return index_symbols(path, text, options, scan).definitions(path)


# ---------------------------------------------------------------------------
# The index


def _cache_namespace(options: OptionFilter | None) -> str:
    try:
        ts_version = metadata.version("tree-sitter-c")
    except metadata.PackageNotFoundError:
        ts_version = "unknown"
    opts = options or OptionFilter()
    digest = hashlib.sha256(repr((sorted(opts.patterns), sorted(opts.names))).encode()).hexdigest()[:12]
    return f"symbols-v{INDEX_VERSION}-tsc{ts_version}-{digest}"


def _encode(fs: FileSymbols) -> bytes:
    # Formulas go in as JSON-like lists: unpickling plain lists and tuples is several
    # times faster than rebuilding dataclass instances, and most files share few.
    return pickle.dumps(([to_json(c) for c in fs.conditions], fs.rows), protocol=pickle.HIGHEST_PROTOCOL)


def _decode(blob: bytes) -> FileSymbols:
    conds, rows = pickle.loads(blob)
    return FileSymbols([from_json(c) for c in conds], rows)


def _index_worker(args: tuple[str, OptionFilter | None]) -> tuple[str, str, bytes | None, str | None]:
    """For a process pool: ``(path, sha256, encoded symbols, error)``."""
    path, options = args
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return path, "", None, exc.strerror or str(exc)
    digest = hashlib.sha256(data).hexdigest()
    return path, digest, _encode(index_symbols(path, data, options)), None


@dataclass
class IndexStats:
    files: int = 0
    bytes: int = 0
    parsed: int = 0  # files indexed from source
    cached: int = 0  # files whose definitions came from the cache (disk or memory)
    unreadable: int = 0


@dataclass
class _Entry:
    digest: str
    symbols: FileSymbols
    built: dict[int, Definition]


class SymbolIndex:
    """Definitions of many files, looked up by name.  Picklable.

    Definitions are kept in stored form and built on lookup, so a warm build costs
    little more than hashing the files.
    """

    def __init__(self, options: OptionFilter | None = None, cache_dir: Path | None = None) -> None:
        self.options = options
        self.cache_dir = cache_dir
        self._namespace = _cache_namespace(options)
        self._by_name: dict[str, list[tuple[str, int]]] = {}
        self._by_file: dict[str, _Entry] = {}
        self._memo: dict[str, FileSymbols] = {}  # sha256 -> symbols, this process only
        self._fresh: set[str] = set()  # digests parsed by a worker pool, not yet counted
        self.errors: dict[str, str] = {}
        self.stats = IndexStats()

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_memo"] = {}  # a per-process speed-up, not worth shipping
        state["_fresh"] = set()
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)

    # -- cache ----------------------------------------------------------------

    def _cache_path(self, digest: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / self._namespace / digest[:2] / f"{digest}.pickle"

    def _load(self, digest: str) -> FileSymbols | None:
        fs = self._memo.get(digest)
        if fs is not None:
            return fs
        p = self._cache_path(digest)
        if p is None:
            return None
        try:
            with open(p, "rb") as f:
                fs = _decode(f.read())
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError, IndexError):
            return None  # missing or damaged: recompute
        self._memo[digest] = fs
        return fs

    def _store(self, digest: str, fs: FileSymbols, blob: bytes | None = None) -> None:
        self._memo[digest] = fs
        p = self._cache_path(digest)
        if p is not None and not p.exists():
            write_atomic(p, blob if blob is not None else _encode(fs))

    # -- building -------------------------------------------------------------

    def _install(self, key: str, digest: str, fs: FileSymbols, size: int) -> None:
        if key in self._by_file:
            self.remove_file(key)
        self.stats.files += 1
        self.stats.bytes += size
        self._by_file[key] = _Entry(digest, fs, {})
        by_name = self._by_name
        for i, row in enumerate(fs.rows):
            entry = by_name.get(row[0])
            if entry is None:
                by_name[row[0]] = [(key, i)]
            else:
                entry.append((key, i))

    def add_text(self, path: str | Path, data: bytes) -> list[Definition]:
        """Index ``data`` as the content of ``path`` (replacing what was known about it)."""
        key = os.path.abspath(path)
        digest = hashlib.sha256(data).hexdigest()
        old = self._by_file.get(key)
        if old is not None and old.digest == digest:
            return self.definitions_in(key)
        fs = self._load(digest)
        if fs is None:
            fs = index_symbols(key, data, self.options)
            self._store(digest, fs)
            self.stats.parsed += 1
        else:
            self.stats.cached += 1
        self._install(key, digest, fs, len(data))
        return self.definitions_in(key)

    def _add_quiet(self, path: str | Path) -> None:
        key = os.path.abspath(path)
        with open(key, "rb") as f:
            data = f.read()
        digest = hashlib.sha256(data).hexdigest()
        old = self._by_file.get(key)
        if old is not None and old.digest == digest:
            return
        fs = self._load(digest)
        if fs is None:
            fs = index_symbols(key, data, self.options)
            self._store(digest, fs)
            self.stats.parsed += 1
        elif digest in self._fresh:
            self._fresh.discard(digest)
            self.stats.parsed += 1
        else:
            self.stats.cached += 1
        self._install(key, digest, fs, len(data))

    def add_file(self, path: str | Path) -> list[Definition]:
        """Read and index one file; raises OSError if it cannot be read."""
        self._add_quiet(path)
        return self.definitions_in(path)

    def add_files(self, paths: Iterable[str | Path], jobs: int = 1) -> int:
        """Index many files, skipping unreadable ones (recorded in ``errors``); returns how many.

        ``jobs`` > 1 parses the files missing from the cache in that many processes.
        """
        absolute = [os.path.abspath(p) for p in paths]
        if jobs > 1:
            self._prefill(absolute, jobs)
        count = 0
        for p in absolute:
            try:
                self._add_quiet(p)
                count += 1
            except OSError as exc:
                self.errors[p] = exc.strerror or str(exc)
                self.stats.unreadable += 1
        return count

    def _prefill(self, paths: list[str], jobs: int) -> None:
        """Parse the files missing from the cache in a process pool, filling the memo."""
        todo: list[str] = []
        for p in paths:
            try:
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            except OSError:
                continue  # reported by the serial pass
            if self._load(digest) is None:
                todo.append(p)
        if len(todo) < 2 * jobs:
            return
        from concurrent.futures import ProcessPoolExecutor

        chunk = max(1, len(todo) // (jobs * 8))
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for _path, digest, blob, _error in pool.map(
                _index_worker, [(p, self.options) for p in todo], chunksize=chunk
            ):
                if blob is not None and digest not in self._memo:
                    self._store(digest, _decode(blob), blob)
                    self._fresh.add(digest)

    def remove_file(self, path: str | Path) -> None:
        key = os.path.abspath(path)
        old = self._by_file.pop(key, None)
        if old is None:
            return
        for name in {row[0] for row in old.symbols.rows}:
            kept = [ref for ref in self._by_name.get(name, ()) if ref[0] != key]
            if kept:
                self._by_name[name] = kept
            else:
                self._by_name.pop(name, None)

    @classmethod
    def build(
        cls,
        paths: Iterable[str | Path],
        cache_dir: Path | None = None,
        options: OptionFilter | None = None,
        jobs: int = 1,
    ) -> SymbolIndex:
        """Index ``paths``; with ``cache_dir`` each file's definitions are kept by content hash."""
        index = cls(options, cache_dir)
        index.add_files(paths, jobs)
        return index

    # -- queries ----------------------------------------------------------------

    def _definition(self, path: str, i: int) -> Definition:
        entry = self._by_file[path]
        d = entry.built.get(i)
        if d is None:
            d = entry.built[i] = entry.symbols.definition(path, i)
        return d

    def lookup(self, name: str, kinds: Iterable[str] | str | None = None) -> list[Definition]:
        """Every definition or declaration of ``name`` (optionally of the given kinds)."""
        refs = self._by_name.get(name, ())
        if kinds is None:
            return [self._definition(p, i) for p, i in refs]
        wanted = {kinds} if isinstance(kinds, str) else set(kinds)
        return [self._definition(p, i) for p, i in refs if self._by_file[p].symbols.rows[i][1] in wanted]

    def complete_definitions(self, name: str, kinds: Iterable[str] | str | None = None) -> list[Definition]:
        return [d for d in self.lookup(name, kinds) if d.complete]

    def files(self) -> list[str]:
        return list(self._by_file)

    def digest(self, path: str | Path) -> str | None:
        entry = self._by_file.get(os.path.abspath(path))
        return entry.digest if entry is not None else None

    def definitions_in(self, path: str | Path) -> list[Definition]:
        key = os.path.abspath(path)
        entry = self._by_file.get(key)
        if entry is None:
            return []
        return [self._definition(key, i) for i in range(len(entry.symbols.rows))]

    def names(self) -> list[str]:
        return list(self._by_name)

    def __len__(self) -> int:
        return sum(len(e.symbols.rows) for e in self._by_file.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name
