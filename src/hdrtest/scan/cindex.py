"""Definitions in one file: every struct, typedef, function, variable and macro, and when.

C definitions come from tree-sitter-c; macros and presence conditions come from the
directive scanner.  tree-sitter sees every ``#if`` branch at once (it does not
preprocess), which is exactly what is wanted here: the index answers "where could X be
defined, and when", e.g. ``struct kvm_page_track_notifier_node`` is complete only when
``defined(CONFIG_KVM_EXTERNAL_WRITE_TRACKING)``.

Attribute macros are blanked first (``attributes``); whatever still fails to parse is
skipped: ERROR nodes are searched for the declarations inside them.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from importlib import metadata

import tree_sitter

from .attributes import blank_attributes, blank_bare_macros
from .directives import FileScan, scan_lenient, strip_comments
from .formula import FALSE, Formula
from .options import OptionFilter
from .scancache import read_text
from .uses import C_KEYWORDS, blank_defines, file_scope_calls, identifiers_in, new_parser

#: Bump when what index_file() produces changes, so old caches are not used.
INDEX_VERSION = 6


@functools.cache
def index_version() -> tuple[str, str]:
    """What an index of a file depends on besides the file: ``INDEX_VERSION`` and the tree-sitter-c grammar's."""
    try:
        return str(INDEX_VERSION), metadata.version("tree-sitter-c")
    except metadata.PackageNotFoundError:
        return str(INDEX_VERSION), "unknown"

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
    kind: str  # struct union enum typedef function function-decl variable enumerator macro
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
        return Definition, tuple(getattr(self, f.name) for f in fields(self))


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
#: A file-scope invocation ``NAME(args)``: (name, args, line, condition index).
_Call = tuple[str, tuple[str, ...], int, int]


@dataclass
class FileSymbols:
    """One file's definitions in stored form: conditions are shared through a table."""

    conditions: list[Formula]
    rows: list[_Row]
    #: File-scope macro invocations, which may paste the names of what they define (``scan.uses.file_scope_calls``).
    calls: list[_Call] = field(default_factory=list)

    def definition(self, path: str, i: int) -> Definition:
        r = self.rows[i]
        uses = frozenset(r[6]) if r[9] is None else _macro_uses(r[0], r[5], r[9])
        return Definition(r[0], r[1], r[2], path, r[3], self.conditions[r[4]], r[5], uses, r[7], r[8], r[9])

    def definitions(self, path: str) -> list[Definition]:
        return [self.definition(path, i) for i in range(len(self.rows))]


_MACRO_SIGNATURE = re.compile(r"#define\s+\w+\(([^)]*)\)")


def macro_parameters(signature: str | None) -> list[str] | None:
    """The parameters of a function-like macro's signature (``#define NAME(a, b)``), None for any other."""
    m = _MACRO_SIGNATURE.match(signature or "")
    return None if m is None else [p.strip() for p in m.group(1).split(",") if p.strip()]


def _macro_uses(name: str, signature: str | None, body: str) -> frozenset[str]:
    if not body:
        return frozenset()
    found = identifiers_in(body)
    found.discard(name)
    found.difference_update(macro_parameters(signature) or ())
    return frozenset(found)


class _Indexer:
    def __init__(self, data: bytes, blanked: bytes, scan: FileScan) -> None:
        self.data = data
        self.latin = data.decode("latin-1")  # same offsets as the bytes, for the tokenizer
        self.blanked = blanked
        self.scan = scan
        self.rows: list[_Row] = []
        self.found_calls: list[_Call] = []
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

    def _type_tag(self, node: tree_sitter.Node, mention: bool) -> bool:
        """Index the struct, union or enum that ``node``'s type specifies (``mention``: even without a body);
        whether it has a body."""
        spec = node.child_by_field_name("type")
        if spec is None or spec.type not in _TAG_SPECIFIERS:
            return False
        self.tag(spec, mention)
        return spec.child_by_field_name("body") is not None

    def _declarators(self, node: tree_sitter.Node
                     ) -> Iterator[tuple[tree_sitter.Node, str, bool, int, tuple[str, ...]]]:
        """``node``'s named declarators: (declarator, name, declares a function, pointer levels, what the declaration
        uses besides the name)."""
        uses: tuple[str, ...] | None = None
        for d in node.children_by_field_name("declarator"):
            name_node, is_func, stars = _unwrap(d)
            if name_node is None or not name_node.text:
                continue
            name = name_node.text.decode("ascii", "replace")
            if uses is None:
                uses = self.uses_of(node, None)
            yield d, name, is_func, stars, tuple(u for u in uses if u != name)

    def function(self, node: tree_sitter.Node) -> None:
        self._type_tag(node, mention=False)
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
        has_body = self._type_tag(node, mention=True)
        extern = any(c.type == "storage_class_specifier" and c.text == b"extern" for c in node.children)
        for d, name, is_func, stars, own in self._declarators(node):
            if (has_body and name.startswith("__")) or name in C_KEYWORDS:
                continue  # "struct x {...} __some_attribute;" misread as a declarator
            if is_func:
                signature = _SPACES.sub(" ", self.text(node.start_byte, d.end_byte)).strip()
                self.add(name, "function-decl", False, node, own, signature, self._type_part(node, d, stars))
            else:
                self.add(name, "variable", not extern, node, own)

    def typedef(self, node: tree_sitter.Node) -> None:
        has_body = self._type_tag(node, mention=True)
        signature = None if has_body else _SPACES.sub(" ", self.text(node.start_byte, node.end_byte)).strip()
        for _, name, _, _, own in self._declarators(node):
            self.add(name, "typedef", True, node, own, signature)

    def calls(self) -> None:
        for call in file_scope_calls(strip_comments(self.data.decode("utf-8", "surrogateescape"))):
            condition = self.scan.condition_at(call.line)
            if condition != FALSE:
                self.found_calls.append((call.name, call.args, call.line, self.cond(condition)))

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
    return scan_lenient(read_text(data), path, options)[0]


def index_symbols(
    path: str, data: bytes, options: OptionFilter | None = None, scan: FileScan | None = None
) -> FileSymbols:
    """``index_file`` in stored form (what the index and its cache keep)."""
    if scan is None:
        scan = scan_file(path, data, options)
    indexer = _Indexer(data, b"", scan)
    indexer.macros()
    if scan.has_code:
        blanked = blank_defines(blank_bare_macros(blank_attributes(data)))
        indexer.blanked = blanked
        tree = new_parser().parse(blanked)
        indexer.items(tree.root_node)
        indexer.calls()
    return FileSymbols(indexer.conditions, indexer.rows, indexer.found_calls)


def index_file(path: str, text: bytes) -> list[Definition]:
    """Definitions in one file (macros first, then C in source order), ``#if 0`` code left out; ``path`` is recorded
    absolute."""
    path = os.path.abspath(path)
    return index_symbols(path, text).definitions(path)
