"""``hdrtest diff BASE [HEAD]``: what a change broke or fixed, as the kernel's build robot reports it.

Both revisions are checked out in private ``git worktree``s (HEAD may instead be the
user's working tree, which is only read), the headers the change can affect are checked
in both with the same settings, and errors are compared by the baseline's identity; only
differences are reported: errors new in HEAD (``>>``), and errors HEAD no longer has.

The compile database holds absolute paths of the user's tree, and generated headers
(``include/generated``) are usually ignored by git, so a worktree lacks them.  Paths in
the flags are moved by prefix into the worktree (no option is interpreted), and the
worktree links each ignored header of the user's checkout where the revision has none.  Which headers to check is the selection
``check --changed-since`` makes (``graph.affected``), in each revision.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from . import compdb
from .baseline import ensure_classified, error_diagnostics, error_keys, result_key
from .baseline import new_errors as baseline_new_errors
from .check import ProgressCallback, check, paths_to_check, run_planned
from .discover import discover, language_of
from .errors import UsageError
from .graph import vcs
from .graph.affected import config_files, select_jobs
from .models import CheckReport, Diagnostic, Job, Result, Status
from .plan import baseline_jobs, compile_database, flag_source
from .settings import Settings
from .store.results import ResultCache

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

    @property
    def has_new_failures(self) -> bool:
        return bool(self.new)

    @property
    def still_failing(self) -> int:
        new_keys = {result_key(c.result) for c in self.new}
        return sum(1 for r in self.head.failures if result_key(r) not in new_keys)


# -- git -------------------------------------------------------------------------------------------------------


_WHY = "hdrtest diff compares git revisions"


def toplevel(start: Path) -> Path:
    out = vcs.text(vcs.git(start, "rev-parse", "--show-toplevel", check=False, why=_WHY)).strip()
    if not out:
        raise UsageError("not inside a git repository", path=start, hint=_WHY)
    return Path(out).resolve()


def located(settings: Settings) -> tuple[Path, Path, str]:
    """The checked root, the repository's top level, and the root relative to it."""
    root = settings.root.resolve()
    top = toplevel(root)
    if not root.is_relative_to(top):
        raise UsageError("the root is outside the git repository", path=root)
    return root, top, root.relative_to(top).as_posix()


def _commit(top: Path, rev: str) -> str:
    commit = vcs.commit_of(top, rev)
    if commit is None:
        raise UsageError(f"unknown revision '{rev}'", path=top, hint="name a commit, branch or tag")
    return commit


# -- which headers a change affects ---------------------------------------------------------------------------


def affected_in(top: Path, settings: Settings, rel_root: str, changed: Sequence[str], config: set[str],
                prefixes: Sequence[str]) -> set[str]:
    """Root-relative headers of one revision's files (``top``: the repository's top level there, ``settings``
    pointed at it) that the change can affect: the selection ``--changed-since`` makes (``graph.affected``),
    with the revision's own flags."""
    root = settings.root  # spelled as the settings spell it, so changed files and discovered headers share one spelling
    prefix = "" if rel_root in ("", ".") else rel_root.rstrip("/") + "/"

    def path(name: str) -> Path:
        inside = prefix == "" or name.startswith(prefix)
        return Path(os.path.normpath(root / name[len(prefix):] if inside else top / name))

    headers, _ = discover(paths_to_check(settings, [str(root / p) for p in prefixes]), settings)
    jobs = baseline_jobs(headers, settings, flag_source(settings))
    selected = select_jobs(jobs, [path(name) for name in changed], config=[path(name) for name in config])
    return {job.display for job in selected}


def config_names(settings: Settings, top: Path) -> set[str]:
    """Repository-relative files whose change affects every header (``graph.affected.config_files``)."""
    resolved = [Path(os.path.normpath(path)).resolve() for path in config_files(settings)]
    return {path.relative_to(top).as_posix() for path in resolved if path.is_relative_to(top)}


# -- settings rebased onto a worktree -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rebase:
    """Maps paths of the user's checkout (``old``) into a worktree (``new``).

    The worktree holds, as symbolic links, the files the user's checkout has but git
    ignores (generated headers, see ``mirror_generated``), so a revision sees its own
    tracked files plus the build's output, never the user's edits.
    """

    old: Path
    new: Path

    def inside(self, path: Path) -> Path | None:
        return self.new / path.relative_to(self.old) if path.is_relative_to(self.old) else None

    def file(self, path: Path) -> Path:
        """The worktree's copy; the user's file when only the user's checkout has it (a build's output)."""
        moved = self.inside(path)
        return moved if moved is not None and (moved.exists() or not path.exists()) else path

    def text(self, value: str) -> str:
        """``value`` with every path into the checkout moved (see ``file``), wherever in the text it is.

        No option is interpreted: relative paths follow the working directory, which moves
        too; absolute ones are moved wherever they appear, so no flag table can misread one
        (``-include-pch`` is not ``-include`` of ``-pch``).
        """
        return _sub_paths(value, self.old, lambda path: str(self.file(Path(path))))


