"""``hdrtest bisect GOOD BAD HEADER``: the first commit where a header stops compiling alone.

The search runs over the first-parent chain GOOD..BAD in a private worktree (never the
user's checkout, never ``git bisect``'s refs in the user's repository), compiling one
header in one configuration per probe: the configuration is taken from BAD, where it
must fail, and applied unchanged at every probe, so "first bad" means the same check
each time.  Both ends are verified before the search trusts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import diffmode
from .check import run_planned
from .errors import UsageError
from .models import Job, Result, Variant
from .series import Commit, checkout, commits_between
from .settings import Settings
from .store.results import ResultCache


@dataclass
class BisectResult:
    header: str
    variant: Variant
    good: str
    bad: str
    #: The first commit whose check fails, with its subject, and the failing result there.
    first_bad: Commit
    result: Result
    #: Commits compiled during the search (GOOD and BAD included).
    probes: int


def _job_at(settings: Settings, header: Path, variant_name: str | None, cache: ResultCache | None) -> tuple[Job, Result]:
    """The header's job in the wanted variant at the worktree's current commit, and its result."""
    results = diffmode.check_tree(settings, [str(header)], None, explain=False, cache=cache).results
    if variant_name is None:
        failing = [r for r in results if r.status.failed]
        chosen = failing[0] if failing else next((r for r in results if r.job.variant.is_baseline), None)
    else:
        chosen = next((r for r in results if r.job.variant.name == variant_name), None)
    if chosen is None:
        raise UsageError(f"no check of that header in variant '{variant_name}' at this commit", path=str(header),
                         hint="copy the variant name from a report (JSON 'variant.name')")
    return chosen.job, chosen


def run_bisect(settings: Settings, good: str, bad: str, header: str, *, variant: str | None = None,
               cache: ResultCache | None = None) -> BisectResult:
    _, top, _ = diffmode.located(settings)
    good_commit = diffmode._commit(top, good)
    bad_commit = diffmode._commit(top, bad)
    commits = commits_between(top, good_commit, bad_commit)
    if not commits:
        raise UsageError(f"{bad} does not descend from {good}", path=top, hint="name GOOD before BAD")
    absolute = Path(header).resolve()  # a relative one from the working directory
    if not absolute.is_relative_to(top):
        raise UsageError("the header is outside the git repository", path=header)
    rel_header = absolute.relative_to(top)
    with diffmode.private_worktree(settings, top, bad_commit, "hdrtest-series-") as (tree, tree_settings):
        tree_header = tree / rel_header
        if not tree_header.is_file():
            raise UsageError(f"no such header at {bad}", path=header)
        job, at_bad = _job_at(tree_settings, tree_header, variant, cache)
        if not at_bad.status.failed:
            raise UsageError(f"the header compiles at {bad} in {job.variant.describe()}: nothing to bisect",
                             path=header)
        checkout(tree, good_commit)
        if not tree_header.is_file():
            raise UsageError(f"no such header at {good}", path=header, hint="name a GOOD where the header exists")
        if run_planned([job], tree_settings, cache=cache)[0].status.failed:
            raise UsageError(f"the header fails at {good} too in {job.variant.describe()}", path=header,
                             hint="name an older GOOD")
        probes = 2  # BAD and GOOD
        # Invariant: commits[lo - 1] (or GOOD when lo == 0) passes, commits[hi] fails (as ``failing``).
        lo, hi = 0, len(commits) - 1
        failing: Result = at_bad
        while lo < hi:
            mid = (lo + hi) // 2
            checkout(tree, commits[mid].sha)
            outcome = run_planned([job], tree_settings, cache=cache)[0] if tree_header.is_file() else None
            probes += 1
            if outcome is not None and outcome.status.failed:
                hi, failing = mid, outcome
            else:
                lo = mid + 1
    return BisectResult(str(rel_header), job.variant, good_commit, bad_commit, commits[hi], failing, probes)
