"""Suggested edits as records, merged per place and rendered as one unified diff.

Explanations propose edits (a stub in the ``#else`` of a guard, an ``#include`` line,
an include guard); edits that touch the same place are merged (two stubs for one
``#ifdef`` get one ``#else``), and only files inside the checked tree are edited.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Edit:
    """Lines to insert into ``file`` before its 1-based ``line`` (``len + 1`` appends)."""

    file: Path  # absolute
    line: int
    lines: tuple[str, ...]
    #: Edits with the same file, line and group are merged: ``prefix`` once, then their lines.
    group: str = ""
    prefix: tuple[str, ...] = ()


@dataclass
class FileChange:
    path: Path
    old: str
    new: str


def merge(edits: Iterable[Edit]) -> dict[Path, list[tuple[int, list[str]]]]:
    """Per file, the insertions in line order, with merged groups and duplicates dropped."""
    grouped: dict[tuple[Path, int, str], tuple[list[str], list[str]]] = {}
    for edit in edits:
        key = (edit.file, edit.line, edit.group)
        prefix, lines = grouped.setdefault(key, (list(edit.prefix), []))
        for line in edit.lines:
            if line not in lines:
                lines.append(line)
    out: dict[Path, list[tuple[int, list[str]]]] = {}
    for (path, at, _), (prefix, lines) in grouped.items():
        out.setdefault(path, []).append((at, prefix + lines))
    for inserts in out.values():
        inserts.sort(key=lambda item: item[0])
    return out


def changes(edits: Iterable[Edit]) -> list[FileChange]:
    """The new text of every file the edits touch."""
    result: list[FileChange] = []
    for path, inserts in sorted(merge(edits).items()):
        old = path.read_text(encoding="utf-8", errors="surrogateescape")
        lines = old.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        for line, new_lines in reversed(inserts):
            index = min(max(line - 1, 0), len(lines))
            lines[index:index] = [text + "\n" for text in new_lines]
        result.append(FileChange(path, old, "".join(lines)))
    return result


def shown_path(path: Path, root: Path) -> str:
    return (path.relative_to(root) if path.is_relative_to(root) else path).as_posix()


def render_diff(edits: Iterable[Edit], root: Path) -> str:
    """One unified diff (``a/``/``b/`` paths relative to the root, like git) for all edits."""
    parts: list[str] = []
    for change in changes(edits):
        name = shown_path(change.path, root)
        parts.extend(difflib.unified_diff(change.old.splitlines(), change.new.splitlines(), f"a/{name}", f"b/{name}",
                                          lineterm=""))
    return "\n".join(parts) + ("\n" if parts else "")


def inside(path: Path, root: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def real_target(path: Path, root: Path) -> Path:
    """The file an edit of ``path`` must change: an in-tree symbolic link is followed, never replaced.

    Spelled under ``root`` when it lies there, so reports show the path the user knows.
    """
    real = Path(os.path.realpath(path))
    top = os.path.realpath(root)
    return root / real.relative_to(top) if real.is_relative_to(top) else real


def split_inside(edits: Sequence[Edit], root: Path) -> tuple[list[Edit], list[Edit]]:
    """``(inside the tree, outside it)``: hdrtest never edits a file outside the checked tree.

    The edits inside come back aimed at the files they change (a link's target), so that
    the diff shows what is written and two edits of one file through two names merge.
    """
    ok = [replace(e, file=real_target(e.file, root)) for e in edits if inside(e.file, root)]
    return ok, [e for e in edits if not inside(e.file, root)]
