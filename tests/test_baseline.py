"""Baselines: known failures stay known when lines move; new ones are caught."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hdrtest import baseline
from hdrtest.check import check
from hdrtest.errors import UsageError
from hdrtest.models import CheckReport
from hdrtest.settings import Settings

BAD = "#pragma once\nstruct inner;\nstruct outer { struct inner member; };\n"
ARRAY = "#pragma once\nstruct arr { int v[4]; unknown_t w; };\n"


def _write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _check(root: Path) -> CheckReport:
    return check(Settings(root=root, cflags=("-std=c11",), jobs=2, no_cache=True, variants="none"), [str(root)])


def test_normalize_message() -> None:
    norm = baseline.normalize_message
    assert norm("redefinition of ‘struct s’") == norm("redefinition of 'struct s'")
    assert norm("previous declaration at inc/a.h:12:3") == norm("previous declaration at inc/a.h:40:1")
    assert norm("array size 10 is too large") == "array size N is too large"
    # Digits that are part of a name still tell errors apart.
    assert norm("unknown type name 'u32'") != norm("unknown type name 'u64'")
    assert norm("unknown type name 'int64_t'") == "unknown type name 'int64_t'"


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    _write_tree(root, {"bad.h": BAD, "arr.h": ARRAY, "good.h": "#pragma once\n"})
    report = _check(root)
    assert len(report.failures) == 2
    path = tmp_path / "out" / "hdrtest-baseline.json"
    baseline.write(report, path)
    data = json.loads(path.read_text())
    assert data["version"] == baseline.VERSION
    assert [f["header"] for f in data["failures"]] == ["arr.h", "bad.h"]
    assert data["failures"][1]["errors"] == [
        {"category": "incomplete-type", "message": "field 'member' has incomplete type", "count": 1}]
    loaded = baseline.load(path)
    assert baseline.new_failures(report, loaded) == []


def test_lines_shift_and_files_change_without_new_failures(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    _write_tree(root, {"bad.h": BAD, "arr.h": ARRAY})
    known = baseline.from_report(_check(root))
    # Unrelated edits move the errors down and change a number in one message.
    _write_tree(root, {"bad.h": "/* licence */\n\n\n" + BAD,
                       "arr.h": "#pragma once\n\n// note\nstruct arr { int v[8]; unknown_t w; };\n"})
    shifted = _check(root)
    assert sorted(d.line for r in shifted.failures for d in r.diagnostics if d.is_error) == [4, 6]
    assert baseline.new_failures(shifted, known) == []


def test_new_errors_are_new(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    _write_tree(root, {"bad.h": BAD, "good.h": "#pragma once\n"})
    known = baseline.from_report(_check(root))
    # good.h breaks; bad.h gains a second, different error; a second copy of the same error counts too.
    _write_tree(root, {"good.h": "#pragma once\nstruct g { missing_t x; };\n",
                       "bad.h": BAD + "struct other { struct inner member; };\nstruct again { nope_t y; };\n"})
    report = _check(root)
    fresh = baseline.new_failures(report, known)
    assert sorted(r.job.display for r in fresh) == ["bad.h", "good.h"]
    bad = next(r for r in fresh if r.job.display == "bad.h")
    new_messages = [d.message for d in baseline.new_errors(bad, known.known_errors(baseline.result_key(bad)))]
    assert len(new_messages) == 2 and any("nope_t" in m for m in new_messages)


def test_a_different_variant_is_not_covered(tmp_path: Path) -> None:
    from dataclasses import replace

    from hdrtest.models import Variant

    root = tmp_path / "tree"
    _write_tree(root, {"bad.h": BAD})
    report = _check(root)
    known = baseline.from_report(report)
    moved = replace(report.failures[0], job=replace(report.failures[0].job, variant=Variant(name="CONFIG_A=n")))
    assert baseline.new_failures(CheckReport(root=root, results=[moved]), known) == [moved]


@pytest.mark.parametrize("content, complaint", [
    ("{not json", "invalid JSON"),
    ('{"failures": []}', "no version field"),
    ('{"version": 1}', "no failures list"),
    ('{"version": 1, "failures": [{"header": "a.h"}]}', "lacks header"),
    ('{"version": 99, "failures": []}', "newer than this hdrtest"),
])
def test_bad_baseline_files_are_usage_errors(tmp_path: Path, content: str, complaint: str) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=complaint):
        baseline.load(path)
    with pytest.raises(UsageError, match="not found"):
        baseline.load(tmp_path / "missing.json")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"), NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "hdrtest.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300, check=False)


def test_cli_baseline(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    _write_tree(root, {"bad.h": BAD, "good.h": "#pragma once\n"})
    common = ["check", str(root), "--root", str(root), "--cflags=-std=c11", "--variants", "none", "--no-cache", "-q"]
    plain = _cli(*common, cwd=tmp_path)
    assert plain.returncode == 1, plain.stderr
    recorded = _cli(*common, "--write-baseline", str(tmp_path / "bl.json"), cwd=tmp_path)
    assert recorded.returncode == 0, recorded.stderr
    assert (tmp_path / "bl.json").is_file()

    _write_tree(root, {"bad.h": "\n\n" + BAD})
    known = _cli(*common, "--baseline", str(tmp_path / "bl.json"), cwd=tmp_path)
    assert known.returncode == 0, known.stdout + known.stderr
    assert "0 new failure(s); 1 known failure(s)" in known.stdout and "FAIL bad.h" not in known.stdout

    _write_tree(root, {"good.h": "#pragma once\nstruct g { missing_t x; };\n"})
    fresh = _cli(*common, "--baseline", str(tmp_path / "bl.json"), cwd=tmp_path)
    assert fresh.returncode == 1
    assert "NEW FAIL good.h [c]" in fresh.stdout and "missing_t" in fresh.stdout
    assert "NEW FAIL bad.h" not in fresh.stdout and "1 known failure(s)" in fresh.stdout

    broken = _cli(*common, "--baseline", str(tmp_path / "nowhere.json"), cwd=tmp_path)
    assert broken.returncode == 2 and "baseline file not found" in broken.stderr
