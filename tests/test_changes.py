"""Change-driven checks: exactly the headers whose include closure has a file changed since a revision."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from conftest import hdrtest, write_tree

from hdrtest.errors import UsageError
from hdrtest.graph.affected import affected as affected_headers
from hdrtest.graph.affected import changed_files
from hdrtest.graph.includes import IncludeGraph, decode_includes, encode_includes, load_graph, scan_includes
from hdrtest.graph.resolve import Chains, Include, SearchPath
from hdrtest.store.results import ResultCache


def git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True,
                         env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                              "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(root), "PATH": "/usr/bin:/bin"})
    return out.stdout


def repo(root: Path, files: dict[str, str]) -> Path:
    write_tree(root, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    time.sleep(0.12)  # past the racy window of stamps taken right after writing
    return root


# include/top_*.h -> mid.h -> deep/leaf.h ; side.h -> other.h ; lone.h
TREE = {
    "hdrtest.toml": 'cflags = ["-Iinclude"]\n',
    ".gitignore": "*.tmp\n",
    "include/deep/leaf.h": "#ifndef LEAF_H\n#define LEAF_H\nstruct leaf { int v; };\n#endif\n",
    "include/mid.h": "#ifndef MID_H\n#define MID_H\n#include <deep/leaf.h>\nstruct mid { struct leaf l; };\n#endif\n",
    "include/top_a.h": '#ifndef TOP_A_H\n#define TOP_A_H\n#include "mid.h"\nstruct top_a { struct mid m; };\n#endif\n',
    "include/top_b.h": "#ifndef TOP_B_H\n#define TOP_B_H\n#include <mid.h>\nstruct top_b { struct mid m; };\n#endif\n",
    "include/cond.h": "#ifndef COND_H\n#define COND_H\n#ifdef NEVER_DEFINED\n#include <deep/leaf.h>\n#endif\n"
                      "struct cond { int c; };\n#endif\n",
    "include/other.h": "#ifndef OTHER_H\n#define OTHER_H\nstruct other { int o; };\n#endif\n",
    "include/side.h": '#ifndef SIDE_H\n#define SIDE_H\n#include "other.h"\nstruct side { struct other o; };\n#endif\n',
    "include/lone.h": "#ifndef LONE_H\n#define LONE_H\nstruct lone { int z; };\n#endif\n",
}
DEPENDENTS_OF_LEAF = {"include/deep/leaf.h", "include/mid.h", "include/top_a.h", "include/top_b.h", "include/cond.h"}


def check_changed(tree: Path, rev: str = "HEAD", *extra: str, cache: Path | None = None) -> dict[str, dict]:  # type: ignore[type-arg]
    args = ["check", str(tree), "--changed-since", rev, "--variants", "none", "--format", "json", "-q", *extra]
    args += ["--cache-dir", str(cache)] if cache is not None else ["--no-cache"]
    run = hdrtest(*args, cwd=tree)
    assert run.returncode in (0, 1), run.stderr
    return {r["header"]: r for r in run.json()["results"]}


def test_editing_a_deep_header_rechecks_exactly_its_dependents(tmp_path: Path) -> None:
    tree = repo(tmp_path / "tree", TREE)
    cache = tmp_path / "cache"
    assert check_changed(tree, cache=cache) == {}  # nothing changed: nothing compiled
    (tree / "include/deep/leaf.h").write_text("#ifndef LEAF_H\n#define LEAF_H\nstruct leaf { long v; };\n#endif\n")
    time.sleep(0.12)
    results = check_changed(tree, cache=cache)
    # cond.h includes leaf.h only under #ifdef: every branch counts, since another configuration takes it.
    assert set(results) == DEPENDENTS_OF_LEAF
    assert all(r["status"] == "pass" and not r["cached"] for r in results.values())
    # Same again, from the stored graph, and the results themselves from the result cache.
    again = check_changed(tree, cache=cache)
    assert set(again) == DEPENDENTS_OF_LEAF and all(r["cached"] for r in again.values())
    # A breaking edit shows up in every dependent.
    (tree / "include/deep/leaf.h").write_text("#ifndef LEAF_H\n#define LEAF_H\nstruct leaf { nope v; };\n#endif\n")
    time.sleep(0.12)
    broken = check_changed(tree, cache=cache)
    assert set(broken) == DEPENDENTS_OF_LEAF
    assert {h for h, r in broken.items() if r["status"] == "fail"} == DEPENDENTS_OF_LEAF - {"include/cond.h"}


def test_without_a_cache_the_selection_is_the_same(tmp_path: Path) -> None:
    tree = repo(tmp_path / "tree", TREE)
    (tree / "include/other.h").write_text("struct other { int changed; };\n")
    assert set(check_changed(tree)) == {"include/other.h", "include/side.h"}


def test_untracked_committed_and_staged_changes_count(tmp_path: Path) -> None:
    tree = repo(tmp_path / "tree", TREE)
    base = git(tree, "rev-parse", "HEAD").strip()
    (tree / "include/other.h").write_text("struct other { int changed; };\n")
    git(tree, "commit", "-q", "-am", "change other.h")
    (tree / "include/lone.h").write_text("struct lone { int staged; };\n")
    git(tree, "add", "include/lone.h")
    write_tree(tree, {"include/new.h": "struct brand_new { int n; };\n", "include/ignored.tmp": "x\n"})
    changed = changed_files(tree, base)
    assert changed == {tree / "include/other.h", tree / "include/lone.h", tree / "include/new.h"}
    assert changed_files(tree, "HEAD") == {tree / "include/lone.h", tree / "include/new.h"}
    assert set(check_changed(tree, base)) == {"include/other.h", "include/side.h", "include/lone.h", "include/new.h"}


def test_deleted_header_selects_its_includers(tmp_path: Path) -> None:
    tree = repo(tmp_path / "tree", TREE)
    (tree / "include/other.h").unlink()
    assert changed_files(tree, "HEAD") == {tree / "include/other.h"}
    results = check_changed(tree)
    assert set(results) == {"include/side.h"}
    assert results["include/side.h"]["status"] == "fail"


def test_new_header_shadowing_an_include_selects_the_includers(tmp_path: Path) -> None:
    files = dict(TREE)
    files["hdrtest.toml"] = 'cflags = ["-Ioverride", "-Iinclude"]\n'
    files["override/README"] = "headers here win over include/\n"
    tree = repo(tmp_path / "tree", files)
    cache = tmp_path / "cache"
    assert check_changed(tree, cache=cache) == {}
    write_tree(tree, {"override/deep/leaf.h": '#error "shadowed"\n'})
    time.sleep(0.12)
    results = check_changed(tree, cache=cache)
    assert set(results) == {"override/deep/leaf.h", "include/mid.h", "include/top_a.h", "include/top_b.h",
                            "include/cond.h"}
    assert results["include/mid.h"]["status"] == "fail"


def test_changed_settings_or_forced_include_select_everything(tmp_path: Path) -> None:
    files = dict(TREE)
    files["hdrtest.toml"] = 'cflags = ["-Iinclude", "-include", "config.h"]\n'
    files["config.h"] = "#define CONFIG_THING 1\n"
    tree = repo(tmp_path / "tree", files)
    (tree / "config.h").write_text("#define CONFIG_THING 2\n")
    everything = {name for name in files if name.endswith(".h")}
    assert set(check_changed(tree)) == everything
    git(tree, "checkout", "-q", "--", "config.h")
    (tree / "hdrtest.toml").write_text('cflags = ["-Iinclude", "-include", "config.h", "-DX=1"]\n')
    assert set(check_changed(tree)) == everything


def test_unknown_revision_is_a_usage_error(tmp_path: Path) -> None:
    tree = repo(tmp_path / "tree", TREE)
    with pytest.raises(UsageError, match="unknown revision"):
        changed_files(tree, "no-such-branch")
    run = hdrtest("check", str(tree), "--changed-since", "no-such-branch", "--no-cache", cwd=tree)
    assert run.returncode == 2 and "unknown revision" in run.stderr
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    with pytest.raises(UsageError):
        changed_files(outside, "HEAD")


def test_scan_includes_reads_every_form() -> None:
    text = b"""#include <a/b.h>
  #  include "q.h" // trailing comment
