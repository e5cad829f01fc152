"""File names as reports show them: one line each, and text any UTF-8 writer accepts.

A header named ``a\\nFAIL b.h`` would forge a report line, and one whose name is not
UTF-8 (decoded by Python with surrogate escapes) would make writing a report fail.
Control characters and undecodable bytes are shown as backslash escapes instead.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\udc80-\udcff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"


def printable(name: str) -> str:
    """``name`` with line breaks, other control characters and undecodable bytes escaped."""
    return _UNSAFE.sub(_escape, name) if _UNSAFE.search(name) else name


def shell_quote(arg: str) -> str:
    """``arg`` quoted for a POSIX shell on one line: ``$'...'`` with escapes when it holds a line break or a byte
    that is not UTF-8 (bash, zsh and ksh read it back to the same bytes), else as ``shlex.quote`` does."""
    if not _UNSAFE.search(arg):
        return shlex.quote(arg)
    body = arg.replace("\\", "\\\\").replace("'", "\\'")
    return "$'" + _UNSAFE.sub(_escape, body) + "'"


def shell_join(args: Iterable[str]) -> str:
    return " ".join(shell_quote(a) for a in args)
