"""Finding the headers to check, and the ones to skip with their reasons."""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .fixes.edits import shown_path
from .kbuild import source_arch
from .makefile import logical_lines
from .models import Skipped
from .names import printable
from .settings import Settings

#: ``/* hdrtest: skip — reason */`` or ``// hdrtest: skip: reason`` in the first lines of a header.
_SKIP_MARKER = re.compile(r"hdrtest:\s*skip\b[\s:\-\u2013\u2014]*(?P<reason>[^\n*]*)")
_MARKER_WINDOW = 4096
_IGNORED_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules"}
_MAKEFILES = ("Kbuild", "Makefile")
_NO_HEADER_TEST = re.compile(r"^\s*no-header-test\s*(?::=|::=|\+=|\?=|=)\s*(?P<rhs>.*)$")
_CONDITIONAL_START = re.compile(r"^\s*(?:ifeq|ifneq|ifdef|ifndef)\b")
_CONDITIONAL_END = re.compile(r"^\s*endif\b")


@dataclass(frozen=True)
class Header:
    path: Path  # absolute
    display: str  # relative to the root when inside it
    languages: tuple[str, ...]


def display_path(path: Path, root: Path) -> str:
    """The name reports show: relative to the root when inside it, escaped so it stays one printable line."""
    return printable(shown_path(path, root))


def language_of(name: str, settings: Settings) -> tuple[str, ...] | None:
    """The languages a file called ``name`` is checked in by the settings' patterns; None: not a header."""
    if any(fnmatch.fnmatchcase(name, p) for p in settings.cxx_patterns):
        return ("c++",)
    if any(fnmatch.fnmatchcase(name, p) for p in settings.c_patterns):
        return tuple(settings.languages)
    return None


@dataclass(frozen=True)
class KbuildExclusion:
    """One name of a ``no-header-test`` list: Kbuild's own header test skips what it matches."""

    pattern: str  # relative to the Makefile's directory; make's ``%`` as fnmatch's ``*``
    line: int
    text: str  # the logical line, continuations joined


def parse_no_header_test(text: str) -> list[KbuildExclusion]:
    """The unconditional ``no-header-test`` names of a Makefile.

    Names under ``ifeq``/``ifdef`` (an architecture's extra exclusions) are left out: which
    branch holds is the build's to say, and an exclusion that does not apply would hide a header.
    """
    found: list[KbuildExclusion] = []
    depth = 0
    for start, logical in logical_lines(text):
        current = " ".join(logical.split())
        if _CONDITIONAL_START.match(current):
            depth += 1
        elif _CONDITIONAL_END.match(current):
            depth = max(0, depth - 1)
        elif depth == 0:
            match = _NO_HEADER_TEST.match(current)
            if match is not None:
                found.extend(KbuildExclusion(name.replace("%", "*"), start, current)
                             for name in match.group("rhs").split() if "$" not in name)
    return found


class KbuildExclusions:
    """``no-header-test`` lists of a Kbuild tree's Makefiles, read once per directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.active = (root / "scripts" / "Makefile.build").is_file() and (root / "Kbuild").is_file()
        self._lists: dict[Path, list[tuple[str, KbuildExclusion]]] = {}
        # Kbuild descends into arch/$(SRCARCH)/ only: another architecture's headers are never compiled here.
        self.arch = source_arch(root, (), root) if self.active else None

    def _in(self, directory: Path) -> list[tuple[str, KbuildExclusion]]:
        if directory not in self._lists:
            found: list[tuple[str, KbuildExclusion]] = []
            for name in _MAKEFILES:
                makefile = directory / name
                try:
                    text = makefile.read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                if "no-header-test" in text:
                    shown = display_path(makefile, self.root)
                    found.extend((shown, rule) for rule in parse_no_header_test(text))
            self._lists[directory] = found
        return self._lists[directory]

    def foreign_arch(self, path: Path) -> str | None:
        """Why ``path`` (a file or directory under ``arch/<name>/``) is never built here, or None."""
        parts = path.relative_to(self.root).parts if self.root in path.parents else ()
        if not self.active or not self.arch or len(parts) < 2 or parts[0] != "arch" or parts[1] == self.arch:
            return None
        if not (self.root / "arch" / parts[1]).is_dir():
            return None
        return (f"another architecture's: Kbuild builds arch/{self.arch}/ in this tree "
                f"(ARCH from include/config/auto.conf.cmd), never arch/{parts[1]}/")

    def reason(self, header: Path) -> str | None:
        """Why Kbuild's header test skips ``header`` (the Makefile line, another architecture), or None."""
        if not self.active or self.root not in header.parents:
            return None
        foreign = self.foreign_arch(header)
        if foreign is not None:
            return foreign
        # From the header's directory up to the root: a Makefile names what is under it, relative to itself.
        for directory in header.parents[:len(header.parents) - len(self.root.parents)]:
            relative = header.relative_to(directory).as_posix()
            for makefile, rule in self._in(directory):
                if fnmatch.fnmatchcase(relative, rule.pattern):
                    return f"Kbuild's header test excludes it: {makefile}:{rule.line}: {rule.text}"
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


def _walk(top: Path, prune: Callable[[Path], str | None], pruned: list[tuple[Path, str]]) -> list[Path]:
    """Files under ``top`` in sorted order, without recursion (a tree 1,200 levels deep is legal).

    Symbolic links to directories are not followed, as with ``os.walk``.  A directory for
    which ``prune`` gives a reason is not entered; it goes to ``pruned`` with that reason.
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
                if item.name in _IGNORED_DIRS:
                    continue
                why = prune(Path(item.path))
                if why is None:
                    subdirs.append(Path(item.path))
                else:
                    pruned.append((Path(item.path), why))
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
    kbuild = KbuildExclusions(settings.root)
    for given in paths:
        path = Path(os.path.normpath(settings.root / given))  # an absolute one stays itself
        if not path.exists():
            raise UsageError("no such file or directory", path=given, hint="check the path given to hdrtest check")
        candidates: list[Path]
        if path.is_dir():
            arch = settings.root / "arch"
            pruned: list[tuple[Path, str]] = []
            # One line for a whole foreign architecture, not one per header (arm64 alone has ~1,000).
            candidates = _walk(path, lambda d: kbuild.foreign_arch(d) if d.parent == arch else None, pruned)
            skipped.extend(Skipped(display_path(d, settings.root) + "/", why) for d, why in pruned)
            explicit = False
        else:
            irregular = _irregular(path)
            if irregular is not None:
                raise UsageError(irregular, path=given, hint="name a header file")
            candidates = [path]
            explicit = True
        for candidate in candidates:
            langs = language_of(candidate.name, settings)
            if langs is None and not explicit:
                continue
            display = display_path(candidate, settings.root)
            # The first reason to skip it, cheapest first (every reason is a non-empty sentence).
            reason = (_excluded(display, settings) or (None if explicit else _irregular(candidate))
                      or kbuild.reason(candidate) or _marker_reason(candidate, display))
            if reason is not None:
                skipped.append(Skipped(display, reason))
                continue
            headers.setdefault(candidate, Header(candidate, display, langs or tuple(settings.languages)))
    return sorted(headers.values(), key=lambda h: h.display), skipped
