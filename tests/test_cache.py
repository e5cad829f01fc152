"""The result cache: hits only while nothing a compile read (or could have read) changed; safe when killed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, default_sigint, hdrtest, write_tree

from hdrtest.compile import CompileOptions, compile_job
from hdrtest.errors import UsageError
from hdrtest.models import Diagnostic, Job, Note, OptionSetting, Result, Status, Variant
from hdrtest.store import namespaces
from hdrtest.store.location import DB_NAME
from hdrtest.store.results import ResultCache
from hdrtest.store.serialize import diagnostic_from_dict, diagnostic_to_dict, result_from_dict, result_to_dict
from hdrtest.store.sizes import parse_size


def settle() -> None:
    """Let freshly written files age past the racy window (see changes.RACY_NS)."""
    time.sleep(0.12)


def run_json(tree: Path, cache: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    run = hdrtest("check", str(tree), "--cache-dir", str(cache), "--variants", "none", "--format", "json", "-q",
                  *extra, cwd=tree)
    assert run.returncode in (0, 1), run.stderr
    return run.json()


def by_header(data: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r["header"]: r for r in data["results"]}


BASIC = {
    "hdrtest.toml": 'cflags = ["-Iinclude", "-Ilib"]\n',
    "include/a.h": "#ifndef A_H\n#define A_H\n#include <base.h>\nstruct a { struct deeper d; };\n#endif\n",
    "include/b.h": "#ifndef B_H\n#define B_H\nstruct b { int y; };\n#endif\n",
    "include/bad.h": "#ifndef BAD_H\n#define BAD_H\nstatic inline int f(void) { return nope; }\n#endif\n",
    "lib/base.h": '#ifndef BASE_H\n#define BASE_H\n#include "deep/deeper.h"\n#endif\n',
    "lib/deep/deeper.h": "#ifndef DEEPER_H\n#define DEEPER_H\nstruct deeper { int x; };\n#endif\n",
}


@pytest.fixture
def basic(tmp_path: Path) -> Path:
    tree = write_tree(tmp_path / "tree", BASIC)
    settle()
    return tree


def test_second_run_is_served_from_the_cache(basic: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cold = run_json(basic, cache)
    warm = run_json(basic, cache)
    assert cold["summary"]["cache_hits"] == 0
    assert warm["summary"]["cache_hits"] == len(warm["results"]) == 5
    assert warm["summary"]["variants_compiled"] == 0
    for name, result in by_header(cold).items():
        again = by_header(warm)[name]
        assert again["cached"] is True and result["cached"] is False
        assert again["status"] == result["status"]
        assert again["diagnostics"] == result["diagnostics"]
        assert again["command"] == result["command"]
    assert by_header(warm)["include/bad.h"]["status"] == "fail"
    assert "nope" in json.dumps(by_header(warm)["include/bad.h"]["diagnostics"])


def test_editing_a_deep_header_reruns_only_its_dependents(basic: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    run_json(basic, cache)
    (basic / "lib/deep/deeper.h").write_text("#ifndef DEEPER_H\n#define DEEPER_H\nstruct deeper { nope x; };\n#endif\n")
    settle()
    data = by_header(run_json(basic, cache))
    rerun = {name for name, r in data.items() if not r["cached"]}
    assert rerun == {"include/a.h", "lib/base.h", "lib/deep/deeper.h"}
    assert data["include/a.h"]["status"] == "fail"
    assert data["include/b.h"]["cached"] and data["include/b.h"]["status"] == "pass"


def test_same_content_after_touch_is_still_a_hit(basic: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    run_json(basic, cache)
    path = basic / "lib/deep/deeper.h"
    path.write_text(path.read_text())  # new mtime and ctime, same content
    settle()
    data = run_json(basic, cache)
    assert data["summary"]["cache_hits"] == 5


@pytest.mark.parametrize("where", ["in-existing-dir", "in-new-dir", "in-new-subdir", "next-to-includer"])
def test_a_header_added_earlier_on_the_include_path_invalidates(tmp_path: Path, where: str) -> None:
    files = {
        "hdrtest.toml": 'cflags = ["-Ifirst", "-Isecond"]\n',
        "top.h": "#include <dep.h>\n#include <sys2/dep2.h>\n#include \"quoted.h\"\nint top[DEP + DEP2 + QUOTED];\n",
        "second/dep.h": "#define DEP 1\n",
        "second/sys2/dep2.h": "#define DEP2 1\n",
        "second/quoted.h": "#define QUOTED 1\n",
        "other/unrelated.h": "struct unrelated { int z; };\n",
    }
    if where != "in-new-dir":
        files["first/README"] = "an include directory with no headers yet\n"
    tree = write_tree(tmp_path / "tree", files)
    settle()
    cache = tmp_path / "cache"
    assert by_header(run_json(tree, cache))["top.h"]["status"] == "pass"
    assert by_header(run_json(tree, cache))["top.h"]["cached"]
    shadow = {"in-existing-dir": "first/dep.h", "in-new-dir": "first/dep.h", "in-new-subdir": "first/sys2/dep2.h",
              "next-to-includer": "quoted.h"}[where]
    write_tree(tree, {shadow: '#error "the new header shadows the old one"\n'})
    settle()
    data = by_header(run_json(tree, cache))
    assert data["top.h"]["cached"] is False
    assert data["top.h"]["status"] == "fail"
    assert "shadows the old one" in json.dumps(data["top.h"]["diagnostics"])


def test_flags_and_compiler_are_part_of_the_key(basic: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    run_json(basic, cache)
    assert run_json(basic, cache, "-DEXTRA=1")["summary"]["cache_hits"] == 0
    assert run_json(basic, cache, "-DEXTRA=1")["summary"]["cache_hits"] == 5
    assert run_json(basic, cache, "--max-errors", "3")["summary"]["cache_hits"] == 0
    for compiler in ("gcc", "clang"):
        if compiler != "gcc" and not (Path("/usr/bin") / compiler).exists():
            continue
        data = run_json(basic, cache, "--cc", compiler)
        again = run_json(basic, cache, "--cc", compiler)
        assert again["summary"]["cache_hits"] == 5, compiler
        assert {r["status"] for r in data["results"]} == {r["status"] for r in again["results"]}


def test_no_cache_neither_reads_nor_writes(basic: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    run_json(basic, cache, "--no-cache")
    assert not (cache / DB_NAME).exists()
    run_json(basic, cache)
    assert run_json(basic, cache, "--no-cache")["summary"]["cache_hits"] == 0


def test_missing_include_failure_is_not_cached_but_reruns(tmp_path: Path) -> None:
    # gcc writes no dependency file after a fatal error: nothing to validate a hit with.
    tree = write_tree(tmp_path / "tree", {"hdrtest.toml": 'cflags = ["-Iinc"]\n',
                                          "m.h": "#include <later.h>\nint m[LATER];\n", "inc/keep": ""})
    settle()
    cache = tmp_path / "cache"
    assert by_header(run_json(tree, cache))["m.h"]["status"] == "fail"
    write_tree(tree, {"inc/later.h": "#define LATER 2\n"})
    settle()
    data = by_header(run_json(tree, cache))
    assert data["m.h"]["status"] == "pass" and not data["m.h"]["cached"]


def make_job(tree: Path, header: str, flags: tuple[str, ...] = (), variant: Variant | None = None) -> Job:
    return Job(header=tree / header, display=header, language="c", compiler="gcc", flags=flags, directory=tree,
               variant=variant or Variant())


def test_only_pass_and_fail_are_stored(basic: Path, tmp_path: Path) -> None:
    job = make_job(basic, "include/a.h", ("-Iinclude", "-Ilib"))
    result = compile_job(job, CompileOptions(root=basic))
    assert result.status is Status.PASS and result.dependencies
    with ResultCache(tmp_path / "c.sqlite3") as cache:
        for status in (Status.TIMEOUT, Status.ERROR):
            cache.store(Result(job=job, status=status, dependencies=result.dependencies))
            assert cache.lookup(job) is None
        cache.store(result)
        hit = cache.lookup(job)
        assert hit is not None and hit.cached and hit.status is Status.PASS
        assert cache.stats().entries == 1


def test_a_file_changed_during_the_run_is_not_trusted(basic: Path, tmp_path: Path) -> None:
    job = make_job(basic, "include/a.h", ("-Iinclude", "-Ilib"))
    with ResultCache(tmp_path / "c.sqlite3") as cache:
        result = compile_job(job, CompileOptions(root=basic))
        # Edited after the run began: the compiler may have read either version.
        (basic / "lib/deep/deeper.h").write_text("struct deeper { int changed; };\n")
        cache.store(result)
        assert cache.stats().entries == 0
        assert cache.lookup(job) is None


def test_variant_jobs_are_keyed_by_their_defines(basic: Path, tmp_path: Path) -> None:
    on = Variant(name="v1", changes=(OptionSetting("CONFIG_X", "y"),), defines=(("CONFIG_X", "1"),))
    off = Variant(name="v2", changes=(OptionSetting("CONFIG_X", "n"),), defines=(("CONFIG_X", None),))
    with ResultCache(tmp_path / "c.sqlite3") as cache:
        job_on = make_job(basic, "include/b.h", ("-Iinclude",), on)
        cache.store(compile_job(job_on, CompileOptions(root=basic)))
        assert cache.lookup(make_job(basic, "include/b.h", ("-Iinclude",), off)) is None
        renamed = make_job(basic, "include/b.h", ("-Iinclude",), Variant(name="other", defines=on.defines))
        hit = cache.lookup(renamed)
        assert hit is not None and hit.job.variant.name == "other"


def test_variant_preludes_live_in_the_run_cache_directory(basic: Path, tmp_path: Path) -> None:
    # --cache-dir holds the variant headers too: a reproducer names a file in the run's cache directory.
    variant = Variant(name="v1", changes=(OptionSetting("CONFIG_X", "y"),), defines=(("CONFIG_X", "1"),))
    job = make_job(basic, "include/b.h", ("-Iinclude",), variant)
    cache_dir = tmp_path / "c"
    result = compile_job(job, CompileOptions(root=basic, variant_dir=namespaces.VARIANTS.directory(cache_dir)))
    preludes = [Path(arg) for arg in result.command if "variant-" in arg]
    assert len(preludes) == 1 and preludes[0].parent == cache_dir / "variants" and preludes[0].is_file()
    with ResultCache(cache_dir / DB_NAME) as cache:
        cache.store(result)
        hit = cache.lookup(job)
        assert hit is not None and hit.command == result.command


def test_cache_commands_walk_the_registered_namespaces(tmp_path: Path) -> None:
    extra = namespaces.register("test-extra")
    assert namespaces.register("test-extra") is extra and extra in namespaces.registered()
    with pytest.raises(ValueError):
        namespaces.register("test-extra", version=2)
    assert extra.key("a", b"b") != namespaces.Namespace("test-extra", 2).key("a", b"b")  # the version is in the key
    assert extra.key("ab", "c") != extra.key("a", "bc")
    kept = extra.path(tmp_path, extra.key("x"), ".json")
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"x" * 100)
    assert namespaces.sizes(tmp_path) == {"test-extra": 100}
    assert namespaces.clear(tmp_path) == 100 and not kept.exists()


def test_result_round_trips_through_json() -> None:
    child = Diagnostic(file="x.h", line=1, column=2, severity="note", message="declared here")
    diag = Diagnostic(file="a.h", line=3, column=4, severity="error", message="boom", option="-Wfoo",
                      include_chain=[("top.h", 1), ("mid.h", 7)], children=[child], category="incomplete-type",
                      symbol="struct s", notes=[Note("why", "k.h", 9, 1, "definition", "--- a\n+++ b\n")],
                      abs_file="/abs/a.h")
    assert diagnostic_from_dict(json.loads(json.dumps(diagnostic_to_dict(diag)))) == diag
    job = make_job(Path("/t"), "a.h")
    result = Result(job=job, status=Status.FAIL, diagnostics=[diag], omitted_errors=2, duration=0.5, returncode=1,
                    command=("cc", "x"), raw_output="out", dependencies=("/t/a.h",),
                    relevance={"CONFIG_A": "used"}, triage="real-build")
    assert result_from_dict(json.loads(json.dumps(result_to_dict(result))), job) == result


def test_parse_size() -> None:
    assert parse_size("100") == 100
    assert parse_size("2K") == 2048
    assert parse_size("1.5M") == 1572864
    assert parse_size("1GB") == 10 ** 9
    with pytest.raises(UsageError):
        parse_size("lots")


def test_prune_evicts_least_recently_used(tmp_path: Path) -> None:
    files = {f"h{i:02}.h": f"struct s{i} {{ int v; }};\n" for i in range(30)}
    tree = write_tree(tmp_path / "tree", files)
    settle()
    db = tmp_path / "c.sqlite3"
    jobs = [make_job(tree, name) for name in sorted(files)]
    with ResultCache(db) as cache:
        for job in jobs:
            result = compile_job(job, CompileOptions(root=tree))
            result.raw_output = os.urandom(6000).hex()  # entries big enough to outweigh the tables' own pages
            cache.store(result)
        assert cache.stats().entries == 30
    time.sleep(0.01)
    with ResultCache(db) as cache:  # use the first five again: they are the most recent now
        assert all(cache.lookup(job) is not None for job in jobs[:5])
    with ResultCache(db) as cache:
        cache.prune(10 ** 9)  # compacts only
        full = cache.disk_size()
        assert cache.stats().entries == 30
        evicted = cache.prune(full // 2)
        assert 0 < evicted < 30
        assert cache.disk_size() <= full // 2
        assert all(cache.lookup(job) is not None for job in jobs[:5])
        assert cache.stats().entries == 30 - evicted
        assert cache.prune(0) == 30 - evicted
        assert cache.stats().entries == 0


def test_cache_command_line(basic: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    run_json(basic, cache)
    run_json(basic, cache)
    stats = hdrtest("cache", "stats", "--cache-dir", str(cache), "--json")
    assert stats.returncode == 0, stats.stderr
    body = stats.json()
    assert body["entries"] == 5 and body["hits"] == 5 and body["fails"] == 1 and body["size"] > 0
    text = hdrtest("cache", "stats", "--cache-dir", str(cache)).stdout
    assert "entries: 5 (4 pass, 1 fail)" in text and "hits: 5" in text
    pruned = hdrtest("cache", "prune", "--max-size", "1", "--cache-dir", str(cache))
    assert pruned.returncode == 0 and "evicted 5" in pruned.stdout
    assert hdrtest("cache", "prune", "--cache-dir", str(cache)).returncode == 2  # --max-size is required
    run_json(basic, cache)
    cleared = hdrtest("cache", "clear", "--cache-dir", str(cache))
    assert "removed 5 entries" in cleared.stdout
    assert run_json(basic, cache)["summary"]["cache_hits"] == 0


def test_unusable_database_is_set_aside(basic: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / DB_NAME).write_bytes(b"this is not a database" * 100)
    data = run_json(basic, cache)
    assert len(data["results"]) == 5
    assert run_json(basic, cache)["summary"]["cache_hits"] == 5
    assert any(p.name.startswith(DB_NAME + ".corrupt-") for p in cache.iterdir())


# --- concurrency and crashes ------------------------------------------------------------------------------------


def many_headers(root: Path, count: int) -> Path:
    files = {"hdrtest.toml": 'cflags = ["-Icommon"]\n',
             "common/common.h": "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <math.h>\n"}
    for i in range(count):
        body = f"struct s{i} {{ int v; }};\n" if i % 9 else f"struct s{i} {{ undefined_t v; }};\n"
        files[f"h/h{i:03}.h"] = f'#include "common.h"\n{body}'
    tree = write_tree(root, files)
    settle()
    return tree


def statuses(data: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {r["header"]: r["status"] for r in data["results"]}


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def entries(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
    except sqlite3.Error:
        return 0


def start(tree: Path, cache: Path, env_home: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, XDG_CACHE_HOME=str(env_home), PYTHONPATH=str(REPO / "src"))
    return subprocess.Popen([sys.executable, "-m", "hdrtest", "check", str(tree), "--cache-dir", str(cache),
                             "--variants", "none", "--format", "json", "-q", "-j", "2"],
                            cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)


@pytest.mark.slow
def test_runs_killed_mid_way_leave_a_consistent_cache(tmp_path: Path) -> None:
    # Enough headers that the compiles are still running when a starved poller (pytest-xdist's other worker on
    # the same two cores) sees the first entries: with 120 a run sometimes stored all before the signal.
    tree = many_headers(tmp_path / "tree", 400)
    cache = tmp_path / "cache"
    db = cache / DB_NAME
    expected = statuses(run_json(tree, tmp_path / "unused", "--no-cache"))
    assert len(expected) == 401 and "fail" in expected.values()
    stored_before = 0
    for sig in (signal.SIGINT, signal.SIGKILL):
        proc = start(tree, cache, tmp_path / "xdg")
        deadline = time.monotonic() + 120
        while entries(db) < stored_before + 8 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be interrupted"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        if sig == signal.SIGINT:
            assert proc.returncode == 130, err
            assert "interrupted" in err
        else:
            assert proc.returncode == -signal.SIGKILL
        assert integrity(db) == "ok"
        stored = entries(db)
        assert stored_before < stored < 401
        stored_before = stored
    data = run_json(tree, cache)
    assert statuses(data) == expected
    assert data["summary"]["cache_hits"] == stored_before  # everything stored before the kills is reused
    assert integrity(db) == "ok"
    assert run_json(tree, cache)["summary"]["cache_hits"] == 401


@pytest.mark.slow
def test_concurrent_runs_share_one_cache(tmp_path: Path) -> None:
    tree = many_headers(tmp_path / "tree", 40)
    cache = tmp_path / "cache"
    procs = [start(tree, cache, tmp_path / f"xdg{i}") for i in range(3)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 1, err  # some headers fail on purpose
        assert "warning" not in err, err
    results = [statuses(json.loads(out)) for out, _ in outputs]
    assert results[0] == results[1] == results[2]
    assert integrity(cache / DB_NAME) == "ok"
    assert entries(cache / DB_NAME) == 41  # 40 headers and common.h
    again = run_json(tree, cache)
    assert again["summary"]["cache_hits"] == 41 and statuses(again) == results[0]


def test_cache_clear_also_empties_the_side_caches(tmp_path: Path) -> None:
    from conftest import EXAMPLES
    from conftest import hdrtest as run_hdrtest

    cache = tmp_path / "c"
    run_hdrtest("check", "-q", "--cache-dir", str(cache), "-p", "build-on", ".", cwd=EXAMPLES / "kvm-gvt")
    present = {p.name for p in cache.iterdir() if p.is_dir()}
    assert {"scans", "relevance", "symbols"} <= present
    stats = run_hdrtest("cache", "stats", "--cache-dir", str(cache), cwd=tmp_path)
    assert "scans/" in stats.stdout
    cleared = run_hdrtest("cache", "clear", "--cache-dir", str(cache), cwd=tmp_path)
    assert cleared.returncode == 0 and "removed" in cleared.stdout
    assert not any(p.is_dir() for p in cache.iterdir())


def test_prune_bounds_the_side_caches_too(tmp_path: Path) -> None:
    from hdrtest.settings import Settings
    from hdrtest.store.commands import cache_command

    cache = tmp_path / "c"
    ResultCache(cache / DB_NAME).close()
    old, new = cache / "symbols" / "aa" / "old.pickle", cache / "scans" / "new.json"
    for number, path in enumerate((old, new)):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x" * 400_000)
        os.utime(path, (1_000_000 + number * 1000, 1_000_000 + number * 1000))
    db_size = ResultCache(cache / DB_NAME).disk_size()
    out = cache_command("prune", Settings(root=tmp_path, cache_dir=str(cache)), max_size=str(db_size + 500_000))
    assert "390.6 KiB of scans, indexes and variant headers" in out
    assert not old.exists() and new.exists()  # least recently used first, and only what the budget needs
