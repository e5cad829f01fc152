"""What a header refers to: identifiers, and which of them are struct/union/enum tags.

Identifiers come from a tokenizer (comments, strings, character literals and header
names skipped; keywords dropped) because it also sees macro bodies and ``#if``
expressions, which a C parse does not.  Tags need syntax (``struct X`` with attributes
in between, or a definition versus a mention), so they come from tree-sitter.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass

import tree_sitter
import tree_sitter_c

#: C keywords (C89..C23, GNU spellings) and preprocessor words that are never names.
C_KEYWORDS = frozenset(
    """
    auto break case char const continue default do double else enum extern float for goto
    if inline int long register restrict return short signed sizeof static struct switch
    typedef union unsigned void volatile while _Alignas _Alignof _Atomic _Bool _Complex
    _Generic _Imaginary _Noreturn _Static_assert _Thread_local _BitInt _Decimal32
    _Decimal64 _Decimal128 alignas alignof constexpr nullptr static_assert thread_local
    typeof typeof_unqual __typeof __typeof__ __typeof_unqual__ __attribute __attribute__
    __asm __asm__ asm __inline __inline__ __restrict __restrict__ __volatile __volatile__
    __const __const__ __signed __signed__ __extension__ __label__ __alignof __alignof__
    __auto_type __builtin_va_list __int128 __thread _Float16 _Float32 _Float64 _Float128
    __real__ __imag__ defined __VA_ARGS__ __VA_OPT__ __has_include __has_include_next
    """.split()
)

#: An asm operand's symbolic name (``[ptr] "+m" (*p)``): a label local to the asm statement, no use of a
#: file-scope ``ptr`` (its ``%[ptr]`` in the template is inside the string).  A subscript or a designator
#: is never followed by a string literal.
ASM_OPERAND_NAME = re.compile(r"""\[[ \t]*[A-Za-z_]\w*[ \t]*\](?=(?:\s|\\\n)*")""")

#: A string or character literal: it holds no code.
LITERAL = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"|\'[^\'\\\n]*(?:\\.[^\'\\\n]*)*\'')

# Tokenizer: group 1 is an identifier; everything else is matched only to be skipped.
# "#include <a/b.h>" and "#word" (directive keywords, stringification) are skipped too.
# It runs on str; bytes are decoded as latin-1 so that offsets stay byte offsets.
_TOKENS = re.compile(
    r"""/\*[^*]*\*+(?:[^/*][^*]*\*+)*/|/\*.*|//[^\n\\]*(?:\\.[^\n\\]*)*"""
    r"""|""" + LITERAL.pattern
    + r"""|\#[ \t]*(?:include_next|include|import)[ \t]*(?:<[^>\n]*>|"[^"\n]*")"""
    r"""|\#[ \t]*[A-Za-z_][A-Za-z0-9_]*|""" + ASM_OPERAND_NAME.pattern + r"""|\b([A-Za-z_][A-Za-z0-9_]*)""",
    re.S | re.A,
)


def identifiers_in(text: str, start: int = 0, end: int | None = None) -> set[str]:
    """Identifiers of ``text[start:end]`` outside comments, strings and header names, keywords dropped."""
    found = set(_TOKENS.findall(text, start, len(text) if end is None else end))
    found.discard("")
    found -= C_KEYWORDS
    return found


def used_identifiers(text: bytes) -> set[str]:
    """The identifiers a header references (types, functions, macros, config options)."""
    return identifiers_in(text.decode("latin-1"))


_LOCAL = threading.local()


@functools.cache
def c_language() -> tree_sitter.Language:
    return tree_sitter.Language(tree_sitter_c.language())


def new_parser() -> tree_sitter.Parser:
    """A tree-sitter C parser for the calling thread (parsers are not thread-safe)."""
    parser: tree_sitter.Parser | None = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = tree_sitter.Parser(c_language())
        _LOCAL.parser = parser
    return parser


@dataclass(frozen=True)
class TagUse:
    kind: str  # "struct", "union", "enum"
    name: str
    line: int  # 1-based
    #: This mention is a definition with a body (``struct X { ... }``).
    defines: bool
    #: The type is used by value (a field, variable or parameter of type ``struct X``
    #: rather than a pointer to it), which needs the complete type.
    by_value: bool


_TAG_QUERY_TEXT = """
(struct_specifier name: (type_identifier) @struct)
(union_specifier name: (type_identifier) @union)
(enum_specifier name: (type_identifier) @enum)
"""


@functools.cache
def _tag_query() -> tree_sitter.Query:
    query: tree_sitter.Query = tree_sitter.Query(c_language(), _TAG_QUERY_TEXT)
    return query


_VALUE_HOLDERS = {"field_declaration", "declaration", "parameter_declaration"}


def _by_value(spec: tree_sitter.Node) -> bool:
    holder = spec.parent
    if holder is None or holder.type not in _VALUE_HOLDERS:
        return False
    for d in holder.children_by_field_name("declarator"):
        while d.type in ("init_declarator", "attributed_declarator", "array_declarator"):
            inner = d.child_by_field_name("declarator") or d.named_child(0)
            if inner is None:
                break
            d = inner
        if d.type in ("identifier", "field_identifier"):
            return True
    return False


