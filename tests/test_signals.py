"""Leftovers (item 16, and item 17's signal): SIGTERM, SIGHUP or Ctrl-C end every compiler hdrtest started,
remove its temporary directories and git worktrees, and put back an unverified fix.

hdrtest runs as a real process on a tree whose compiler is a slow wrapper script; the
wrapper records its own pid and its ``sleep``'s, so the test can tell whether anything
the run started outlives it.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import tree_hashes, write_tree

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_NOSYSTEM": "1"}

#: Starts hdrtest with the stop signals at their defaults and unblocked, whatever the test runner set.
LAUNCHER = (
    "import runpy, signal, sys\n"
    "stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)\n"
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)\n"
    "for s in stops:\n"
    "    signal.signal(s, signal.SIG_DFL)\n"
    "sys.argv = ['hdrtest', *sys.argv[1:]]\n"
    "runpy.run_module('hdrtest', run_name='__main__', alter_sys=True)\n"
)

#: A compiler that is slow on the compiles $SLOW names: "check" (a header's check: it names a .h; the
#: compiler probe does not), "fixed" (a check of a header that holds the suggested #include).
WRAPPER = r"""#!/bin/sh
slow=
for a in "$@"; do
  case "$SLOW:$a" in
    check:*.h) slow=1 ;;
  esac
  if [ "$SLOW" = fixed ] && [ -f "$a" ] && grep -q 'include "types.h"' "$a" 2>/dev/null; then slow=1; fi
done
if [ -n "$slow" ]; then
  echo $$ >> "$PIDS"
  sleep 120 &
  echo $! >> "$PIDS"
  wait
fi
exec gcc "$@"
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env=dict(os.environ, **GIT_ENV), timeout=60).stdout


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class Session:
    """One hdrtest process in its own session, with a private TMPDIR, cache and pid log."""

    def __init__(self, tmp: Path, cwd: Path, args: list[str], slow: str) -> None:
        self.tmpdir = tmp / "tmpdir"
        self.tmpdir.mkdir()
        self.pids = tmp / "pids"
        self.pids.write_text("")
        env = dict(os.environ, TMPDIR=str(self.tmpdir), XDG_CACHE_HOME=str(tmp / "cache"), PIDS=str(self.pids),
                   SLOW=slow, NO_COLOR="1", **GIT_ENV)
        self.proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, *args], cwd=cwd, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)

    def started(self) -> list[int]:
        return [int(line) for line in self.pids.read_text().split()]

    def wait_for_slow(self, count: int, also: object = None) -> None:
        deadline = time.monotonic() + 120
        while len(self.started()) < count or (callable(also) and not also()):
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"hdrtest ended before the slow compiles: {out}\n{err}")
            assert time.monotonic() < deadline, "the slow compiles never started"
            time.sleep(0.05)

    def stop(self, signum: int) -> tuple[int, str]:
        self.proc.send_signal(signum)
        _, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, err

    def leftovers(self) -> list[str]:
        """Processes the run started that still live, and what it left in its TMPDIR."""
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in self.started()) and time.monotonic() < deadline:
            time.sleep(0.05)
        found = [f"pid {p}" for p in self.started() if _alive(p)]
        sessions = subprocess.run(["ps", "-e", "-o", "pid=,sid="], capture_output=True, text=True,
                                  check=True).stdout.split("\n")
        found += [f"pid {line.split()[0]} in the session" for line in sessions
                  if len(line.split()) == 2 and int(line.split()[1]) == self.proc.pid]
        found += [f"temporary {p.name}" for p in self.tmpdir.iterdir()]
        return found

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate()
        for pid in self.started():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture()
def sessions() -> Iterator[list[Session]]:
    started: list[Session] = []
    yield started
    for session in started:
        session.kill()


def _wrapper(tmp: Path) -> Path:
    path = tmp / "slowcc"
    path.write_text(WRAPPER)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


HEADERS = {f"inc/h{i}.h": f"#ifndef H{i}\n#define H{i}\nstruct h{i} {{ int v; }};\n#endif\n" for i in range(4)}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_check_stopped_by_a_signal_leaves_nothing(tmp_path: Path, sessions: list[Session], signum: int) -> None:
    tree = write_tree(tmp_path / "tree", HEADERS)
    cc = _wrapper(tmp_path)
    session = Session(tmp_path, tree, ["check", "-q", "--no-cache", "-j", "2", "--variants", "none", "--cc", str(cc),
                                       "inc"], slow="check")
    sessions.append(session)
    session.wait_for_slow(4)  # two compiles, each a shell and its sleep
    code, err = session.stop(signum)
    assert code == 130, err
    assert "Traceback" not in err
    assert session.leftovers() == []


def test_planning_that_fails_while_baselines_compile_leaves_no_orphan(tmp_path: Path, sessions: list[Session]) -> None:
    """Variants are planned while the baselines compile: a planning error (here an unreadable Kconfig) ends the
    run at once with its exit code, and takes the baseline compiles along."""
    tree = write_tree(tmp_path / "tree", HEADERS)
    cc = _wrapper(tmp_path)
    session = Session(tmp_path, tree, ["check", "-q", "--no-cache", "-j", "2", "--kconfig", "missing/Kconfig",
                                       "--cc", str(cc), "inc"], slow="check")
    sessions.append(session)
    started = time.monotonic()
    _, err = session.proc.communicate(timeout=100)
    assert session.proc.returncode == 2, err
    assert "Kconfig file not found" in err
    assert time.monotonic() - started < 60, "waited for the slow baseline compiles"
    assert session.leftovers() == []


def test_diff_stopped_by_sigterm_leaves_no_worktree(tmp_path: Path, sessions: list[Session]) -> None:
    repo = write_tree(tmp_path / "repo", HEADERS)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    for name in HEADERS:
        (repo / name).write_text((repo / name).read_text() + "/* touched */\n")
    git(repo, "commit", "-qam", "two")
    before = git(repo, "worktree", "list", "--porcelain")
    cc = _wrapper(tmp_path)
    session = Session(tmp_path, repo, ["diff", "HEAD~1", "HEAD", "-q", "--no-cache", "-j", "2", "--variants", "none",
                                       "--cc", str(cc)], slow="check")
    sessions.append(session)
    session.wait_for_slow(4)
    code, err = session.stop(signal.SIGTERM)
    assert code == 130, err
    assert session.leftovers() == []
    assert git(repo, "worktree", "list", "--porcelain") == before
    assert git(repo, "status", "--porcelain") == ""


def test_fix_apply_stopped_during_the_recheck_restores_the_file(tmp_path: Path, sessions: list[Session]) -> None:
    tree = write_tree(tmp_path / "tree", {
        "hdrtest.toml": 'variants = "none"\n',
        "types.h": "#ifndef TYPES_H\n#define TYPES_H\nstruct pt { int x; };\n#endif\n",
        "a.h": "#ifndef A_H\n#define A_H\nstruct a { struct pt p; };\n#endif\n",
    })
    before = tree_hashes(tree)
    cc = _wrapper(tmp_path)
    session = Session(tmp_path, tree, ["fix", "-q", "--no-cache", "--apply", "--cc", str(cc), "a.h"], slow="fixed")
    sessions.append(session)
    session.wait_for_slow(2, also=lambda: "types.h" in (tree / "a.h").read_text())  # applied, re-check running
    code, err = session.stop(signal.SIGTERM)
    assert code == 130, err
    assert tree_hashes(tree) == before  # the unverified edit is gone, and no temporary file is left
    assert session.leftovers() == []
