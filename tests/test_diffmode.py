"""``hdrtest diff``: a temporary git repository, a commit that breaks one header and fixes another."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from hdrtest import diffmode
from hdrtest.report import diff as diff_report
from hdrtest.settings import Settings

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_NOSYSTEM": "1"}

A_OK = "#pragma once\n#include <config.h>\nstruct a { int x[CFG_SIZE]; };\n"
A_BROKEN = "#pragma once\n#include <config.h>\nstruct a { struct missing m; int x[CFG_SIZE]; };\n"
B_BROKEN = "#pragma once\nstruct b { undefined_t y; };\n"
B_FIXED = "#pragma once\ntypedef int undefined_t;\nstruct b { undefined_t y; };\n"


def plain(text: str) -> str:
    """gcc's quotes depend on the locale."""
    return text.replace("\u2018", "'").replace("\u2019", "'")


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                         env=dict(os.environ, **GIT_ENV), timeout=60)
    return out.stdout


def write(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """Commit 1: a.h passes, b.h fails.  Commit 2: a.h breaks, b.h is fixed.

    The compile database and the generated config.h are ignored by git, as a build's output is:
    the base worktree must still find config.h, or every header would fail there.
    """
    root = tmp_path / "repo"
    write(root, {
        ".gitignore": "build/\ncompile_commands.json\n",
        "inc/a.h": A_OK,
        "inc/b.h": B_BROKEN,
        "inc/c.h": "#pragma once\n#include \"a.h\"\nstruct c { struct a inner; };\n",
        "inc/d.h": "#pragma once\nstruct d { int z; };\n",
        "inc/old.h": "#pragma once\nstruct old { broken_t v; };\n",
        "src/x.c": "#include \"a.h\"\n",
        "build/gen/config.h": "#define CFG_SIZE 4\n",
        "compile_commands.json": (
            f'[{{"directory": "{root}", "arguments": ["cc", "-std=c11", "-I{root}/build/gen", "-Iinc", "-c",'
            ' "src/x.c", "-o", "build/x.o"], "file": "src/x.c"}]\n'),
    })
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    write(root, {"inc/a.h": A_BROKEN, "inc/b.h": B_FIXED})
    git(root, "commit", "-qam", "two: break a.h, fix b.h")
    return root


def snapshot(repo: Path) -> tuple[str, str, str, dict[str, str]]:
    """Everything a user could notice: HEAD, status, worktrees, and every file's bytes."""
    files = {}
    for path in sorted(repo.rglob("*")):
        if path.is_file() and ".git" not in path.relative_to(repo).parts:
            files[path.relative_to(repo).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return (git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain", "--ignored"),
            git(repo, "worktree", "list", "--porcelain"), files)


def settings_for(repo: Path) -> Settings:
    return Settings(root=repo, jobs=2, no_cache=True, variants="none")


def test_diff_between_two_commits(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # to see what run_diff leaves in the temp directory
    before = snapshot(repo)
    result = diffmode.run_diff(settings_for(repo), "HEAD~1", "HEAD")
    assert not list(scratch.glob("hdrtest-diff-*"))
    assert snapshot(repo) == before  # the user's checkout is untouched, and no worktree is left registered

    assert result.changed_files == ["inc/a.h", "inc/b.h"]
    # a.h and b.h changed; c.h includes a.h; d.h and old.h have nothing to do with the change.
    assert result.headers == ["inc/a.h", "inc/b.h", "inc/c.h"]
    base = {r.job.display: r.status.value for r in result.base.results}
    assert base == {"inc/a.h": "pass", "inc/b.h": "fail", "inc/c.h": "pass"}  # config.h came from the overlay
    assert sorted(c.result.job.display for c in result.new) == ["inc/a.h", "inc/c.h"]
    assert [(c.result.job.display, c.now_passes) for c in result.fixed] == [("inc/b.h", True)]
    assert result.has_new_failures

    text = diff_report.render_text(result)
    assert text.startswith("[auto build test ERROR on HEAD~1]")
    assert "All errors (new ones prefixed by >>):" in text
    marked = [plain(line) for line in text.splitlines() if line.startswith(">>")]
    assert marked == [">> inc/a.h:3:27: error: field 'm' has incomplete type"] * 2
    assert "   In file included from inc/c.h:2:" in text
    assert "Fixed by the change:" in text and "inc/b.h [c] in baseline: now compiles alone" in text
    assert "undefined_t" in text.split("Fixed by the change:")[1]
    assert "old.h" not in text and "inc/d.h" not in text
    # The reproducer runs in the user's checkout: no path of the (removed) worktrees is left in it.
    reproduce = [line.strip() for line in text.splitlines() if line.startswith("        ")]
    assert reproduce[0] == "git checkout HEAD"
    assert reproduce[1].startswith(f"cd {repo} && cc -std=c11") and f"{repo}/inc/a.h" in reproduce[1]
    assert "hdrtest-diff" not in text


def test_diff_against_the_working_tree(repo: Path) -> None:
    write(repo, {"inc/d.h": "#pragma once\nstruct d { zint z; };\n",
                 "inc/e.h": "#pragma once\n#include \"d.h\"\n"})  # e.h is new and untracked
    before = snapshot(repo)
    result = diffmode.run_diff(settings_for(repo), "HEAD", None)
    assert snapshot(repo) == before
    assert result.head_commit is None and result.changed_files == ["inc/d.h", "inc/e.h"]
    assert [(c.result.job.display, [plain(d.message) for d in c.errors]) for c in result.new] == [
        ("inc/d.h", ["unknown type name 'zint'"]), ("inc/e.h", ["unknown type name 'zint'"])]
    assert result.fixed == []
    text = diff_report.render_text(result)
    assert "head:     the working tree (uncommitted)" in text
    assert f"cd {repo} && cc -std=c11 -I{repo}/build/gen -Iinc" in text


def test_only_fixes_exit_clean_and_old_failures_stay_quiet(repo: Path) -> None:
    write(repo, {"inc/a.h": A_OK, "inc/d.h": "#pragma once\nstruct d { int z; };\n/* touched */\n"})
    git(repo, "commit", "-qam", "three: fix a.h again")
    result = diffmode.run_diff(settings_for(repo), "HEAD~1", "HEAD")
    assert result.new == [] and not result.has_new_failures
    assert sorted(c.result.job.display for c in result.fixed) == ["inc/a.h", "inc/c.h"]
    assert diff_report.render_text(result).startswith("[auto build test OK on HEAD~1]")

    # old.h fails in both revisions: touching it reports nothing new.
    write(repo, {"inc/old.h": "/* moved down */\n#pragma once\nstruct old { broken_t v; };\n"})
    git(repo, "commit", "-qam", "four: touch old.h")
    result = diffmode.run_diff(settings_for(repo), "HEAD~1", "HEAD")
    assert result.headers == ["inc/old.h"] and result.new == [] and result.fixed == []
    assert result.still_failing == 1


def test_cli_diff(repo: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"), NO_COLOR="1")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hdrtest.cli", "diff", *args, "--variants", "none",
                               "--no-cache", "-q"], cwd=repo, capture_output=True, text=True, env=env, timeout=300,
                              check=False)

    sarif = repo.parent / "head.sarif"
    broke = run("HEAD~1", "HEAD", "--report", f"sarif={sarif}")
    assert broke.returncode == 1, broke.stderr
    assert ">> inc/a.h:3:27: error:" in broke.stdout
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    assert {r["properties"]["header"]: r["baselineState"] for r in results}["inc/a.h"] == "new"
    refused = run("HEAD~1", "HEAD", "--baseline", str(sarif))
    assert refused.returncode == 2 and "takes no baseline file" in refused.stderr
    fixed_only = run("HEAD~1", "HEAD", "inc/b.h")  # only b.h: its fix alone is not a failure
    assert fixed_only.returncode == 0, fixed_only.stdout + fixed_only.stderr
    assert "Fixed by the change:" in fixed_only.stdout and ">>" not in fixed_only.stdout
    as_path = run("HEAD", "inc/b.h")  # HEAD is then a path: compare with the (clean) working tree
    assert as_path.returncode == 0 and "0 affected" in as_path.stdout
    unknown = run("no-such-rev")
    assert unknown.returncode == 2 and "unknown revision 'no-such-rev'" in unknown.stderr
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def _selected_by_check(repo: Path, rev: str) -> list[str]:
    run = subprocess.run([sys.executable, "-m", "hdrtest.cli", "check", "--changed-since", rev, "--variants", "none",
                          "--no-cache", "-q", "--format", "json"], cwd=repo, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src")),
                         timeout=300, check=False)
    assert run.returncode in (0, 1), run.stderr
    return sorted({r["header"] for r in json.loads(run.stdout)["results"]})


def test_diff_and_changed_since_select_the_same_headers(tmp_path: Path) -> None:
    """Item 12: a changed other/linux/low.h is no file inc/top.h includes (it resolves <linux/low.h> to
    include/linux/low.h along -Iinclude); matching includes by path suffix selected it anyway."""
    root = tmp_path / "repo"
    write(root, {
        ".gitignore": "compile_commands.json\n",
        "include/linux/low.h": "#pragma once\nstruct low { int v; };\n",
        "other/linux/low.h": "#pragma once\nstruct other_low { int w; };\n",
        "inc/top.h": "#pragma once\n#include <linux/low.h>\nstruct top { struct low l; };\n",
        "inc/mid.h": "#pragma once\n#include \"top.h\"\n",
        "inc/lone.h": "#pragma once\nstruct lone { int z; };\n",
        "src/x.c": "#include <linux/low.h>\n",
        "compile_commands.json": (f'[{{"directory": "{root}", "arguments": ["cc", "-Iinclude", "-Iinc", "-c", '
                                  '"src/x.c"], "file": "src/x.c"}]\n'),
    })
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    write(root, {"other/linux/low.h": "#pragma once\nstruct other_low { int w; int x; };\n"})
    result = diffmode.run_diff(settings_for(root), "HEAD", None)
    assert result.headers == _selected_by_check(root, "HEAD") == ["other/linux/low.h"]
    git(root, "commit", "-qam", "two")
    write(root, {"include/linux/low.h": "#pragma once\nstruct low { int v; int u; };\n"})
    result = diffmode.run_diff(settings_for(root), "HEAD", None)
    assert result.headers == _selected_by_check(root, "HEAD") == ["inc/mid.h", "inc/top.h", "include/linux/low.h"]
    git(root, "commit", "-qam", "three")
    result = diffmode.run_diff(settings_for(root), "HEAD~1", "HEAD")
    assert result.headers == _selected_by_check(root, "HEAD~1")


def test_unbalanced_quote_in_the_database_is_a_setup_error_in_diff_as_in_check(repo: Path) -> None:
    """Item 12: one database reader: the entry that cannot be split is exit 2 in both commands, naming the file."""
    (repo / "compile_commands.json").write_text(
        f'[{{"directory": "{repo}", "command": "cc -Iinc \\"-DX=1 -c src/x.c", "file": "src/x.c"}}]\n')
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    for args in (["check", "inc"], ["diff", "HEAD~1", "HEAD"]):
        run = subprocess.run([sys.executable, "-m", "hdrtest.cli", *args, "--variants", "none", "--no-cache", "-q"],
                             cwd=repo, capture_output=True, text=True, env=env, timeout=300, check=False)
        assert run.returncode == 2, (args, run.stderr)
        assert "compile_commands.json" in run.stderr and "cannot be split" in run.stderr
        assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_rebase_moves_every_path_and_keeps_the_builds_own_files(tmp_path: Path) -> None:
    """No flag table: ``-include-pch FILE`` used to be read as ``-include`` of ``-pch`` (item 12)."""
    top, tree = tmp_path / "top", tmp_path / "wt"
    for directory in (top / "include", tree / "include", top / "build"):
        directory.mkdir(parents=True)
    (top / "include" / "a.h").write_text("")
    (tree / "include" / "a.h").write_text("")
    (top / "build" / "pch.h.pch").write_text("")  # only the user's build has it
    rebase = diffmode.Rebase(top, tree)
    args = ["-include-pch", f"{top}/build/pch.h.pch", "-include", f"{top}/include/a.h", f"-I{top}/include",
            "-I-", "-Iinc", "-isystem", "/usr/include", f'-DWHERE="{top}/include"', f"-I{top}2/x",
            f"--sysroot={top}"]
    moved = list(map(rebase.text, args))
    assert moved == ["-include-pch", f"{top}/build/pch.h.pch", "-include", f"{tree}/include/a.h",
                     f"-I{tree}/include", "-I-", "-Iinc", "-isystem", "/usr/include", f'-DWHERE="{tree}/include"',
                     f"-I{top}2/x", f"--sysroot={tree}"]
    assert diffmode.user_command(moved, tree, top) == args


def test_not_a_repository(tmp_path: Path) -> None:
    from hdrtest.errors import UsageError

    with pytest.raises(UsageError, match="not inside a git repository"):
        diffmode.run_diff(Settings(root=tmp_path), "HEAD", None)


def test_seed_case_fix_and_regression_in_a_variant(tmp_path: Path) -> None:
    """gvt.h fails alone only with CONFIG_DRM_I915_GVT_KVMGT=n; the stub in kvm_page_track.h fixes it.

    After the fix the variant may no longer be planned at all (nothing guards the struct any
    more): diff mode must still compile it in both revisions to see the fix.
    """
    import shutil

    example = Path(__file__).resolve().parents[1] / "examples" / "kvm-gvt"
    repo = tmp_path / "linux"
    shutil.copytree(example, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "as shipped")
    track = repo / "arch" / "x86" / "include" / "asm" / "kvm_page_track.h"
    text = track.read_text()
    marker = "#endif /* CONFIG_KVM_EXTERNAL_WRITE_TRACKING */"
    assert marker in text
    track.write_text(text.replace(marker, "#else\nstruct kvm_page_track_notifier_node {};\n" + marker, 1))
    git(repo, "commit", "-qam", "stub for the build without write tracking")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"), NO_COLOR="1")

    def diff(*revs: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hdrtest.cli", "diff", *revs, "-p", "build-on", "--no-cache",
                               "-q"], cwd=repo, capture_output=True, text=True, env=env, timeout=300, check=False)

    fixed = diff("HEAD~1", "HEAD")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "Fixed by the change:" in fixed.stdout and ">>" not in fixed.stdout
    assert "drivers/gpu/drm/i915/gvt/gvt.h [c] in CONFIG_" in fixed.stdout and "now compiles alone" in fixed.stdout
    broken = diff("HEAD", "HEAD~1")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert plain(broken.stdout).count(
        ">> drivers/gpu/drm/i915/gvt/gvt.h:20:45: error: field 'track_node' has incomplete type") == 1
    assert "reproduce:" in broken.stdout and "git checkout 'HEAD~1'" in broken.stdout
    assert git(repo, "status", "--porcelain") == ""
