"""Reading Makefiles as make does: comments dropped, backslash continuations joined."""

from __future__ import annotations

from collections.abc import Iterator


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(number of the first physical line, the logical line) for each line of ``text``."""
    logical = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0]
        if not logical:
            start = number
        if line.rstrip().endswith("\\"):
            logical += line.rstrip()[:-1] + " "
            continue
        yield start, logical + line
        logical = ""
