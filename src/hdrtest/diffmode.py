"""``hdrtest diff BASE [HEAD]``: what a change broke or fixed, as the kernel's build robot reports it.

Both revisions are checked out in private ``git worktree``s (HEAD may instead be the
user's working tree, which is only read), the headers the change can affect are checked
in both with the same settings, and errors are compared by the baseline's identity
(header, variant, error class, message without line numbers).  Only differences are
reported: errors new in HEAD, marked ``>>``, and errors HEAD no longer has.

The compile database holds absolute paths of the user's tree, and generated headers
(``include/generated``) are usually untracked, so a worktree lacks them.  Flags are
therefore rebased by prefix onto the worktree, and every include directory inside the
repository keeps the user's directory as a fallback right after it: files the revision
has come from the worktree, files only a build produced come from the user's tree.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from . import compdb
from .baseline import ensure_classified, error_diagnostics, error_keys, label, result_key
from .baseline import new_errors as baseline_new_errors
from .check import ProgressCallback, check
from .diagnostics import render_gcc_style
from .errors import UsageError
from .graph import vcs
from .models import CheckReport, Diagnostic, Job, Result, Status
from .settings import Settings

#: Options whose value is an include directory (a fallback to the user's tree is added after it).
_DIR_OPTIONS = ("-I", "-isystem", "-iquote", "-idirafter")
#: Options whose value is one file.
_FILE_OPTIONS = ("-include", "-imacros")
#: Files a header can include besides headers themselves.
_INCLUDABLE_SUFFIXES = (".inc", ".def", ".x", ".tbl")


@dataclass
class Change:
    """One header in one variant whose errors differ between the revisions."""

    result: Result  # HEAD's result for new errors, BASE's for fixed ones
    errors: list[Diagnostic]  # the new (or the fixed) errors
    #: For fixed entries: the header compiles in HEAD (not merely fails differently).
    now_passes: bool = False


@dataclass
class DiffResult:
    base_rev: str
    head_rev: str | None  # None: the working tree
    base_commit: str
    head_commit: str | None
    toplevel: Path
    changed_files: list[str]
    headers: list[str]  # affected headers, relative to the root
    base: CheckReport
    head: CheckReport
    new: list[Change] = field(default_factory=list)
    fixed: list[Change] = field(default_factory=list)
    #: Where HEAD was checked out for the check (the working tree itself when head_rev is None).
    head_tree: Path | None = None
    #: HEAD's overlay of generated files (see ``Rebase``), None for the working tree.
    head_overlay: Path | None = None

    @property
    def has_new_failures(self) -> bool:
        return bool(self.new)

    @property
    def still_failing(self) -> int:
        new_keys = {result_key(c.result) for c in self.new}
        return sum(1 for r in self.head.failures if result_key(r) not in new_keys)


# -- git -------------------------------------------------------------------------------------------------------


def _git(args: Sequence[str], cwd: Path, *, check_rc: bool = True) -> str:
    return vcs.text(vcs.git(cwd, *args, check=check_rc, why="hdrtest diff compares git revisions"))


def toplevel(start: Path) -> Path:
    out = _git(["rev-parse", "--show-toplevel"], start, check_rc=False).strip()
    if not out:
        raise UsageError("not inside a git repository", path=start, hint="hdrtest diff compares git revisions")
    return Path(out).resolve()


def resolve_commit(top: Path, rev: str) -> str | None:
    return vcs.commit_of(top, rev)


def _commit(top: Path, rev: str) -> str:
    commit = resolve_commit(top, rev)
    if commit is None:
        raise UsageError(f"unknown revision '{rev}'", path=top, hint="name a commit, branch or tag")
    return commit


def _split_z(text: str) -> list[str]:
    return [part for part in text.split("\0") if part]


def changed_files(top: Path, base: str, head: str | None) -> list[str]:
    """Repository-relative paths that differ; with no HEAD, the working tree including untracked files."""
    args = ["diff", "--name-only", "-z", "--no-renames", base] + ([head] if head else []) + ["--"]
    files = set(_split_z(_git(args, top)))
    if head is None:
        files |= set(_split_z(_git(["ls-files", "-z", "--others", "--exclude-standard"], top)))
    return sorted(files)


def tree_files(tree: Path, *, untracked: bool) -> list[str]:
    args = ["ls-files", "-z", "--cached"] + (["--others", "--exclude-standard"] if untracked else [])
    return sorted(set(_split_z(_git(args, tree))))


# -- which headers a change affects ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IncludeEdge:
    includer: str
    target: str
    quoted: bool


def scan_includes(tree: Path, files: Iterable[str]) -> list[IncludeEdge]:
    """``#include`` lines of each file, read without preprocessing (conditions are ignored: over-approximate).

    The lines are read by ``changes.scan_includes``, the scanner behind ``--changed-since``,
    so both ways of selecting headers by a change agree on what a file includes (a
    ``__has_include`` probe counts: a change to the file it names changes the answer).
    """
    from .changes import scan_includes as include_lines

    edges: list[IncludeEdge] = []
    for name in files:
        try:
            data = (tree / name).read_bytes()
        except OSError:
            continue
        for include in include_lines(data):
            target = include.spelling.strip()
            if not include.computed and target:
                edges.append(IncludeEdge(name, target, not include.angled))
    return edges


def _includes(edge: IncludeEdge, path: str) -> bool:
    """Whether ``edge`` can reach ``path`` (repository-relative) through some include directory."""
    if edge.quoted:
        local = os.path.normpath(PurePosixPath(edge.includer).parent.joinpath(edge.target).as_posix())
        if local == path:
            return True
    target = os.path.normpath(edge.target)
    if target.startswith(".."):
        return False
    return path == target or path.endswith("/" + target)


def affected_files(edges: list[IncludeEdge], changed: Iterable[str]) -> set[str]:
    """The changed files and every file that includes one of them, directly or transitively."""
    by_name: dict[str, list[IncludeEdge]] = {}
    for edge in edges:
        by_name.setdefault(PurePosixPath(edge.target).name, []).append(edge)
    affected = set(changed)
    queue = list(affected)
    while queue:
        path = queue.pop()
        for edge in by_name.get(PurePosixPath(path).name, ()):
            if edge.includer not in affected and _includes(edge, path):
                affected.add(edge.includer)
                queue.append(edge.includer)
    return affected


def _is_header(name: str, settings: Settings) -> bool:
    import fnmatch

    base = PurePosixPath(name).name
    return any(fnmatch.fnmatchcase(base, p) for p in (*settings.c_patterns, *settings.cxx_patterns))


def _scannable(name: str, settings: Settings) -> bool:
    return _is_header(name, settings) or name.endswith(_INCLUDABLE_SUFFIXES)


def _within(display: str, prefixes: list[str]) -> bool:
    return not prefixes or any(p in ("", ".") or display == p or display.startswith(p.rstrip("/") + "/")
                               for p in prefixes)


def affected_headers(tree: Path, rel_root: str, settings: Settings, changed: list[str], *, untracked: bool,
                     forced: set[str], prefixes: list[str]) -> set[str]:
    """Root-relative headers of ``tree`` that the change can affect."""
    files = tree_files(tree, untracked=untracked)
    prefix = "" if rel_root in ("", ".") else rel_root.rstrip("/") + "/"
    headers = {f[len(prefix):] for f in files if f.startswith(prefix) and _is_header(f, settings)}
    if any(name in forced for name in changed):
        # A forced include, the settings or the compile database changed: every header may be affected.
        return {h for h in headers if _within(h, prefixes)}
    edges = scan_includes(tree, (f for f in files if _scannable(f, settings)))
    reached = affected_files(edges, changed)
    return {f[len(prefix):] for f in reached if f.startswith(prefix) and f[len(prefix):] in headers
            and _within(f[len(prefix):], prefixes)}


# -- settings rebased onto a worktree -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rebase:
    """Maps paths of the user's checkout (``old``) into a worktree (``new``).

    ``overlay`` mirrors, as symbolic links, the files the user's checkout has but git
    ignores (generated headers): include directories fall back to it, so a revision
    sees its own tracked files plus the build's output, never the user's edits.
    """

    old: Path
    new: Path
    overlay: Path | None = None

    def inside(self, path: Path) -> Path | None:
        try:
            return self.new / path.relative_to(self.old)
        except ValueError:
            return None

    def generated(self, path: Path) -> Path | None:
        """The overlay's copy of an ignored file or directory of the user's checkout, if there is one."""
        if self.overlay is None:
            return None
        try:
            mirrored = self.overlay / path.relative_to(self.old)
        except ValueError:
            return None
        return mirrored if mirrored.exists() else None

    def file(self, path: Path) -> Path:
        """The worktree's copy; the user's file when it is generated (ignored by git); else where it would be."""
        moved = self.inside(path)
        if moved is None or moved.exists():
            return moved or path
        return path if self.generated(path) is not None else moved

    def text(self, value: str) -> str:
        path = Path(value)
        return str(self.file(path)) if path.is_absolute() else value


def _path_options(args: Sequence[str]) -> list[tuple[int, int, str, str]]:
    """(start, end, option, value) for each path option; ``end`` is exclusive."""
    found: list[tuple[int, int, str, str]] = []
    index = 0
    while index < len(args):
        arg = args[index]
        for name in (*_FILE_OPTIONS, *_DIR_OPTIONS):
            if arg == name and index + 1 < len(args):
                found.append((index, index + 2, name, args[index + 1]))
                index += 1
                break
            if arg.startswith(name) and len(arg) > len(name):  # the joined form: -Iinclude, -includefoo.h
                found.append((index, index + 1, name, arg[len(name):]))
                break
        index += 1
    return found


def path_arguments(args: Sequence[str], directory: Path) -> list[Path]:
    """The include directories and forced files that compile arguments name, as absolute paths."""
    return [Path(os.path.normpath(directory / value)) for _, _, _, value in _path_options(args)]


def rebase_args(args: Sequence[str], directory: Path, rebase: Rebase) -> list[str]:
    """Compile arguments with paths into the repository moved into the worktree.

    Every path option becomes absolute (the working directory moves too); an include
    directory inside the repository is followed by its overlay of generated files.
    """
    out: list[str] = []
    position = 0
    for start, end, option, value in _path_options(args):
        out.extend(args[position:start])
        position = end
        original = Path(os.path.normpath(directory / value))
        moved = rebase.inside(original)
        if moved is None:
            out += [option, str(original)]
        elif option in _FILE_OPTIONS:
            out += [option, str(rebase.file(original))]
        else:
            out += [option, str(moved)]
            overlay = rebase.generated(original)
            if overlay is not None:
                out += [option, str(overlay)]
    out.extend(args[position:])
    return out


def build_overlay(top: Path, paths: Iterable[Path], overlay: Path, settings: Settings) -> Path:
    """Mirror the ignored (generated) files under ``paths`` of the user's checkout into ``overlay``."""
    specs: list[str] = []
    for path in set(paths):
        try:
            specs.append(path.relative_to(top).as_posix() or ".")
        except ValueError:
            continue
    overlay.mkdir(parents=True, exist_ok=True)
    if not specs:
        return overlay
    listed = _git(["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--", *sorted(specs)], top)
    for name in _split_z(listed):
        if not _scannable(name, settings) and not any(name == s for s in specs):
            continue
        link = overlay / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(top / name)
    return overlay