#include_next <next.h>
#import "imp.h"
#include MACRO(x)
#if __has_include(<maybe.h>)
#endif
not an #include "inline.h"
"""
    found = scan_includes(text)
    assert found == (Include("a/b.h", True), Include("q.h", False), Include("next.h", True, "next"),
                     Include("imp.h", False), Include("MACRO(x)", False, "include", True),
                     Include("maybe.h", True, "has"))
    assert decode_includes(encode_includes(found)) == found


def make_tree(root: Path, count: int) -> list[str]:
    files = {"inc/base.h": "struct base { int b; };\n"}
    for i in range(count):
        files[f"inc/h{i}.h"] = f'#include "h{i - 1}.h"\n' if i else '#include <base.h>\n'
    write_tree(root, files)
    time.sleep(0.12)
    return [str(root / name) for name in files]


def test_stored_graph_is_reused_and_follows_edits(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    headers = make_tree(tree, 30)
    chains = Chains.of(SearchPath.from_flags(["-Iinc"], tree, "gcc", "c"))
    with ResultCache(tmp_path / "c.sqlite3") as store:
        cold = load_graph(chains, headers, store)
        assert cold.rescanned == 31
    with ResultCache(tmp_path / "c.sqlite3") as store:
        warm = load_graph(chains, headers, store)
        assert warm.rescanned == 0
        assert warm.reach_back([str(tree / "inc/h10.h")]) == {str(tree / f"inc/h{i}.h") for i in range(10, 30)}
        assert affected_headers(headers, [tree / "inc/base.h"], [warm]) == set(headers)
    (tree / "inc/h5.h").write_text("struct cut { int loose; };\n")  # h5 no longer includes h4
    time.sleep(0.12)
    with ResultCache(tmp_path / "c.sqlite3") as store:
        edited = load_graph(chains, headers, store)
        assert edited.rescanned == 1
        below = {str(tree / f"inc/h{i}.h") for i in range(5)} | {str(tree / "inc/base.h")}
        assert affected_headers(headers, [tree / "inc/base.h"], [edited]) == below


def test_graph_from_another_search_path_is_not_used(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    headers = make_tree(tree, 3)
    one = Chains.of(SearchPath.from_flags(["-Iinc"], tree, "gcc", "c"))
    other = Chains.of(SearchPath.from_flags(["-Iinc", "-Iextra"], tree, "gcc", "c"))
    graph = IncludeGraph(one)
    graph.update(headers)
    assert IncludeGraph.from_bytes(graph.to_bytes(), one).files.keys() == graph.files.keys()
    assert IncludeGraph.from_bytes(graph.to_bytes(), other).files == {}
    assert IncludeGraph.from_bytes(b"garbage", one).files == {}


def test_files_coming_and_going_beside_the_tree_resolve_nothing_again(tmp_path: Path) -> None:
    # "../../up.h" climbs above the search directory, so resolving it lists the tree's parent, where other
    # programs' files come and go all day: only the name asked for there may cost a resolution.
    tree = tmp_path / "tree"
    headers = make_tree(tree, 5)
    climbing = tree / "inc/climb.h"
    climbing.write_text('#include "../../up.h"\n#include <h4.h>\n')
    headers.append(str(climbing))
    time.sleep(0.12)
    chains = Chains.of(SearchPath.from_flags(["-Iinc"], tree, "gcc", "c"))
    with ResultCache(tmp_path / "c.sqlite3") as store:
        cold = load_graph(chains, headers, store)
    assert cold.edges(climbing)[0].target is None

    (tmp_path / "unrelated.txt").write_text("another program's file\n")
    time.sleep(0.12)
    for _ in range(2):  # the moved stamp is saved with the graph, then nothing moves
        with ResultCache(tmp_path / "c.sqlite3") as store:
            warm = load_graph(chains, headers, store)
        assert warm.rescanned == 0
        assert warm.reach([str(climbing)]) == cold.reach([str(climbing)])

    (tmp_path / "up.h").write_text("int up;\n")  # the name asked for: exactly its includer resolves again
    time.sleep(0.12)
    with ResultCache(tmp_path / "c.sqlite3") as store:
        found = load_graph(chains, headers, store)
    assert found.rescanned == 1  # up.h itself is read: it is new to the graph
    assert found.edges(climbing)[0].target == tmp_path / "up.h"
    assert affected_headers(headers, [tmp_path / "up.h"], [found]) == {str(climbing)}
    (tmp_path / "up.h").unlink()
    time.sleep(0.12)
    with ResultCache(tmp_path / "c.sqlite3") as store:
        gone = load_graph(chains, headers, store)
    assert gone.edges(climbing)[0].target is None  # up.h vanished
