"""Blanking attribute macros and lone macro lines so that tree-sitter can parse a header.

Kernel and library headers are full of attribute macros (``__packed``, ``__must_check``,
``__init``, ``G_BEGIN_DECLS``) that a grammar cannot know, since it does not
preprocess.  They are replaced by spaces of the same length, so offsets and line
numbers in the parse tree still match the file.
"""

from __future__ import annotations

import bisect
import re

from .uses import call_arguments

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
    text = data.decode("latin-1")  # same offsets as the bytes
    for m in _ATTRIBUTE_RE.finditer(text):
        word = m.group()
        start, end = m.span()
        if _DIRECTIVE_NAME.match(data, data.rfind(b"\n", 0, start) + 1, start):
            continue  # the name in "#define __BEGIN_DECLS": blanking it would glue the next lines to the #define
        if word in _ATTRIBUTE_CALLS:
            i = end
            while i < n and data[i] in b" \t\n":
                i += 1
            if i < n and data[i] == 0x28:  # "(": blank to the matching ")"
                found = call_arguments(text, i, "(")
                end = found[1] if found is not None else n
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