#: What ends a path inside an argument (``-DX="/top/x"``, ``--opt=/top/a,/top/b``).
_PATH_END = "\\s\"',;:="


def _sub_paths(text: str, top: Path, replace_path: Callable[[str], str]) -> str:
    """``text`` with every path under ``top`` replaced: ``-I/top/inc``, ``-include /top/a.h``,
    ``-DX="/top/x"``; not ``/top2/x`` nor ``/elsewhere/top/x`` (a path's middle)."""
    pattern = re.compile(re.escape(str(top)) + f"(?:/[^{_PATH_END}]*)?(?![^{_PATH_END}/])")
    out: list[str] = []
    position = 0
    for match in pattern.finditer(text):
        word_start = max(text.rfind(c, 0, match.start()) for c in " \t\n\"',;:=") + 1
        if "/" in text[word_start:match.start()]:
            continue  # the middle of another path
        out.append(text[position:match.start()])
        out.append(replace_path(match.group(0)))
        position = match.end()
    out.append(text[position:])
    return "".join(out)


#: Build outputs Kconfig needs in a Linux worktree (without auto.conf.cmd: ``make olddefconfig``, seconds a flip).
_BUILD_STATE = frozenset({"include/config/auto.conf.cmd", "include/config/auto.conf", "scripts/kconfig/conf",
                          *(f"scripts/kconfig/{n}" for n in ("lexer.lex.c", "parser.tab.c", "parser.tab.h"))})


def mirror_generated(top: Path, tree: Path, settings: Settings) -> None:
    """Link the ignored (generated) headers of the user's checkout into the worktree where it has none."""
    listed = vcs.text(vcs.git(top, "ls-files", "-z", "--others", "--ignored", "--exclude-standard", why=_WHY))
    for name in listed.split("\0"):
        if not name or (language_of(PurePosixPath(name).name, settings) is None
                        and not name.endswith(_INCLUDABLE_SUFFIXES) and name not in _BUILD_STATE):
            continue
        link = tree / name
        try:
            if not os.path.lexists(link):
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(top / name)
        except OSError:
            continue  # the revision has a file where the build has a directory: its own text wins


def rebase_database(entries: Sequence[compdb.Entry], rebase: Rebase, destination: Path) -> Path:
    """Write the entries (read by ``compdb.load``) rebased onto the worktree, outside the user's tree."""
    rebased: list[dict[str, Any]] = []
    for entry in entries:
        source = rebase.file(entry.file)
        # The compile's working directory in the worktree, made when only the build has it: relative flags must
        # resolve in the worktree, not in the user's checkout.
        directory = rebase.inside(entry.directory)
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        rebased.append({
            "directory": str(directory or entry.directory),
            "file": str(source),
            "arguments": [entry.compiler, *map(rebase.text, entry.flags), "-c", str(source)],
        })
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / "compile_commands.json"
    target.write_text(json.dumps(rebased, indent=1), encoding="utf-8")
    return target


def rebase_settings(settings: Settings, top: Path, tree: Path, scratch: Path) -> Settings:
    """The same settings, pointed at the worktree ``tree`` of the repository at ``top``."""
    database = compile_database(settings)
    mirror_generated(top, tree, settings)
    rebase = Rebase(top, tree)
    root = rebase.inside(settings.root.resolve())
    if root is None:
        raise UsageError("the root is outside the git repository", path=settings.root)
    changes: dict[str, Any] = {
        "root": root,
        "settings_file": rebase.file(settings.settings_file) if settings.settings_file else None,
        "cflags": tuple(map(rebase.text, settings.cflags)),
        "preludes": tuple(map(rebase.text, settings.preludes)),
        "kconfig": rebase.text(settings.kconfig) if settings.kconfig else None,
        "kconfig_config": rebase.text(settings.kconfig_config) if settings.kconfig_config else None,
    }
    if database is not None:
        changes["compile_commands"] = str(rebase_database(compdb.load(database), rebase, scratch))
        # The check looks for an O= build's .config next to the database; the copy has none beside it.
        beside = database.parent / ".config"
        if not settings.kconfig_config and beside.is_file():
            # A build output, git does not track it: the worktree has none, the user's applies to both revisions.
            moved = rebase.file(beside.resolve())
            changes["kconfig_config"] = str(moved if moved.exists() else beside.resolve())
    return replace(settings, **changes)


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