def _entry_args(raw: dict[str, Any]) -> list[str]:
    arguments = raw.get("arguments")
    if isinstance(arguments, list) and all(isinstance(a, str) for a in arguments):
        return list(arguments)
    command = raw.get("command")
    return shlex.split(command) if isinstance(command, str) else []


def rebase_database(database: Path, rebase: Rebase, destination: Path) -> Path:
    """Write a copy of ``database`` rebased onto the worktree (outside the user's tree)."""
    rebased: list[dict[str, Any]] = []
    for directory, args, raw in _database_entries(database):
        moved_dir = rebase.inside(directory)
        rebased.append({
            "directory": str(moved_dir if moved_dir is not None and moved_dir.is_dir() else directory),
            "file": raw.get("file", ""),
            "arguments": rebase_args(args, directory, rebase),
        })
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / "compile_commands.json"
    target.write_text(json.dumps(rebased, indent=1), encoding="utf-8")
    return target


def forced_includes(args: Sequence[str], directory: Path) -> set[Path]:
    return {Path(os.path.normpath(directory / value)) for _, _, option, value in _path_options(args)
            if option in _FILE_OPTIONS}


def _database_entries(database: Path) -> list[tuple[Path, list[str], dict[str, Any]]]:
    """(absolute directory, arguments, raw entry) of each usable entry."""
    try:
        entries = json.loads(database.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read compile database: {exc}", path=database) from None
    if not isinstance(entries, list):
        raise UsageError("expected a JSON array of entries", path=database)
    base = database.parent.resolve()
    out = []
    for raw in entries:
        if isinstance(raw, dict) and isinstance(raw.get("directory"), str):
            out.append((Path(os.path.normpath(base / raw["directory"])), _entry_args(raw), raw))
    return out


def user_database(settings: Settings) -> Path | None:
    if settings.compile_commands:
        database = settings.resolve(settings.compile_commands)
        return database / "compile_commands.json" if database.is_dir() else database
    if settings.cflags:
        return None
    return compdb.find_compile_commands(settings.root)


def rebase_settings(settings: Settings, top: Path, tree: Path, scratch: Path) -> Settings:
    """The same settings, pointed at the worktree ``tree`` of the repository at ``top``."""
    database = user_database(settings)
    entries = _database_entries(database) if database is not None and database.exists() else []
    named = [p for directory, args, _ in entries for p in path_arguments(args, directory)]
    named += path_arguments(settings.cflags, settings.root)
    overlay = build_overlay(top, named, scratch / "overlay", settings)
    rebase = Rebase(top, tree, overlay)
    root = rebase.inside(settings.root.resolve())
    if root is None:
        raise UsageError("the root is outside the git repository", path=settings.root)
    changes: dict[str, Any] = {
        "root": root,
        "settings_file": rebase.file(settings.settings_file) if settings.settings_file else None,
        "cflags": tuple(rebase_args(settings.cflags, settings.root, rebase)),
        "preludes": tuple(rebase.text(p) for p in settings.preludes),
        "kconfig": rebase.text(settings.kconfig) if settings.kconfig else None,
        "kconfig_config": rebase.text(settings.kconfig_config) if settings.kconfig_config else None,
    }
    if database is not None and database.exists():
        changes["compile_commands"] = str(rebase_database(database, rebase, scratch))
        # The check looks for an O= build's .config next to the database; the copy has none beside it.
        beside = database.parent / ".config"
        if not settings.kconfig_config and beside.is_file():
            changes["kconfig_config"] = str(rebase.file(beside.resolve()))
    return replace(settings, **changes)


def forced_files(settings: Settings, top: Path) -> set[str]:
    """Repository-relative files whose change affects every header."""
    paths: set[Path] = set()
    database = user_database(settings)
    if database is not None and database.exists():
        paths.add(database.resolve())
        for directory, args, _ in _database_entries(database):
            paths |= forced_includes(args, directory)
    paths |= forced_includes(settings.cflags, settings.root)
    paths |= {settings.resolve(p) for p in settings.preludes}
    if settings.settings_file:
        paths.add(settings.settings_file)
    if settings.kconfig:
        paths.add(settings.resolve(settings.kconfig))
    out: set[str] = set()
    for path in paths:
        try:
            out.add(Path(os.path.normpath(path)).relative_to(top).as_posix())
        except ValueError:
            pass
    return out


# -- comparing ------------------------------------------------------------------------------------------------


def compare(base: CheckReport, head: CheckReport) -> tuple[list[Change], list[Change]]:
    """(new, fixed): errors in HEAD that BASE did not have, and the other way round."""
    ensure_classified(base.failures + head.failures)
    base_by_key = {result_key(r): r for r in base.results}
    head_by_key = {result_key(r): r for r in head.results}
    new: list[Change] = []
    for key, result in head_by_key.items():
        if not result.status.failed:
            continue
        before = base_by_key.get(key)
        known = error_keys(before) if before is not None and before.status.failed else Counter()
        fresh = baseline_new_errors(result, known)
        if not error_diagnostics(result) and not known:
            fresh = list(result.diagnostics)  # a failure without error records (should not happen) is still new
        if fresh:
            new.append(Change(result, fresh))
    fixed: list[Change] = []
    for key, result in base_by_key.items():
        if not result.status.failed:
            continue
        after = head_by_key.get(key)
        if after is None or after.status is Status.UNVERIFIED:
            continue  # gone, no longer checked, or not verifiable in HEAD: nothing established about it
        still = error_keys(after) if after.status.failed else Counter()
        gone = baseline_new_errors(result, still)
        if gone:
            fixed.append(Change(result, gone, now_passes=not after.status.failed))
    return new, fixed


def mark_states(result: DiffResult) -> None:
    """Label HEAD's errors against BASE: "new" when this change brought them, else "unchanged"."""
    label(result.head.failures, [d for change in result.new for d in change.errors])


# -- running --------------------------------------------------------------------------------------------------


def counterpart_jobs(source: CheckReport, target: CheckReport) -> list[Job]:
    """Jobs for ``target``'s tree in the failing variants only ``source`` planned.

    Variants are planned from each revision's text, so a fix can remove the very variant it
    fixes (and a change can add the one it breaks).  The build robot builds both trees in the
    same configuration; so does this, by running the other side's failing variants here too.
    """
    have = {result_key(r) for r in target.results}
    baselines = {(r.job.display, r.job.language): r.job for r in target.results if r.job.variant.is_baseline}
    jobs: dict[Job, None] = {}
    for result in source.results:
        if not result.status.failed or result.job.variant.is_baseline or result_key(result) in have:
            continue
        twin = baselines.get((result.job.display, result.job.language))
        if twin is not None:
            jobs[replace(twin, variant=result.job.variant, variant_prelude=None)] = None
    return list(jobs)


def _run_counterparts(report: CheckReport, jobs: list[Job], settings: Settings,
                      progress: ProgressCallback | None) -> None:
    if not jobs:
        return
    from .check import run_jobs
    from .compile import CompileOptions
    from .executors.factory import make_executor

    runner = make_executor(settings)
    try:
        results, _ = run_jobs(jobs, CompileOptions(root=settings.root, max_errors=settings.max_errors), runner,
                              progress=progress)
    except BaseException:
        runner.close(cancel=True)
        raise
    runner.close()
    report.results.extend(results)


def _empty_report(root: Path) -> CheckReport:
    return CheckReport(root=root, results=[])


def _check_tree(settings: Settings, headers: list[str], progress: ProgressCallback | None, *,
                explain: bool) -> CheckReport:
    present = [str(settings.root / h) for h in headers if (settings.root / h).is_file()]
    if not present:
        return _empty_report(settings.root)
    # The headers are chosen already; --changed-since would filter again against the wrong tree.
    return check(replace(settings, changed_since=None), present, progress=progress, explain=explain)


def _add_worktree(top: Path, path: Path, commit: str) -> None:
    _git(["worktree", "add", "--detach", "--quiet", str(path), commit], top)


def _remove_worktree(top: Path, path: Path) -> None:
    _git(["worktree", "remove", "--force", str(path)], top, check_rc=False)
    if path.exists():  # a failed remove still must not leave a stale registration behind
        shutil.rmtree(path, ignore_errors=True)
        _git(["worktree", "prune"], top, check_rc=False)


def run_diff(settings: Settings, base_rev: str, head_rev: str | None, *, paths: Sequence[str] = (),
             progress: ProgressCallback | None = None) -> DiffResult:
    """Check the headers the change BASE..HEAD affects, in both revisions, and compare."""
    root = settings.root.resolve()
    top = toplevel(root)
    try:
        rel_root = root.relative_to(top).as_posix()
    except ValueError:
        raise UsageError("the root is outside the git repository", path=root) from None
    base_commit = _commit(top, base_rev)
    head_commit = _commit(top, head_rev) if head_rev is not None else None
    changed = changed_files(top, base_commit, head_commit)
    prefixes = _prefixes(settings, root, paths)
    forced = forced_files(settings, top)
    scratch = Path(tempfile.mkdtemp(prefix="hdrtest-diff-"))
    worktrees: list[Path] = []
    try:
        base_tree = scratch / "base"
        _add_worktree(top, base_tree, base_commit)
        worktrees.append(base_tree)
        if head_commit is not None:
            head_tree = scratch / "head"
            _add_worktree(top, head_tree, head_commit)
            worktrees.append(head_tree)
        else:
            head_tree = top
        base_settings = rebase_settings(settings, top, base_tree, scratch / "base-settings")
        head_settings = settings if head_commit is None else \
            rebase_settings(settings, top, head_tree, scratch / "head-settings")
        headers = affected_headers(base_tree, rel_root, settings, changed, untracked=False, forced=forced,
                                   prefixes=prefixes)
        headers |= affected_headers(head_tree, rel_root, settings, changed, untracked=head_commit is None,
                                    forced=forced, prefixes=prefixes)
        ordered = sorted(headers)
        # BASE's errors only need their class (``compare`` classifies); HEAD's new ones are explained.
        base_report = _check_tree(base_settings, ordered, progress, explain=False)
        head_report = _check_tree(head_settings, ordered, progress, explain=True)
        to_base = counterpart_jobs(head_report, base_report)
        to_head = counterpart_jobs(base_report, head_report)
        _run_counterparts(base_report, to_base, base_settings, progress)
        _run_counterparts(head_report, to_head, head_settings, progress)
    finally:
        for tree in worktrees:
            _remove_worktree(top, tree)
        shutil.rmtree(scratch, ignore_errors=True)
    new, fixed = compare(base_report, head_report)
    return DiffResult(base_rev=base_rev, head_rev=head_rev, base_commit=base_commit, head_commit=head_commit,
                      toplevel=top, changed_files=changed, headers=ordered, base=base_report, head=head_report,
                      new=new, fixed=fixed, head_tree=head_tree,
                      head_overlay=scratch / "head-settings" / "overlay" if head_commit is not None else None)


def _prefixes(settings: Settings, root: Path, paths: Sequence[str]) -> list[str]:
    chosen = list(paths) or list(settings.paths)
    out: list[str] = []
    for given in chosen:
        path = Path(given)
        absolute = path if path.is_absolute() else (Path.cwd() / path if paths else root / path)
        try:
            out.append(Path(os.path.normpath(absolute)).resolve().relative_to(root).as_posix())
        except ValueError:
            raise UsageError("path is outside the root", path=given) from None
    return out


# -- rendering ------------------------------------------------------------------------------------------------


def _short(commit: str | None) -> str:
    return commit[:12] if commit else "uncommitted"


def _moved_back(text: str, worktree: Path, top: Path) -> str:
    """``text`` with a leading worktree path turned into the same path in the user's checkout."""
    prefix = str(worktree)
    for option in ("", *_DIR_OPTIONS, *_FILE_OPTIONS):  # a plain path, or a joined option: -I/path
        rest = text[len(option):]
        if text.startswith(option) and (rest == prefix or rest.startswith(prefix + "/")):
            return option + str(top) + rest[len(prefix):]
    return text


def user_command(command: Sequence[str], worktree: Path, top: Path, overlay: Path | None) -> list[str]:
    """A worktree compile as it reads in the user's checkout: paths moved back, the overlay dropped
    (the checkout has its generated files in place)."""
    out: list[str] = []
    index = 0
    while index < len(command):
        arg = command[index]
        if overlay is not None and arg in _DIR_OPTIONS and index + 1 < len(command) and \
                (command[index + 1] == str(overlay) or command[index + 1].startswith(str(overlay) + "/")):
            index += 2
            continue
        out.append(_moved_back(arg, worktree, top))
        index += 1
    return out


def reproducer(diff: DiffResult, result: Result) -> list[str]:
    """Steps that rebuild the failing compile in the user's own checkout."""
    steps: list[str] = []
    command = shlex.join(result.command)
    directory = str(result.job.directory)
    if diff.head_commit is not None and diff.head_tree is not None:
        command = shlex.join(user_command(result.command, diff.head_tree, diff.toplevel, diff.head_overlay))
        directory = _moved_back(directory, diff.head_tree, diff.toplevel)
        steps.append(f"git checkout {shlex.quote(diff.head_rev or diff.head_commit)}")
    if result.job.variant.defines:
        steps.append("# with a forced header holding: " + "; ".join(
            f"#undef {n}" + (f" #define {n} {v}" if v is not None else "") for n, v in result.job.variant.defines))
    steps.append(f"cd {shlex.quote(directory)} && {command}")
    return steps


def _compiler(diff: DiffResult) -> str:
    from .toolchain import probe

    results = diff.head.results or diff.base.results
    if not results:
        return "none run"
    job = results[0].job
    try:
        return probe(job.compiler, job.directory).version
    except Exception:  # noqa: BLE001 - the header block is informational
        return job.compiler


def _error_lines(result: Result, new: list[Diagnostic]) -> list[str]:
    new_ids = {id(d) for d in new}
    lines: list[str] = []
    for diag in result.diagnostics:
        rendered = render_gcc_style(diag)
        if not diag.is_error:
            lines.extend("   " + line for line in rendered)
            continue
        located = len(rendered) - 1 - len(diag.children)  # the diagnostic's own line, after its include chain
        for index, line in enumerate(rendered):
            marker = ">> " if index == located and id(diag) in new_ids else "   "
            lines.append(marker + line)
        for note in diag.notes:
            place = (note.file or diag.file) + (f":{note.line}" if note.line else "")
            lines.append(f"   {place}: note: {note.message}")
    return lines


def render_text(diff: DiffResult) -> str:
    verdict = "ERROR" if diff.new else "OK"
    head = diff.head_rev or "the working tree"
    lines = [f"[auto build test {verdict} on {diff.base_rev}]", ""]
    lines.append(f"tree:     {diff.toplevel}")
    lines.append(f"base:     {diff.base_rev} ({_short(diff.base_commit)})")
    lines.append(f"head:     {head} ({_short(diff.head_commit)})")
    lines.append(f"compiler: {_compiler(diff)}")
    skipped = len(diff.head.skipped)
    lines.append(f"headers:  {len(diff.headers)} affected by {len(diff.changed_files)} changed file(s), "
                 f"{diff.head.headers_checked} checked" + (f", {skipped} skipped" if skipped else ""))
    lines.append("")
    if diff.new:
        lines.append("All errors (new ones prefixed by >>):")
        lines.append("")
        for change in diff.new:
            job = change.result.job
            lines.append(f"   {job.display} [{job.language}] in {job.variant.describe()}:")
            lines.extend(_error_lines(change.result, change.errors))
            lines.append("")
            lines.append("reproduce:")
            lines.extend("        " + step for step in reproducer(diff, change.result))
            lines.append("")
    if diff.fixed:
        lines.append("Fixed by the change:")
        lines.append("")
        for change in diff.fixed:
            job = change.result.job
            state = "now compiles alone" if change.now_passes else "still fails, with other errors"
            lines.append(f"   {job.display} [{job.language}] in {job.variant.describe()}: {state}")
            for diag in change.errors:
                lines.extend("   -" + line for line in render_gcc_style(diag, chain=False)[:1])
            lines.append("")
    new_errors = sum(len(c.errors) for c in diff.new)
    fixed_errors = sum(len(c.errors) for c in diff.fixed)
    lines.append(f"hdrtest diff: {new_errors} new error(s) in {len(diff.new)} header check(s), {fixed_errors} "
                 f"fixed in {len(diff.fixed)}, {diff.still_failing} failing as before (not shown)")
    return "\n".join(lines) + "\n"


def diff_dict(diff: DiffResult) -> dict[str, Any]:
    from .report.serialize import diagnostic_dict, result_dict

    def change(c: Change) -> dict[str, Any]:
        return {"result": result_dict(c.result), "errors": [diagnostic_dict(d) for d in c.errors],
                "now_passes": c.now_passes}

    return {
        "schema": "hdrtest-diff/1",
        "base": {"rev": diff.base_rev, "commit": diff.base_commit},
        "head": {"rev": diff.head_rev, "commit": diff.head_commit},
        "changed_files": diff.changed_files,
        "headers": diff.headers,
        "new": [change(c) for c in diff.new],
        "fixed": [change(c) for c in diff.fixed],
        "still_failing": diff.still_failing,
    }


def render_json(diff: DiffResult) -> str:
    return json.dumps(diff_dict(diff), indent=2, ensure_ascii=False) + "\n"
