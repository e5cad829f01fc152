"""Applying edits to the tree, proven by a re-check and put back when it still fails.

Every file is written or none (staged next to its target, then renamed), and the
originals are kept so that an edit nothing verified never stays in the tree.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from ..models import CheckReport
from .edits import Edit, FileChange, changes, inside, real_target, shown_path, split_inside


class _WriteError(Exception):
    def __init__(self, path: Path, cause: OSError) -> None:
        super().__init__(str(cause))
        self.path = path
        self.cause = cause


def _stage(path: Path, text: str) -> Path:
    """The new text in a temporary file beside ``path`` (same directory: the rename is atomic)."""
    fd, name = tempfile.mkstemp(prefix=".hdrtest-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            handle.write(text)
        os.chmod(name, stat.S_IMODE(path.stat().st_mode))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return Path(name)


def _replace_all(targets: Sequence[tuple[Path, str]], written: list[Path]) -> None:
    """Put every text in place: all staged first, then renamed; ``written`` collects the paths renamed.

    A new file renamed over the old, so a hard-linked copy of a tree is not written through.
    A failure while staging changes no file; on any failure or signal no temporary file is left.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in targets:
            try:
                staged.append((path, _stage(path, text)))
            except OSError as exc:
                raise _WriteError(path, exc) from exc
        for path, temp in staged:
            # Counted before the rename: a signal right after it must still see the file restored
            # (restoring one the rename did not reach writes its own text again, which is harmless).
            written.append(path)
            try:
                os.replace(temp, path)
            except OSError as exc:
                written.pop()
                raise _WriteError(path, exc) from exc
    finally:
        for _, temp in staged:
            with contextlib.suppress(OSError):
                os.unlink(temp)  # renamed ones are gone already


def write_changes(file_changes: Sequence[FileChange], root: Path) -> None:
    """Write every change (to a link's target) or none: on a failure or a signal, what was written is put back.

    A file that cannot be written is a UsageError naming it.
    """
    for change in file_changes:
        if not inside(change.path, root):
            raise UsageError("refusing to edit a file outside the checked tree", path=change.path)
    written: list[Path] = []
    try:
        _replace_all([(real_target(c.path, root), c.new) for c in file_changes], written)
    except BaseException as exc:
        done = set(written)
        left = revert([c for c in file_changes if real_target(c.path, root) in done], root)
        if isinstance(exc, _WriteError):
            raise _cannot(exc, root, left) from None
        raise


def _cannot(exc: _WriteError, root: Path, left: Sequence[Path]) -> UsageError:
    reason = exc.cause.strerror or exc.cause.__class__.__name__
    state = ("no file was changed" if not left else
             "could not restore " + ", ".join(shown_path(p, root) for p in left))
    return UsageError(f"cannot write {shown_path(exc.path, root)} ({reason}); {state}", path=exc.path,
                      hint="make it writable, then run hdrtest fix --apply again")


def revert(file_changes: Sequence[FileChange], root: Path) -> list[Path]:
    """Put the original texts back (to a link's target), each file on its own; returns the ones that failed."""
    failed: list[Path] = []
    for change in file_changes:
        target = real_target(change.path, root)
        try:
            _replace_all([(target, change.old)], [])
        except _WriteError:
            failed.append(target)
    return failed


@dataclass
class FixOutcome:
    #: After applying: did every re-checked variant pass?  None when nothing was applied.
    passed: bool | None = None
    files: list[str] = field(default_factory=list)
    after: CheckReport | None = None
    message: str = ""


def apply_and_verify(edits: Sequence[Edit], root: Path, recheck: Callable[[], CheckReport]) -> FixOutcome:
    """Write the edits, re-check, and put the files back unless every re-checked result passes."""
    ok, outside = split_inside(edits, root)
    if not ok:
        return FixOutcome(message="no edit to apply" + (" inside the checked tree" if outside else ""))
    file_changes = changes(ok)
    outcome = FixOutcome(files=[shown_path(c.path, root) for c in file_changes])
    write_changes(file_changes, root)  # every file or none
    try:
        outcome.after = after = recheck()
        outcome.passed = not after.failures
    except BaseException:
        # Ctrl-C, SIGTERM or a failing re-check: an edit nothing verified never stays.
        _put_back(file_changes, root)
        raise
    if not outcome.passed:
        _put_back(file_changes, root)
        left = ", ".join(sorted({f"{r.job.display} in {r.job.variant.describe()}" for r in after.failures}))
        outcome.message = f"the suggested edits do not make it pass ({left} still fails); files left unchanged"
    else:
        outcome.message = f"applied to {', '.join(outcome.files)}; the re-check passes"
    return outcome


def _put_back(file_changes: Sequence[FileChange], root: Path) -> None:
    failed = revert(file_changes, root)
    if failed:
        names = ", ".join(shown_path(p, root) for p in failed)
        raise UsageError(f"could not restore {names}: it holds an edit the re-check did not verify",
                         path=failed[0], hint="restore it from version control")
