"""Finding the headers to check, and the ones to skip with their reasons."""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .models import Skipped
from .names import printable
from .settings import Settings

#: ``/* hdrtest: skip — reason */`` or ``// hdrtest: skip: reason`` in the first lines of a header.
_SKIP_MARKER = re.compile(r"hdrtest:\s*skip\b[\s:\-\u2013\u2014]*(?P<reason>[^\n*]*)")
_MARKER_WINDOW = 4096
_IGNORED_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules"}


@dataclass(frozen=True)
class Header:
    path: Path  # absolute
    display: str  # relative to the root when inside it
    languages: tuple[str, ...]


def display_path(path: Path, root: Path) -> str:
    """The name reports show: relative to the root when inside it, escaped so it stays one printable line."""
    try:
        return printable(path.relative_to(root).as_posix())
    except ValueError:
        return printable(path.as_posix())


def _language_of(name: str, settings: Settings) -> tuple[str, ...] | None:
    if any(fnmatch.fnmatchcase(name, p) for p in settings.cxx_patterns):
        return ("c++",)
    if any(fnmatch.fnmatchcase(name, p) for p in settings.c_patterns):
        return tuple(settings.languages)
    return None


def _excluded(display: str, settings: Settings) -> str | None:
    for rule in settings.exclude:
        if fnmatch.fnmatchcase(display, rule.pattern) or fnmatch.fnmatchcase(Path(display).name, rule.pattern):
            return rule.reason
    return None


def _marker_reason(path: Path, display: str) -> str | None:
    try:
        with path.open("rb") as handle:
            head = handle.read(_MARKER_WINDOW)
    except OSError as exc:
        raise UsageError(f"header is not readable ({exc.strerror})", path=display,
                         hint="fix its permissions or exclude it in the settings") from None
    match = _SKIP_MARKER.search(head.decode("utf-8", "replace"))
    if match is None:
        return None
    reason = match.group("reason").strip()
    return reason or "marked 'hdrtest: skip' in the header"


def _walk(top: Path) -> list[Path]:
    """Files under ``top`` in sorted order, without recursion (a tree 1,200 levels deep is legal).

    Symbolic links to directories are not followed, as with ``os.walk``.
    """
    found: list[Path] = []
    pending = [top]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                items = sorted(listing, key=lambda e: e.name)
        except OSError:
            continue  # unreadable directories are skipped, as os.walk does
        subdirs = []
        for item in items:
            try:
                is_dir = item.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if item.name not in _IGNORED_DIRS:
                    subdirs.append(Path(item.path))
            else:
                found.append(Path(item.path))
        pending.extend(reversed(subdirs))
    return found


def _irregular(path: Path) -> str | None:
    """Why ``path`` cannot be checked as a header file (a FIFO would block the read, a device never end), or None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # reading it says what is wrong (a dangling link, no permission), as a usage error
    if stat.S_ISREG(mode):
        return None
    kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device or special file"
    return f"not a regular file ({kind})"


def discover(paths: list[Path], settings: Settings) -> tuple[list[Header], list[Skipped]]:
    """Expand files and directories into headers; report skipped ones with reasons."""
    headers: dict[Path, Header] = {}
    skipped: list[Skipped] = []
    for given in paths:
        path = given if given.is_absolute() else settings.root / given
        path = Path(os.path.normpath(path))
        if not path.exists():
            raise UsageError("no such file or directory", path=given, hint="check the path given to hdrtest check")
        candidates: list[Path]
        if path.is_dir():
            candidates = _walk(path)
            explicit = False
        else:
            irregular = _irregular(path)
            if irregular is not None:
                raise UsageError(irregular, path=given, hint="name a header file")
            candidates = [path]
            explicit = True
        for candidate in candidates:
            langs = _language_of(candidate.name, settings)
            if langs is None:
                if explicit:
                    langs = tuple(settings.languages)
                else:
                    continue
            display = display_path(candidate, settings.root)
            reason = _excluded(display, settings)
            if reason is None and not explicit:
                reason = _irregular(candidate)
            if reason is None:
                reason = _marker_reason(candidate, display)
            if reason is not None:
                skipped.append(Skipped(display, reason))
                continue
            headers.setdefault(candidate, Header(candidate, display, langs))
    return sorted(headers.values(), key=lambda h: h.display), skipped