# -- running --------------------------------------------------------------------------------------------------


def add_counterparts(target: CheckReport, source: CheckReport, settings: Settings, *,
                     cache: ResultCache | None = None, progress: ProgressCallback | None = None) -> None:
    """Check ``target``'s tree (``settings``) in the failing variants only ``source`` planned, into its results.

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
            jobs[replace(twin, variant=result.job.variant)] = None
    target.results.extend(run_planned(list(jobs), settings, cache=cache, progress=progress))


def check_tree(settings: Settings, headers: list[str], progress: ProgressCallback | None, *, explain: bool,
               cache: ResultCache | None = None) -> CheckReport:
    present = [str(settings.root / h) for h in headers if (settings.root / h).is_file()]
    if not present:
        return CheckReport(root=settings.root, results=[])
    # The headers are chosen already; --changed-since would filter again against the wrong tree.
    return check(replace(settings, changed_since=None), present, cache=cache, progress=progress, explain=explain)


@contextmanager
def private_worktree(settings: Settings, top: Path, commit: str, prefix: str) -> Iterator[tuple[Path, Settings]]:
    """A detached worktree of ``commit`` in a scratch directory, and ``settings`` pointed at it
    (``rebase_settings``); unregistered on every way out."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    tree = scratch / "tree"
    try:
        vcs.git(top, "worktree", "add", "--detach", "--quiet", str(tree), commit, why=_WHY)
        yield tree, rebase_settings(settings, top, tree, scratch / "settings")
    finally:
        vcs.git(top, "worktree", "remove", "--force", str(tree), check=False)
        # A failed remove (or an add a signal cut short: git may have registered it already) must not leave a
        # registration behind.
        shutil.rmtree(scratch, ignore_errors=True)
        vcs.git(top, "worktree", "prune", check=False)


def run_diff(settings: Settings, base_rev: str, head_rev: str | None, *, paths: Sequence[str] = (),
             progress: ProgressCallback | None = None) -> DiffResult:
    """Check the headers the change BASE..HEAD affects, in both revisions, and compare."""
    root, top, rel_root = located(settings)
    base_commit = _commit(top, base_rev)
    head_commit = _commit(top, head_rev) if head_rev is not None else None
    changed = vcs.changed_paths(top, base_commit, head_commit, why=_WHY)
    prefixes = _prefixes(settings, root, paths)
    config = config_names(settings, top)
    with ExitStack() as worktrees:
        base_tree, base_settings = worktrees.enter_context(private_worktree(settings, top, base_commit, "hdrtest-diff-"))
        head_tree, head_settings = top, settings
        if head_commit is not None:
            head_tree, head_settings = worktrees.enter_context(
                private_worktree(settings, top, head_commit, "hdrtest-diff-"))
        ordered = sorted(affected_in(base_tree, base_settings, rel_root, changed, config, prefixes)
                         | affected_in(head_tree, head_settings, rel_root, changed, config, prefixes))
        # BASE's errors only need their class (``compare`` classifies); HEAD's new ones are explained.
        base_report = check_tree(base_settings, ordered, progress, explain=False)
        head_report = check_tree(head_settings, ordered, progress, explain=True)
        add_counterparts(base_report, head_report, base_settings, progress=progress)
        add_counterparts(head_report, base_report, head_settings, progress=progress)
    new, fixed = compare(base_report, head_report)
    return DiffResult(base_rev=base_rev, head_rev=head_rev, base_commit=base_commit, head_commit=head_commit,
                      toplevel=top, changed_files=changed, headers=ordered, base=base_report, head=head_report,
                      new=new, fixed=fixed, head_tree=head_tree)


def _prefixes(settings: Settings, root: Path, paths: Sequence[str]) -> list[str]:
    """The paths to check (``check.paths_to_check``), relative to the root, to be found again in each revision."""
    out: list[str] = []
    for given, absolute in zip(list(paths) or list(settings.paths) or ["."], paths_to_check(settings, list(paths))):
        try:
            out.append(Path(os.path.normpath(absolute)).resolve().relative_to(root).as_posix())
        except ValueError:
            raise UsageError("path is outside the root", path=given) from None
    return out


# -- the user's checkout ---------------------------------------------------------------------------------------


def moved_back(text: str, worktree: Path, top: Path) -> str:
    """``text`` with every worktree path turned into the same path in the user's checkout."""
    return _sub_paths(text, worktree, lambda path: str(top) + path[len(str(worktree)):])


def user_command(command: Sequence[str], worktree: Path, top: Path) -> list[str]:
    """A worktree compile as it reads in the user's checkout (generated files are in place there)."""
    return [moved_back(arg, worktree, top) for arg in command]
