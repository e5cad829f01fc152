"""``hdrtest audit``: every failure under the one place a maintainer fixes, nothing unestablished called a breakage."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import hdrtest, write_tree

A_ONLY = "#ifndef A_H\n#define A_H\n#ifdef CONFIG_A\nstruct a_state { int x; };\n#endif\n#endif\n"
DEEP = '#ifndef DEEP_H\n#define DEEP_H\n#include "a.h"\nstruct deep { struct a_state s; };\n#endif\n'
MID = '#ifndef MID_H\n#define MID_H\n#include "deep.h"\nint mid;\n#endif\n'
TREE = {
    "a.h": A_ONLY, "deep.h": DEEP, "mid.h": MID,
    "top1.h": '#include "mid.h"\nint top1;\n', "top2.h": '#include "mid.h"\nint top2;\n',
    # Found by the headers' own option, not by a fragile use: one place, two headers.
    "c.h": "#ifndef C_H\n#define C_H\n#ifndef CONFIG_C\n#error needs CONFIG_C\n#endif\n#endif\n",
    "c1.h": '#include "c.h"\nint c1;\n#ifdef CONFIG_C\nint c1_on;\n#endif\n',
    "c2.h": '#include "c.h"\nint c2;\n#ifdef CONFIG_C\nint c2_on;\n#endif\n',
    # Fails as configured: a baseline failure, not a variant finding.
    "broken.h": "int broken = missing;\n",
    "list.h": "/* hdrtest: skip - an X-macro list */\nX(a)\n",
}
FLAGS = "--cflags=-DCONFIG_A -DCONFIG_C"


def test_audit_puts_every_failure_under_one_place(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, TREE)
    run = hdrtest("audit", "--cc", compiler, FLAGS, "--format", "json", ".", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    data = run.json()
    assert data["schema"] == "hdrtest-audit/2"
    [cause] = data["root_causes"]
    assert (cause["file"], cause["line"], cause["option"]) == ("deep.h", 4, "CONFIG_A")
    assert sorted(cause["headers"]) == ["mid.h", "top1.h", "top2.h"]
    # deep.h names a_state itself, so its option is not a fragile one; its error is at the same use all the same.
    assert [v["header"] for v in cause["own"]] == ["deep.h"]
    assert "incomplete type" in cause["error"]
    assert cause["variants"][0]["reproduce"][0].startswith("cd ")
    [breakage] = data["breakages"]
    assert breakage["place"] == "c.h:4"
    assert "needs CONFIG_C" in breakage["message"]
    assert breakage["setting"] == "CONFIG_C=n"
    assert sorted(breakage["headers"]) == ["c.h", "c1.h", "c2.h"]
    assert [f["header"] for f in data["baseline_failures"]] == ["broken.h"]
    assert "missing" in data["baseline_failures"][0]["error"]
    assert [s["header"] for s in data["skipped"]] == ["list.h"]
    # broken.h's variants (none here) and the grouped failures are never counted twice.
    assert data["summary"]["failed_results"] == len(cause["variants"]) + 1 + 3 + 1


def test_audit_text_ranks_places_and_says_what_a_baseline_failure_is(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, TREE)
    text = hdrtest("audit", "--cc", compiler, FLAGS, ".", cwd=tmp_path).stdout
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  1. deep.h:4 uses a_state"))
    assert "breaks 3 headers that include deep.h, in CONFIG_A=n" in lines[first]
    assert lines[first + 1].strip() == "it also breaks, at the use: deep.h"
    assert "witness: CONFIG_A=n;" in text  # no other option changed outside Kconfig
    second = next(line for line in lines if line.startswith("  2. "))
    assert second.startswith("  2. c.h:4: ") and "breaks 3 headers in CONFIG_C=n" in second, second
    assert "1 header(s) fail in the baseline configuration" in text
    assert any(line.strip().startswith("broken.h: broken.h:1:") for line in lines), text
    assert ", 1 skipped (reasons: --format json)," in lines[-1], lines[-1]


def test_refuted_candidates_are_counted_by_distinct_use(tmp_path: Path, compiler: str) -> None:
    # full.h always defines the struct and makes a.h step aside: the analysis proposes CONFIG_A=n for both
    # tops through one use, and the compiler refutes both.
    write_tree(tmp_path, {
        "full.h": "#ifndef FULL_H\n#define FULL_H\n#define A_FULL\nstruct a_state { int x; };\n#endif\n",
        "a.h": "#ifndef A_H\n#define A_H\n#if defined(CONFIG_A) && !defined(A_FULL)\nstruct a_state { int x; };\n"
               "#endif\n#endif\n",
        "deep.h": DEEP, "mid.h": MID,
        "top1.h": '#include "full.h"\n#include "mid.h"\nint top1;\n',
        "top2.h": '#include "full.h"\n#include "mid.h"\nint top2;\n',
    })
    run = hdrtest("audit", "--cc", compiler, "--cflags=-DCONFIG_A", "--format", "json", "top1.h", "top2.h",
                  cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    data = run.json()
    assert data["root_causes"] == [] and data["breakages"] == []
    assert {c["header"] for c in data["refuted_candidates"]} == {"top1.h", "top2.h"}
    assert data["refuted_uses"] == 1
    text = hdrtest("audit", "--cc", compiler, "--cflags=-DCONFIG_A", "top1.h", "top2.h", cwd=tmp_path).stdout
    assert "2 candidate(s) (1 distinct use(s)) refuted by the compiler" in text


def test_audit_writes_each_report_asked_for_and_refuses_a_format_it_does_not_write(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, TREE)
    run = hdrtest("audit", "--cc", compiler, FLAGS, "--format", "json", "-o", "r.json", "--report", "text=r.txt", ".",
                  cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert json.loads((tmp_path / "r.json").read_text())["root_causes"]
    # The same text audit prints (but for its last line's elapsed time).
    text = hdrtest("audit", "--cc", compiler, FLAGS, ".", cwd=tmp_path).stdout
    assert (tmp_path / "r.txt").read_text().splitlines()[:-1] == text.splitlines()[:-1] and "root cause" in text
    refused = hdrtest("audit", "--cc", compiler, FLAGS, "--report", "sarif=r.sarif", ".", cwd=tmp_path)
    assert refused.returncode == 2 and "--report" in refused.stderr and not (tmp_path / "r.sarif").exists()
