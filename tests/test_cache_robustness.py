"""The cache under damage and hidden inputs: damaged pages, response files, wrapper scripts, missing includes."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import hdrtest, write_tree

from hdrtest.store.location import DB_NAME


def settle() -> None:
    """Let freshly written files age past the racy window (see changes.RACY_NS)."""
    time.sleep(0.12)


def check_json(tree: Path, cache: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    run = hdrtest("check", "--cache-dir", str(cache), "--variants", "none", "--format", "json", "-q", *extra,
                  *([] if any(e.endswith(".h") for e in extra) else ["."]), cwd=tree)
    assert run.returncode in (0, 1), run.stderr
    data: dict = run.json()  # type: ignore[type-arg]
    data["stderr"] = run.stderr
    return data


def verdicts(data: dict) -> dict[str, tuple[str, bool]]:  # type: ignore[type-arg]
    return {r["header"]: (r["status"], r["cached"]) for r in data["results"]}


# --- item 18: damaged pages --------------------------------------------------------------------------------------


def _damage(db: Path) -> None:
    """Overwrite every page but the header page: the file still opens, reading its rows fails."""
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    size = db.stat().st_size
    assert size > 3 * page
    with db.open("r+b") as handle:
        for number in range(1, size // page):
            handle.seek(number * page + 100)
            handle.write(b"\xde\xad\xbe\xef" * 200)


@pytest.fixture
def damaged(tmp_path: Path) -> tuple[Path, Path]:
    tree = write_tree(tmp_path / "tree", {f"h{i}.h": f"#pragma once\nstruct s{i} {{ int a[{i + 1}]; }};\n"
                                          for i in range(40)})
    settle()
    cache = tmp_path / "cache"
    first = check_json(tree, cache)
    assert len(first["results"]) == 40
    _damage(cache / DB_NAME)
    return tree, cache


def test_damaged_pages_are_set_aside_with_one_warning_and_caching_resumes(damaged: tuple[Path, Path]) -> None:
    tree, cache = damaged
    second = check_json(tree, cache)
    warnings = [ln for ln in second["stderr"].splitlines() if "warning" in ln]
    assert len(warnings) == 1 and "set aside" in warnings[0], second["stderr"]
    assert {s for s, _ in verdicts(second).values()} == {"pass"}
    assert list(cache.glob(DB_NAME + ".corrupt-*"))
    third = check_json(tree, cache)
    assert third["summary"]["cache_hits"] == 40, third["stderr"]
    assert "warning" not in third["stderr"]


@pytest.mark.parametrize("action", [["stats"], ["clear"], ["prune", "--max-size", "1M"]])
def test_cache_commands_on_damaged_pages(damaged: tuple[Path, Path], action: list[str]) -> None:
    tree, cache = damaged
    run = hdrtest("cache", *action, "--cache-dir", str(cache), cwd=tree)
    assert run.returncode == 0, run.stderr
    assert "set aside" in run.stderr and "internal error" not in run.stderr
    con = sqlite3.connect(cache / DB_NAME)
    assert con.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    con.close()


def test_healthy_cache_is_not_set_aside(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "tree", {"a.h": "int a;\n"})
    settle()
    cache = tmp_path / "cache"
    check_json(tree, cache)
    run = hdrtest("cache", "stats", "--cache-dir", str(cache), cwd=tree)
    assert run.returncode == 0 and run.stderr == ""
    assert "entries: 1" in run.stdout
    assert not list(cache.glob(DB_NAME + ".corrupt-*"))


# --- item 18: content the flags only name ---------------------------------------------------------------------


def test_edit_inside_a_response_file_is_not_a_stale_pass(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "tree", {"a.h": "#if X != 1\n#error X is not 1\n#endif\n"})
    rsp = tree / "flags.rsp"
    rsp.write_text("-DX=1\n", encoding="utf-8")
    settle()
    cache = tmp_path / "cache"
    flags = f"--cflags=@{rsp}"
    assert verdicts(check_json(tree, cache, flags)) == {"a.h": ("pass", False)}
    assert verdicts(check_json(tree, cache, flags)) == {"a.h": ("pass", True)}
    rsp.write_text("-DX=2\n", encoding="utf-8")
    assert verdicts(check_json(tree, cache, flags)) == {"a.h": ("fail", False)}


def test_edit_inside_a_nested_response_file(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "tree", {"a.h": "#if X != 1\n#error X is not 1\n#endif\n"})
    inner = tree / "inner.rsp"
    inner.write_text("-DX=1\n", encoding="utf-8")
    (tree / "outer.rsp").write_text(f"@{inner}\n", encoding="utf-8")
    settle()
    cache = tmp_path / "cache"
    flags = f"--cflags=@{tree / 'outer.rsp'}"
    assert verdicts(check_json(tree, cache, flags)) == {"a.h": ("pass", False)}
    inner.write_text("-DX=3\n", encoding="utf-8")
    assert verdicts(check_json(tree, cache, flags)) == {"a.h": ("fail", False)}


def test_edit_inside_a_compiler_wrapper_script_is_not_a_stale_pass(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "tree", {"a.h": "#if X != 1\n#error X is not 1\n#endif\n"})
    wrapper = tmp_path / "bin" / "cc-wrapper"
    wrapper.parent.mkdir()

    def write_wrapper(value: int) -> None:
        wrapper.write_text(f'#!/bin/sh\nexec gcc -DX={value} "$@"\n', encoding="utf-8")
        wrapper.chmod(0o755)

    write_wrapper(1)
    settle()
    cache = tmp_path / "cache"
    assert verdicts(check_json(tree, cache, "--cc", str(wrapper))) == {"a.h": ("pass", False)}
    assert verdicts(check_json(tree, cache, "--cc", str(wrapper))) == {"a.h": ("pass", True)}
    write_wrapper(2)  # same path, same --version line
    assert verdicts(check_json(tree, cache, "--cc", str(wrapper))) == {"a.h": ("fail", False)}


# --- item 10: failures on a missing file are cached, keyed on the search path -------------------------------------


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_missing_include_failure_is_cached_until_the_file_appears(tmp_path: Path, cc: str) -> None:
    tree = write_tree(tmp_path / "tree", {"m.h": '#include <stddef.h>\n#include "sub/missing.h"\nint y;\n',
                                          "inc/keep.h": "\n"})
    settle()
    cache = tmp_path / "cache"
    flags = ("--cc", cc, f"--cflags=-I{tree / 'inc'}", "m.h")
    assert verdicts(check_json(tree, cache, *flags)) == {"m.h": ("fail", False)}
    assert verdicts(check_json(tree, cache, *flags)) == {"m.h": ("fail", True)}
    # The missing file appears in a directory of the search path (not the includer's): the failure is stale.
    (tree / "inc" / "sub").mkdir()
    (tree / "inc" / "sub" / "missing.h").write_text("int z;\n", encoding="utf-8")
    settle()
    assert verdicts(check_json(tree, cache, *flags)) == {"m.h": ("pass", False)}
    os.unlink(tree / "inc" / "sub" / "missing.h")
    settle()
    assert verdicts(check_json(tree, cache, *flags)) == {"m.h": ("fail", False)}
