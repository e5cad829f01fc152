"""Suggested edits: as records, as a unified diff, and applied (then proven by a re-check).

Explanations propose edits (a stub in the ``#else`` of a guard, an ``#include`` line,
an include guard); this module merges the ones that touch the same place (two stubs
for one ``#ifdef`` get one ``#else``), renders them as one unified diff, and applies
them only inside the checked tree, keeping the originals to put back when the header
still fails afterwards.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import UsageError
from .models import CheckReport, Result
from .settings import Settings

#: ``(result, done, total)``, as ``hdrtest.check`` reports progress.
ProgressCallback = Callable[[Result, int, int], None]


@dataclass(frozen=True)
class Edit:
    """Lines to insert into ``file`` before its 1-based ``line`` (``len + 1`` appends)."""

    file: Path  # absolute
    line: int
    lines: tuple[str, ...]
    #: Edits with the same file, line and group are merged: ``prefix`` once, then their lines.
    group: str = ""
    prefix: tuple[str, ...] = ()
    description: str = ""


@dataclass
class FileChange:
    path: Path
    old: str
    new: str


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="surrogateescape")


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
        old = _read(path)
        lines = old.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        for line, new_lines in reversed(inserts):
            index = min(max(line - 1, 0), len(lines))
            lines[index:index] = [text + "\n" for text in new_lines]
        result.append(FileChange(path, old, "".join(lines)))
    return result


def shown_path(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def render_diff(edits: Iterable[Edit], root: Path) -> str:
    """One unified diff (``a/``/``b/`` paths relative to the root, like git) for all edits."""
    parts: list[str] = []
    for change in changes(edits):
        name = shown_path(change.path, root)
        diff = difflib.unified_diff(change.old.splitlines(), change.new.splitlines(), f"a/{name}", f"b/{name}",
                                    lineterm="")
        parts.extend(diff)
    return "\n".join(parts) + ("\n" if parts else "")


def inside(path: Path, root: Path) -> bool:
    real = Path(os.path.realpath(path))
    top = Path(os.path.realpath(root))
    return real == top or top in real.parents


def real_target(path: Path, root: Path | None = None) -> Path:
    """The file an edit of ``path`` must change: an in-tree symbolic link is followed, never replaced.

    Spelled under ``root`` when it lies there, so reports show the path the user knows.
    """
    real = Path(os.path.realpath(path))
    if root is not None:
        try:
            return root / real.relative_to(os.path.realpath(root))
        except ValueError:
            pass
    return real


def split_inside(edits: Sequence[Edit], root: Path) -> tuple[list[Edit], list[Edit]]:
    """``(inside the tree, outside it)``: hdrtest never edits a file outside the checked tree.

    The edits inside come back aimed at the files they change (a link's target), so that
    the diff shows what is written and two edits of one file through two names merge.
    """
    ok = [replace(e, file=real_target(e.file, root)) for e in edits if inside(e.file, root)]
    return ok, [e for e in edits if not inside(e.file, root)]


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
        _unlink(Path(name))
        raise
    return Path(name)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


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
            _unlink(temp)  # renamed ones are gone already


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


def revert(file_changes: Sequence[FileChange], root: Path | None = None) -> list[Path]:
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
    diff: str
    edits: list[Edit]
    applied: bool = False
    #: After applying: did every re-checked variant pass?  None when nothing was applied.
    passed: bool | None = None
    reverted: bool = False
    files: list[str] = field(default_factory=list)
    skipped_outside: list[str] = field(default_factory=list)
    before: CheckReport | None = None
    after: CheckReport | None = None
    message: str = ""


Checker = Callable[[], CheckReport]


def apply_and_verify(edits: Sequence[Edit], root: Path, recheck: Checker) -> FixOutcome:
    """Write the edits, re-check, and put the files back unless every re-checked result passes."""
    ok, outside = split_inside(edits, root)
    outcome = FixOutcome(diff=render_diff(ok, root), edits=list(ok),
                         skipped_outside=sorted({shown_path(e.file, root) for e in outside}))
    if not ok:
        outcome.message = "no edit to apply" + (" inside the checked tree" if outside else "")
        return outcome
    file_changes = changes(ok)
    outcome.files = [shown_path(c.path, root) for c in file_changes]
    write_changes(file_changes, root)  # every file or none
    outcome.applied = True
    try:
        after = recheck()
        outcome.after = after
        outcome.passed = not after.failures
    except BaseException:
        # Ctrl-C, SIGTERM or a failing re-check: an edit nothing verified never stays.
        _put_back(file_changes, root)
        raise
    if not outcome.passed:
        _put_back(file_changes, root)
        outcome.reverted = True
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


# ---------------------------------------------------------------------------
# Stubs: the neutral definitions that go into an #else


_SPACE = re.compile(r"\s+")


def _squash(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def struct_stub(tag: str, name: str) -> str:
    return f"{tag} {name} {{}};"


def function_stub(name: str, return_type: str, params: str) -> str:
    """``static inline RET NAME(PARAMS)`` with a body that returns a neutral value."""
    ret = _squash(" ".join(w for w in return_type.split()
                           if w not in ("extern", "static", "inline", "__inline", "__inline__")))
    params = _squash(params) or "void"
    if ret == "void":
        body = "{ }"
    elif "*" in ret:
        body = "{ return NULL; }"
    elif ret in ("bool", "_Bool"):
        body = "{ return false; }"
    elif re.match(r"(?:const\s+)?(?:struct|union)\b", ret):
        body = f"{{ return ({ret}){{ 0 }}; }}"
    else:
        body = "{ return 0; }"
    star = "" if ret.endswith("*") else " "
    return f"static inline {ret}{star}{name}({params}) {body}"


def macro_stub(name: str, params: Sequence[str] | None, body: str) -> str:
    """An empty or neutral macro: ``do { } while (0)`` for statement macros, ``0`` for values."""
    head = f"#define {name}" + (f"({', '.join(params)})" if params is not None else "")
    text = body.strip()
    if not text:
        return head
    if text.startswith("do"):
        return head + " do { } while (0)"
    return head + " 0" if params is None else head + " (0)"


_DECL_END = re.compile(r"[;{]")


def declaration_text(lines: Sequence[str], line: int, limit: int = 20) -> str:
    """The declaration starting at a 1-based line, up to its ``;`` or ``{`` (that char excluded)."""
    collected: list[str] = []
    for text in lines[line - 1: line - 1 + limit]:
        code = re.sub(r"//.*|/\*.*?\*/", " ", text)
        match = _DECL_END.search(code)
        if match is not None:
            collected.append(code[: match.start()])
            break
        collected.append(code)
    return _squash(" ".join(collected))


def split_function(declaration: str, name: str) -> tuple[str, str] | None:
    """``("int", "struct kvm *kvm, gfn_t gfn")`` from a prototype's text."""
    match = re.search(r"\b" + re.escape(name) + r"\s*\(", declaration)
    if match is None:
        return None
    depth = 0
    start = match.end()
    for index in range(start - 1, len(declaration)):
        char = declaration[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                ret = declaration[: match.start()]
                ret = re.sub(r"\b__attribute__\s*\(\(.*?\)\)", " ", ret)
                return _squash(ret), declaration[start:index]
    return None


# ---------------------------------------------------------------------------
# The commands: ``hdrtest fix HEADER [--apply]`` and ``hdrtest check --fix``


def suggest(report: CheckReport, settings: Settings) -> str:
    """Explain ``report`` (again, if the check did already) and return the suggested edits as one diff."""
    from .explain import explain_report

    explanation = explain_report(report, settings)
    ok, _ = split_inside(explanation.edits, settings.root)
    return render_diff(ok, settings.root)


def run_fix(settings: Settings, paths: list[str], *, apply: bool, write: Callable[[str], object],
            say: Callable[[str], object], progress: ProgressCallback | None = None) -> int:
    """``hdrtest fix``: print the suggested edits; with ``apply`` write them and prove them by a re-check.

    Returns the exit code: 0 when the headers pass (already, or after the applied edits), 1 otherwise.
    """
    from .check import check
    from .explain import explain_report
    from .report.text import render

    report = check(settings, paths, progress=progress, explain=False)
    if not report.failures:
        say(f"hdrtest: nothing to fix: {report.headers_checked} header(s) pass")
        return 0
    explanation = explain_report(report, settings)
    ok, outside = split_inside(explanation.edits, settings.root)
    for name in sorted({shown_path(e.file, settings.root) for e in outside}):
        say(f"hdrtest: not suggesting an edit of {name}: it is outside the checked tree")
    if not ok:
        write(render(report))
        say("hdrtest: no edit to suggest for these failures (see the notes above)")
        return 1
    write(render_diff(ok, settings.root))
    if not apply:
        say("hdrtest: run with --apply to write these edits and re-check")
        return 1
    outcome = apply_and_verify(ok, settings.root, lambda: check(settings, paths, explain=False))
    say("hdrtest: " + outcome.message)
    if not outcome.passed and outcome.after is not None:
        write(render(outcome.after))
    return 0 if outcome.passed else 1
