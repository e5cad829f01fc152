"""The one git wrapper: every git hdrtest runs goes through ``git()``.

A repository's own configuration can run programs: hooks, an fsmonitor daemon, diff
``textconv`` filters and external diff drivers.  hdrtest reads the repository on the
user's behalf, often in a pre-commit or CI step, so none of them may run: they are
switched off on every call, the same way for every caller.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError
from ..toolchain.run import Completed, run

#: Configuration that keeps the repository's own programs from running.
_SAFE = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "diff.external=",
         "-c", "core.pager=cat", "-c", "color.ui=false")
#: Subcommands that can run textconv or external diff drivers unless told not to.
_DIFFING = dict.fromkeys(("diff", "show", "log"), ("--no-ext-diff", "--no-textconv"))
#: One deadline for every call: worktree add of a large tree is the slowest thing we ask.
TIMEOUT = 600.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GIT_EXTERNAL_DIFF", "GIT_PAGER", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")}
    env["GIT_OPTIONAL_LOCKS"] = "0"  # reading must not take the index lock a user's git may want
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def git(cwd: Path, *args: str, check: bool = True, why: str = "") -> Completed:
    """Run ``git -C cwd ARGS`` with the repository's programs disabled.

    With ``check``, a failure is a one-line UsageError naming ``cwd`` (``why`` says what
    hdrtest needed git for); without it the caller reads the return code.
    """
    if args and args[0] in _DIFFING:
        args = (args[0], *_DIFFING[args[0]], *args[1:])
    argv = ["git", *_SAFE, "-C", str(cwd), *args]
    try:
        done = run(argv, timeout=TIMEOUT, env=_env())
    except FileNotFoundError:
        raise UsageError("git is not installed", path=cwd, hint=why or "install git") from None
    except OSError as exc:
        raise UsageError(f"cannot run git: {exc.strerror}", path=cwd, hint=why or "install git") from None
    if done.timed_out:
        raise UsageError(f"'git {' '.join(args)}' did not finish in {TIMEOUT:g} s", path=cwd)
    if check and done.returncode != 0:
        lines = done.err.strip().splitlines()
        message = lines[-1] if lines else f"exit code {done.returncode}"
        raise UsageError(f"git {args[0] if args else ''} failed: {message}", path=cwd, hint=why or None)
    return done


def text(done: Completed) -> str:
    """Git's output as text; file names that are not UTF-8 survive a round trip (surrogateescape)."""
    return done.stdout.decode("utf-8", "surrogateescape")


def toplevel(start: Path) -> Path | None:
    """The work tree holding ``start``, or None outside git (or without git)."""
    directory = start if start.is_dir() else start.parent
    try:
        done = git(directory, "rev-parse", "--show-toplevel", check=False)
    except UsageError:
        return None
    out = text(done).strip()
    return Path(out) if done.returncode == 0 and out else None


def commit_of(top: Path, rev: str) -> str | None:
    """The commit ``rev`` names, or None when it names none."""
    done = git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", check=False)
    out = text(done).strip()
    return out if done.returncode == 0 and out else None


def _names(done: Completed) -> set[str]:
    return {name for name in text(done).split("\0") if name}


def changed_paths(top: Path, base: str, head: str | None = None, *, why: str = "") -> list[str]:
    """Paths (relative to ``top``) that differ between ``base`` and ``head``.

    Without ``head`` it is the work tree: modified, added, deleted, and untracked files
    that are not ignored.  The one answer behind ``--changed-since`` and ``diff``.
    """
    names = _names(git(top, "diff", "--name-only", "--no-renames", "-z", base, *([head] if head else []), "--",
                       why=why))
    if head is None:
        names |= _names(git(top, "ls-files", "--others", "--exclude-standard", "-z", why=why))
    return sorted(names)
