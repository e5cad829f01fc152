"""Options a change makes relevant: the guards of every conditional block it touched.

A removed ``#else`` stub breaks headers whose own text never names it (through an
inline function or a macro in a header between them), so when a change edits lines
inside ``#ifdef CONFIG_X``, edits the condition itself, or moves a definition in or out
of the block, CONFIG_X is flipped for every checked header whose closure holds the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .graph import vcs
from .scan.directives import FileScan, ScanError, scan_directives
from .scan.options import OptionFilter

_FILE = re.compile(r"^diff --git a/(?P<old>.+?) b/(?P<new>.+)$")
_HUNK = re.compile(r"^@@ -(?P<os>\d+)(?:,(?P<ol>\d+))? \+(?P<ns>\d+)(?:,(?P<nl>\d+))? @@")
_C_FILES = (".h", ".hh", ".hpp", ".hxx", ".h++", ".c", ".cc", ".cpp", ".cxx", ".inc")


@dataclass(frozen=True)
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int


def _git(root: Path, *args: str) -> tuple[int | None, str]:
    done = vcs.git(root, *args, check=False, why="--changed-since needs git")
    return done.returncode, vcs.text(done)


def parse_hunks(diff: str) -> dict[str, list[Hunk]]:
    """``git diff -U0`` output as path (new side, repo-relative) -> hunks."""
    hunks: dict[str, list[Hunk]] = {}
    current: str | None = None
    for line in diff.splitlines():
        head = _FILE.match(line)
        if head is not None:
            current = head.group("new")
            hunks.setdefault(current, [])
            continue
        hunk = _HUNK.match(line)
        if hunk is not None and current is not None:
            hunks[current].append(Hunk(int(hunk.group("os")), int(hunk.group("ol") or 1),
                                       int(hunk.group("ns")), int(hunk.group("nl") or 1)))
    return hunks


def _scan(text: str, path: str) -> FileScan | None:
    try:
        return scan_directives(text, path)
    except ScanError:
        return None


def _options_in(scan: FileScan, first: int, count: int, options: OptionFilter) -> set[str]:
    """Options guarding lines first..first+count-1, or the insertion point when count is 0."""
    lines = range(first, first + count) if count else range(max(first, 1), max(first, 1) + 1)
    found: set[str] = set()
    for line in lines:
        found |= options.options(scan.condition_at(line))
    for block in scan.conditionals:
        if block.is_guard:
            continue
        if block.start_line in lines or block.end_line in lines:
            found |= options.options(block.formula) | options.options(block.condition)
    return found


def touched_options(root: Path, rev: str, options: OptionFilter) -> dict[Path, dict[str, str]]:
    """Per changed file (absolute path): option -> reason, for blocks the change touched."""
    top = vcs.toplevel(root) if vcs.commit_of(root, rev) is not None else None
    if top is None:
        raise UsageError(f"'{rev}' is not a git revision here", path=root, hint="pass a commit, branch or tag")
    _, diff = _git(root, "diff", "-U0", "--no-color", "--no-ext-diff", rev, "--", ".")
    result: dict[Path, dict[str, str]] = {}
    for rel, hunks in parse_hunks(diff).items():
        if rel.endswith(_C_FILES):
            result[top / rel] = _edited_reasons(top, rel, hunks, rev, options)
    _, untracked = _git(root, "ls-files", "--others", "--exclude-standard", "--full-name", "--", ".")
    for rel in untracked.splitlines():
        if rel.endswith(_C_FILES):
            result[top / rel] = _new_file_reasons(_read_scan(top / rel, rel), rel, options)
    return {path: reasons for path, reasons in result.items() if reasons}


def _read_scan(path: Path, rel: str) -> FileScan | None:
    try:
        return _scan(path.read_text(encoding="utf-8", errors="replace"), rel)
    except OSError:
        return None


def _edited_reasons(top: Path, rel: str, hunks: list[Hunk], rev: str, options: OptionFilter) -> dict[str, str]:
    """Options guarding what the hunks touched, in the file as it is now and as it was at ``rev``."""
    new = _read_scan(top / rel, rel)
    returncode, old_text = _git(top, "show", f"{rev}:{rel}")
    old = _scan(old_text, rel) if returncode == 0 else None
    reasons: dict[str, str] = {}
    for hunk in hunks:
        for scan, start, length, side in ((new, hunk.new_start, hunk.new_len, "now"),
                                          (old, hunk.old_start, hunk.old_len, f"at {rev}")):
            if scan is not None:
                for option in sorted(_options_in(scan, start, length, options)):
                    reasons.setdefault(option, f"the change touched a block on it at {rel}:{start} ({side})")
    return reasons


def _new_file_reasons(scan: FileScan | None, rel: str, options: OptionFilter) -> dict[str, str]:
    """Every option an untracked file tests (its include guard aside)."""
    reasons: dict[str, str] = {}
    for block in scan.conditionals if scan is not None else ():
        if not block.is_guard:
            for option in sorted(options.options(block.formula)):
                reasons.setdefault(option, f"{rel} is new and tests it at line {block.start_line}")
    return reasons