#: A ``#define`` to its end: continuations, and a comment that starts in it and ends lines later.
_DEFINE = re.compile(rb"^[ \t]*#[ \t]*define\b(?:[^\n\\/]|\\.|/\*.*?\*/|/(?!\*))*", re.M | re.S)
_NOT_NEWLINE = re.compile(rb"[^\n]")


def blank_defines(data: bytes) -> bytes:
    """``data`` with every ``#define`` replaced by spaces (newlines kept, so lines and offsets stay).

    The directive scan reads macros; tree-sitter only needs the C.  And tree-sitter-c takes the line after a
    ``#define NAME`` that ends in blanks as the macro's body: ``#define __kcsan_cleanup_scoped __maybe_unused``,
    its attribute blanked, turned the next line's prototype into a declaration of its parameters.
    """
    return _DEFINE.sub(lambda m: _NOT_NEWLINE.sub(b" ", m.group()), data)


def tag_use_sites(text: bytes) -> list[TagUse]:
    """Every ``struct X``/``union X``/``enum X`` in the text, in order, with how it is used (macro bodies,
    which tree-sitter does not parse, left out)."""
    tree = new_parser().parse(blank_defines(text))
    captures = tree_sitter.QueryCursor(_tag_query()).captures(tree.root_node)
    out = []
    for kind, nodes in captures.items():
        for node in nodes:
            spec = node.parent
            if spec is None or node.text is None:
                continue
            out.append(
                TagUse(
                    kind,
                    node.text.decode("utf-8", "surrogateescape"),
                    node.start_point.row + 1,
                    spec.child_by_field_name("body") is not None,
                    _by_value(spec),
                )
            )
    out.sort(key=lambda t: (t.line, t.name))
    return out


#: A line that starts with ``NAME(``: where a file-scope macro invocation (``FOLIO_FLAG_FALSE(swapcache)``) sits.
_CALL_START = re.compile(r"^[ \t]*([A-Za-z_]\w*)[ \t]*\(", re.M)
#: A directive to its end (continuations included): it holds no code.
_DIRECTIVE_TEXT = re.compile(r"^[ \t]*#(?:[^\n\\]|\\.)*", re.M | re.S)


@dataclass(frozen=True)
class FileScopeCall:
    """``NAME(args)`` at file scope, first on its line: a macro that expands to declarations, or nothing."""

    name: str
    args: tuple[str, ...]
    line: int  # 1-based


_NOT_NEWLINE_TEXT = re.compile(r"[^\n]")


def _blank(m: re.Match[str]) -> str:
    text = m.group()
    return _NOT_NEWLINE_TEXT.sub(" ", text) if "\n" in text else " " * len(text)


def call_arguments(text: str, start: int, nesting: str = "([{") -> tuple[list[str], int] | None:
    """The top-level comma-separated arguments (blanks collapsed) of the parenthesis opening at ``start``, and
    the offset past its close; None when it does not close.  ``nesting``: the brackets whose commas do not
    separate (the preprocessor's own rule is ``(`` only; a reader of file-scope code also keeps ``[]``/``{}``)."""
    args: list[str] = []
    depth = 0
    mark = start + 1
    closers = nesting.translate(str.maketrans("([{", ")]}"))
    for i in range(start, len(text)):
        ch = text[i]
        if ch in nesting:
            depth += 1
        elif ch in closers:
            depth -= 1
            if depth == 0:
                args.append(" ".join(text[mark:i].split()))
                return args, i + 1
        elif ch == "," and depth == 1:
            args.append(" ".join(text[mark:i].split()))
            mark = i + 1
    return None


def file_scope_calls(code: str) -> list[FileScopeCall]:
    """Invocations ``NAME(...)`` at file scope (no brace or parenthesis open), first on their line, after a
    ``;``, ``}``, ``)`` or nothing: after a type they are a function's declarator, not a call.  ``code`` is the
    file's text without comments; directives and literals are blanked here (offsets and lines kept)."""
    text = LITERAL.sub(_blank, _DIRECTIVE_TEXT.sub(_blank, code))
    out: list[FileScopeCall] = []
    depth = 0  # braces and parentheses open at ``done``
    done = 0
    line = 1  # at ``done``
    for m in _CALL_START.finditer(text):
        if m.start() < done:
            continue  # inside the previous call's arguments
        between = text[done:m.start()]
        depth += between.count("{") + between.count("(") - between.count("}") - between.count(")")
        line += between.count("\n")
        done = m.start()
        name = m.group(1)
        if depth != 0 or name in C_KEYWORDS or _last_char(text, m.start()) not in ";})":
            continue
        found = call_arguments(text, m.end() - 1)
        if found is None:
            continue
        args, end = found
        out.append(FileScopeCall(name, () if args == [""] else tuple(args), line))
        line += text.count("\n", done, end)
        done = end
    return out


def _last_char(text: str, end: int) -> str:
    """The last character before ``end`` that is no blank (``;`` at the start of the text)."""
    i = end - 1
    while i >= 0 and text[i].isspace():
        i -= 1
    return text[i] if i >= 0 else ";"
