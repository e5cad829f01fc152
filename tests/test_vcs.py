"""git run by hdrtest never runs the repository's own programs (fsmonitor, textconv, external diff, hooks)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import hdrtest, write_tree

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_NOSYSTEM": "1"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env=dict(os.environ, **GIT_ENV), timeout=60).stdout


def _script(path: Path, marker: Path, tail: str) -> Path:
    path.write_text(f"#!/bin/sh\necho \"$0 $*\" >> {marker}\n{tail}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture()
def hostile_repo(tmp_path: Path) -> tuple[Path, Path]:
    """A repository whose configuration runs programs: an fsmonitor hook, a textconv filter, an external diff."""
    repo = tmp_path / "repo"
    marker = tmp_path / "marker"
    write_tree(repo, {"inc/a.h": "#pragma once\nstruct a { int x; };\n",
                      "inc/b.h": "#pragma once\n#include \"a.h\"\nstruct b { struct a y; };\n",
                      ".gitattributes": "*.h diff=conv\n"})
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    fsmonitor = _script(tmp_path / "fsmonitor", marker, "exit 1")
    textconv = _script(tmp_path / "textconv", marker, "cat \"$1\"")
    external = _script(tmp_path / "extdiff", marker, "exit 0")
    git(repo, "config", "core.fsmonitor", str(fsmonitor))
    git(repo, "config", "diff.conv.textconv", str(textconv))
    git(repo, "config", "diff.external", str(external))
    (repo / "inc" / "a.h").write_text("#pragma once\nstruct a { int x; int z; };\n")
    # The repository really does run them for a plain git: the test would see a marker if hdrtest did too.
    subprocess.run(["git", "-C", str(repo), "diff", "HEAD"], capture_output=True, env=dict(os.environ, **GIT_ENV),
                   check=True, timeout=60)
    subprocess.run(["git", "-C", str(repo), "status"], capture_output=True, env=dict(os.environ, **GIT_ENV),
                   check=True, timeout=60)
    assert marker.exists()
    marker.unlink()
    return repo, marker


def test_changed_since_runs_no_repository_program(hostile_repo: tuple[Path, Path]) -> None:
    repo, marker = hostile_repo
    run = hdrtest("check", "--changed-since", "HEAD", "--format", "json", "-q", "inc", cwd=repo,
                  env={"GIT_CONFIG_NOSYSTEM": "1"})
    assert run.returncode == 0, run.stderr
    assert sorted(r["header"] for r in run.json()["results"]) == ["inc/a.h", "inc/b.h"]
    assert not marker.exists(), marker.read_text()


def test_diff_runs_no_repository_program(hostile_repo: tuple[Path, Path]) -> None:
    repo, marker = hostile_repo
    run = hdrtest("diff", "HEAD", "--variants", "none", "--format", "json", "-q", cwd=repo,
                  env={"GIT_CONFIG_NOSYSTEM": "1"})
    assert run.returncode == 0, run.stderr
    assert run.json()["headers"] == ["inc/a.h", "inc/b.h"]
    assert not marker.exists(), marker.read_text()
