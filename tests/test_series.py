"""``hdrtest series`` and ``hdrtest bisect`` on generated git repositories.

The header breaks only in a configuration variant (its ``#else`` stub is removed while
the baseline has the option on), as in the KVM/GVT case: the baseline compile alone
would never see it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hdrtest import bisect, series
from hdrtest.report import series as series_report
from hdrtest.settings import Settings

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_NOSYSTEM": "1"}
SRC = Path(__file__).resolve().parents[1] / "src"

TRACK_STUBBED = """#pragma once
#ifdef CONFIG_TRACK
struct track_node { int id; };
#else
struct track_node {};
#endif
"""
TRACK_UNSTUBBED = """#pragma once
#ifdef CONFIG_TRACK
struct track_node { int id; };
#endif
"""
USER = '#pragma once\n#include "track.h"\nstruct user { struct track_node node; };\n'


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                         env=dict(os.environ, **GIT_ENV), timeout=60)
    return out.stdout


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD").strip()


def base_repo(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    base = commit(root, {"inc/track.h": TRACK_STUBBED, "inc/user.h": USER, "inc/other.h": "#pragma once\n"}, "base")
    return root, base


def settings_for(repo: Path) -> Settings:
    # CONFIG_TRACK on in the baseline: only the variant that turns it off shows the missing stub.
    return Settings(root=repo, jobs=2, no_cache=True, cflags=("-Iinc", "-DCONFIG_TRACK=1"))


def snapshot(repo: Path) -> tuple[str, ...]:
    return (git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain", "--ignored"),
            git(repo, "worktree", "list", "--porcelain"), git(repo, "for-each-ref"), git(repo, "stash", "list"))


@pytest.fixture()
def broken_then_fixed(tmp_path: Path) -> tuple[Path, list[str]]:
    """Five commits: 2 removes the stub (breaks user.h when CONFIG_TRACK is off), 4 puts it back."""
    repo, base = base_repo(tmp_path)
    shas = [commit(repo, {"inc/other.h": "#pragma once\nstruct other { int a; };\n"}, "one: unrelated"),
            commit(repo, {"inc/track.h": TRACK_UNSTUBBED}, "two: drop the stub"),
            commit(repo, {"README": "docs\n"}, "three: docs only"),
            commit(repo, {"inc/track.h": TRACK_STUBBED}, "four: restore the stub"),
            commit(repo, {"inc/other.h": "#pragma once\nstruct other { int a, b; };\n"}, "five: unrelated")]
    return repo, [base, *shas]


def test_series_names_the_breaking_and_the_fixing_commit(broken_then_fixed: tuple[Path, list[str]],
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, shas = broken_then_fixed
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    before = snapshot(repo)
    found = series.run_series(settings_for(repo), shas[0], "HEAD")
    assert snapshot(repo) == before  # no worktree, branch, ref or stash left, HEAD and status unchanged
    assert not list(scratch.glob("hdrtest-series-*"))

    assert [s.commit for s in found.steps] == shas[1:]
    broke = {s.commit: [(c.result.job.display, c.result.job.variant.name) for c in s.new] for s in found.steps}
    assert broke[shas[2]] == [("inc/user.h", "CONFIG_TRACK=n")]
    assert all(not broke[sha] for sha in shas if sha not in (shas[0], shas[2]))
    fixed = {s.commit: [(c.result.job.display, c.now_passes) for c in s.fixed] for s in found.steps}
    assert fixed[shas[4]] == [("inc/user.h", True)]
    assert found.still_broken == []  # HEAD is clean
    assert not found.bisectable
    # Commit 3 touches no header: nothing to compile there.
    assert found.steps[2].headers == []

    text = series_report.render_text(found)
    assert "breaks" in text.splitlines()[0] or "=== [2/5]" in text
    two = text.split("=== [2/5]")[1].split("=== [3/5]")[0]
    assert "two: drop the stub: breaks" in two
    assert ">> inc/user.h:" in two.replace("\u2018", "'").replace("\u2019", "'")
    assert "CONFIG_TRACK=n" in two and "reproduce:" in two and f"git checkout {shas[2][:12]}" in two
    assert "all repaired by the end of the series, but it does not bisect" in text


def test_series_reports_in_every_format(broken_then_fixed: tuple[Path, list[str]]) -> None:
    repo, shas = broken_then_fixed
    found = series.run_series(settings_for(repo), shas[0], "HEAD")
    data = json.loads(series_report.render_json(found))
    assert [c["commit"] for c in data["commits"]] == shas[1:]
    assert data["commits"][1]["new"][0]["result"]["header"] == "inc/user.h"
    assert data["bisectable"] is False and data["still_broken"] == []
    sarif = json.loads(series_report.render_sarif(found))
    results = sarif["runs"][0]["results"]
    assert {r["properties"]["commit"] for r in results} == {shas[2]}
    assert all(r["baselineState"] == "new" for r in results)
    junit = ET.fromstring(series_report.render_junit(found))
    suites = junit.findall("testsuite")
    assert [s.get("name", "").split()[0] for s in suites] == [sha[:12] for sha in shas[1:]]
    assert [s.get("failures") for s in suites] == ["0", "1", "0", "0", "0"]


def test_series_and_bisect_find_the_commit_that_breaks_for_good(tmp_path: Path) -> None:
    repo, base = base_repo(tmp_path)
    shas = [commit(repo, {"inc/other.h": "#pragma once\nstruct other { int a; };\n"}, "one"),
            commit(repo, {"README": "x\n"}, "two"),
            commit(repo, {"inc/track.h": TRACK_UNSTUBBED}, "three: drop the stub"),
            commit(repo, {"README": "y\n"}, "four"),
            commit(repo, {"inc/other.h": "#pragma once\nstruct other { long a; };\n"}, "five")]
    found = series.run_series(settings_for(repo), base, "HEAD")
    assert [(b.key[0], b.key[2], b.commit) for b in found.still_broken] == [
        ("inc/user.h", "CONFIG_TRACK=n", shas[2])]
    assert f"first broken by {shas[2][:12]} three: drop the stub" in series_report.render_text(found)

    before = snapshot(repo)
    first = bisect.run_bisect(settings_for(repo), base, "HEAD", str(repo / "inc/user.h"), variant="CONFIG_TRACK=n")
    assert snapshot(repo) == before
    assert first.first_bad.sha == shas[2]
    assert first.result.status.failed and first.variant.name == "CONFIG_TRACK=n"
    assert first.probes < 2 + len(shas)  # a search, not a walk
    assert series_report.render_bisect(first).startswith(f"{shas[2][:12]} is the first bad commit")


def _cli(repo: Path, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(SRC), NO_COLOR="1", **(extra_env or {}))
    # A test run started with SIGINT ignored must not hand that on to the hdrtest it starts.
    launcher = "import signal, sys, runpy; signal.signal(signal.SIGINT, signal.SIG_DFL); " \
               "sys.argv = ['hdrtest'] + sys.argv[1:]; runpy.run_module('hdrtest.cli', run_name='__main__')"
    return subprocess.Popen([sys.executable, "-c", launcher, *args], cwd=repo, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_cli_series_and_bisect_exit_codes(broken_then_fixed: tuple[Path, list[str]]) -> None:
    repo, shas = broken_then_fixed
    common = ("--cflags=-Iinc -DCONFIG_TRACK=1", "--no-cache", "-q")
    proc = _cli(repo, "series", f"{shas[0]}..HEAD", *common)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert "two: drop the stub: breaks" in out
    clean = _cli(repo, "series", f"{shas[3]}..HEAD", *common)
    out, err = clean.communicate(timeout=300)
    assert clean.returncode == 0, err
    bad = _cli(repo, "series", "nope..HEAD", *common)
    _, err = bad.communicate(timeout=60)
    assert bad.returncode == 2 and "unknown revision 'nope'" in err
    # Pre-push: the range comes from pre-commit's variables.
    hook = _cli(repo, "series", *common, extra_env={"PRE_COMMIT_FROM_REF": shas[1], "PRE_COMMIT_TO_REF": shas[3]})
    out, err = hook.communicate(timeout=300)
    assert hook.returncode == 1 and "=== [2/2]" in out, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_series_leaves_nothing_in_the_repository(tmp_path: Path, sig: signal.Signals) -> None:
    repo, base = base_repo(tmp_path)
    for number in range(6):
        commit(repo, {f"inc/h{number}.h": f"#pragma once\nstruct h{number} {{ int a; }};\n"}, f"add h{number}")
    # A compiler that takes its time, so the signal arrives mid-series.
    slow = tmp_path / "slowcc"
    slow.write_text("#!/bin/sh\nsleep 0.5\nexec gcc \"$@\"\n")
    slow.chmod(0o755)
    before = snapshot(repo)
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = _cli(repo, "series", f"{base}..HEAD", "--cc", str(slow), "--cflags=-Iinc", "--no-cache", "-q",
                extra_env={"TMPDIR": str(temp)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(temp.glob("hdrtest-series-*/tree/inc")):
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert snapshot(repo) == before
    assert not list(temp.glob("hdrtest-series-*"))
