"""The build robot's job before sending: a patch series checked commit by commit.

``hdrtest diff`` compares two trees; a series needs every step, because the robot
reports the commit that broke a header, and a series whose second commit breaks what
its fourth repairs does not bisect.  One private worktree walks the series, so every
compile of a step runs at the same paths as the step before it and the result cache
answers whatever the previous step already compiled: a 20-commit series costs little
more than the headers its commits touch.

Nothing is written into the user's repository but the worktree's registration, which
is removed on the way out, signals included (the CLI turns SIGTERM and SIGHUP into the
same unwinding as Ctrl-C).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import diffmode
from .baseline import ResultKey, result_key
from .check import ProgressCallback
from .diffmode import DiffResult
from .errors import UsageError
from .graph import vcs
from .models import Result, Status
from .settings import Settings
from .store.results import ResultCache


@dataclass
class Step(DiffResult):
    """One commit of the series against its parent: a ``hdrtest diff`` of the two, and the subject line."""

    subject: str = ""

    @property
    def commit(self) -> str:
        assert self.head_commit is not None
        return self.head_commit


@dataclass(frozen=True)
class Breakage:
    """A header check still failing at the end of the series, and the commit that first broke it."""

    key: ResultKey
    commit: str
    subject: str
    result: Result  # as it failed in that commit


@dataclass
class SeriesResult:
    base_rev: str
    head_rev: str
    base_commit: str
    toplevel: Path
    steps: list[Step]
    #: Broken by a commit of the series and still broken at its end: the bisectability verdict.
    still_broken: list[Breakage]

    @property
    def bisectable(self) -> bool:
        """Every commit compiles what its parent compiled: no step breaks a header, even one a later step fixes."""
        return not any(step.has_new_failures for step in self.steps)


@dataclass(frozen=True)
class Commit:
    sha: str
    parent: str
    subject: str


def commits_between(top: Path, base: str, head: str) -> list[Commit]:
    """The first-parent chain BASE..HEAD, oldest first (a merge is one step, as the robot sees it)."""
    # rev-list, not log: plumbing reads no log.* configuration (log.showSignature adds lines).
    out = vcs.text(vcs.git(top, "rev-list", "--reverse", "--first-parent", "--format=%H%x00%P%x00%s",
                           f"{base}..{head}", "--", why="hdrtest series walks git history"))
    commits: list[Commit] = []
    for line in out.splitlines():
        fields = line.split("\0")  # rev-list's own "commit SHA" lines have none
        if len(fields) == 3 and fields[1]:  # a root commit has no parent to compare with
            commits.append(Commit(fields[0], fields[1].split()[0], fields[2]))
    return commits


def checkout(tree: Path, commit: str) -> None:
    vcs.git(tree, "checkout", "--detach", "--quiet", "--force", commit, why="hdrtest series checks out each commit")


def _step(commit: Commit, top: Path, tree: Path, settings: Settings, affected: Callable[[list[str]], set[str]],
          cache: ResultCache | None, progress: ProgressCallback | None) -> Step:
    """``commit`` against its parent in the worktree ``tree`` (``settings`` point at it), which is left at
    ``commit``; ``affected``: the selection ``check --changed-since`` and ``diff`` make, in the tree as it is."""
    changed = vcs.changed_paths(top, commit.parent, commit.sha, why="hdrtest series compares commits")
    # Headers the change can reach on either side: one it deletes exists only before it, one it adds after.
    headers = affected(changed)
    checkout(tree, commit.sha)
    headers |= affected(changed)
    ordered = sorted(headers)
    after = diffmode.check_tree(settings, ordered, progress, explain=True, cache=cache)
    checkout(tree, commit.parent)
    before = diffmode.check_tree(settings, ordered, progress, explain=False, cache=cache)
    diffmode.add_counterparts(before, after, settings, cache=cache, progress=progress)
    checkout(tree, commit.sha)
    diffmode.add_counterparts(after, before, settings, cache=cache, progress=progress)
    new, fixed = diffmode.compare(before, after)
    return Step(base_rev=commit.parent[:12], head_rev=commit.sha[:12], base_commit=commit.parent,
                head_commit=commit.sha, toplevel=top, changed_files=changed, headers=ordered, base=before,
                head=after, new=new, fixed=fixed, head_tree=tree, subject=commit.subject)


def _still_broken(steps: Sequence[Step]) -> list[Breakage]:
    """Checks a step broke and no later step repaired, with the step that first broke them."""
    open_breaks: dict[ResultKey, Breakage] = {}
    for step in steps:
        for change in step.new:
            key = result_key(change.result)
            if key not in open_breaks:
                open_breaks[key] = Breakage(key, step.commit, step.subject, change.result)
        # A later check of the header that passes closes it: a fix that now passes (``Change.now_passes``), or a pass
        # that is no "fixed" entry (no error before).
        for result in step.head.results:
            if result.status is Status.PASS:
                open_breaks.pop(result_key(result), None)
    return list(open_breaks.values())


def run_series(settings: Settings, base_rev: str, head_rev: str, *, paths: Sequence[str] = (),
               cache: ResultCache | None = None, progress: ProgressCallback | None = None) -> SeriesResult:
    """Check every commit of BASE..HEAD against its parent; see the module docstring."""
    root, top, rel_root = diffmode.located(settings)
    base_commit = diffmode._commit(top, base_rev)
    head_commit = diffmode._commit(top, head_rev)
    commits = commits_between(top, base_commit, head_commit)
    if not commits:
        raise UsageError(f"no commits in {base_rev}..{head_rev}", path=top,
                         hint="name a base that HEAD descends from")
    prefixes = diffmode._prefixes(settings, root, paths)
    config = diffmode.config_names(settings, top)
    with diffmode.private_worktree(settings, top, base_commit, "hdrtest-series-") as (tree, tree_settings):
        affected = functools.partial(diffmode.affected_in, tree, tree_settings, rel_root, config=config,
                                     prefixes=prefixes)
        steps = [_step(commit, top, tree, tree_settings, affected, cache, progress) for commit in commits]
    return SeriesResult(base_rev, head_rev, base_commit, top, steps, _still_broken(steps))
