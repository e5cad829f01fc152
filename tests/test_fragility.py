"""Closure-wide fragility: a use deep in the include closure that an option leaves without a definition."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import hdrtest, write_tree

from hdrtest.analysis.sat import is_satisfiable
from hdrtest.graph.resolve import SearchPath
from hdrtest.scan.formula import Atom, Defined, conj, disj, neg
from hdrtest.store.namespaces import FACTS

A_ONLY = "#ifndef A_H\n#define A_H\n#ifdef CONFIG_A\nstruct a_state { int x; };\n#endif\n#endif\n"
A_STUBBED = ("#ifndef A_H\n#define A_H\n#ifdef CONFIG_A\nstruct a_state { int x; };\n#else\nstruct a_state { };\n"
             "#endif\n#endif\n")
DEEP = '#ifndef DEEP_H\n#define DEEP_H\n#include "a.h"\nstruct deep { struct a_state s; };\n#endif\n'
MID = '#ifndef MID_H\n#define MID_H\n#include "deep.h"\nint mid;\n#endif\n'
TOP = '#include "mid.h"\nint top;\n'


def by_variant(data: dict, header: str) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r["variant"]["name"]: r for r in data["results"] if r["header"] == header}


def test_deep_embedded_struct_breaks_the_top_header_found_unprompted(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"a.h": A_ONLY, "deep.h": DEEP, "mid.h": MID, "top.h": TOP})
    run = hdrtest("check", "--cc", compiler, "--cflags=-DCONFIG_A", "--format", "json", "top.h", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    data = run.json()
    results = by_variant(data, "top.h")
    assert results["baseline"]["status"] == "pass"
    assert results["CONFIG_A=n"]["status"] == "fail"
    why = data["relevant_options"]["top.h"]["CONFIG_A"]
    assert why.startswith("deep.h:4 uses a_state, defined only when defined(CONFIG_A) (a.h:4)"), why
    # Without the closure analysis nothing top.h itself uses or tests is guarded: no variant, no failure.
    off = hdrtest("check", "--cc", compiler, "--cflags=-DCONFIG_A", "--no-closure-analysis", "--format", "json",
                  "top.h", cwd=tmp_path)
    assert off.returncode == 0, off.stderr
    assert set(by_variant(off.json(), "top.h")) == {"baseline"}


def test_with_the_stub_there_is_nothing_to_flip(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"a.h": A_STUBBED, "deep.h": DEEP, "mid.h": MID, "top.h": TOP})
    run = hdrtest("check", "--cc", compiler, "--cflags=-DCONFIG_A", "--format", "json", "top.h", cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    assert run.json()["relevant_options"] == {}


def test_a_refuted_witness_is_a_passing_variant_not_a_failure(tmp_path: Path, compiler: str) -> None:
    # full.h defines the struct whatever CONFIG_A says, and a.h steps aside when it did: the analysis
    # cannot know A_FULL is always defined first here, so it proposes CONFIG_A=n, and the compiler refutes it.
    write_tree(tmp_path, {
        "full.h": "#ifndef FULL_H\n#define FULL_H\n#define A_FULL\nstruct a_state { int x; };\n#endif\n",
        "a.h": "#ifndef A_H\n#define A_H\n#if defined(CONFIG_A) && !defined(A_FULL)\nstruct a_state { int x; };\n"
               "#endif\n#endif\n",
        "deep.h": DEEP, "mid.h": MID, "top.h": '#include "full.h"\n' + TOP,
    })
    run = hdrtest("check", "--cc", compiler, "--cflags=-DCONFIG_A", "--format", "json", "top.h", cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    data = run.json()
    assert "CONFIG_A" in data["relevant_options"]["top.h"]
    assert by_variant(data, "top.h")["CONFIG_A=n"]["status"] == "pass"


def test_inline_function_use_of_a_conditional_variable(tmp_path: Path, compiler: str) -> None:
    # The hrtimer.h pattern: an inline function uses a variable declared only under an option.
    write_tree(tmp_path, {
        "timer.h": "#ifndef TIMER_H\n#define TIMER_H\n#ifdef CONFIG_HIGH_RES\nextern unsigned int resolution;\n"
                   "#endif\nstatic inline unsigned int get_res(void)\n{\n\treturn resolution;\n}\n#endif\n",
        "user.h": '#include "timer.h"\nint user;\n',
    })
    run = hdrtest("check", "--cc", compiler, "--cflags=-DCONFIG_HIGH_RES", "--format", "json", "user.h",
                  cwd=tmp_path)
    assert run.returncode == 1
    data = run.json()
    assert by_variant(data, "user.h")["CONFIG_HIGH_RES=n"]["status"] == "fail"
    assert data["relevant_options"]["user.h"]["CONFIG_HIGH_RES"].startswith("timer.h:8 uses resolution")


def test_sat_interface() -> None:
    a, b = Defined("CONFIG_A"), Defined("CONFIG_B")
    assert is_satisfiable(conj(a, neg(a))) is None
    witness = is_satisfiable(conj(a, neg(disj(b, Atom("CONFIG_HZ > 100")))))
    assert witness is not None and witness["CONFIG_A"] and not witness["CONFIG_B"]
    assert is_satisfiable(conj(a, b), {"CONFIG_B": False}) is None
    assert is_satisfiable(conj(conj(a, b), neg(a))) is None and is_satisfiable(conj(a, neg(conj(a, b)))) is not None


def test_one_root_cause_is_reported_once_for_every_header_it_breaks(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"a.h": A_ONLY, "deep.h": DEEP, "mid.h": MID,
                          **{f"top{i}.h": TOP.replace("int top;", f"int top{i};") for i in (1, 2, 3)}})
    args = ("check", "--cc", compiler, "--cflags=-DCONFIG_A", ".")
    data = hdrtest(*args, "--format", "json", cwd=tmp_path).json()
    causes = data["root_causes"]
    assert len(causes) == 1, causes
    cause = causes[0]
    assert (cause["file"], cause["line"], cause["name"], cause["option"]) == ("deep.h", 4, "a_state", "CONFIG_A")
    # deep.h names a_state itself (ordinary relevance); the others never name it.
    assert sorted(cause["headers"]) == ["mid.h", "top1.h", "top2.h", "top3.h"]
    assert cause["definitions"] == ["a.h:4"]
    text = hdrtest(*args, cwd=tmp_path)
    assert text.returncode == 1
    assert text.stdout.count("ROOT CAUSE deep.h:4 uses a_state") == 1
    assert "breaks 4 headers that include deep.h, in CONFIG_A=n" in text.stdout
    shown = [line for line in text.stdout.splitlines() if line.startswith("FAIL ")]
    assert len([line for line in shown if "top" in line or "mid.h" in line]) == 1, shown
    sarif = json.loads(hdrtest(*args, "--format", "sarif", cwd=tmp_path).stdout)
    at_use = [r for r in sarif["runs"][0]["results"]
              if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "deep.h"
              and r["locations"][0]["physicalLocation"]["region"]["startLine"] == 4]
    assert len(at_use) == 1
    assert sorted(at_use[0]["properties"]["rootCauseHeaders"]) == ["mid.h", "top1.h", "top2.h", "top3.h"]
    assert any(rel["physicalLocation"]["artifactLocation"]["uri"] == "a.h"
               and rel["physicalLocation"]["region"]["startLine"] == 4 for rel in at_use[0]["relatedLocations"])


def test_audit_ranks_root_causes_and_counts_refuted_candidates(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "a.h": A_ONLY, "deep.h": DEEP, "mid.h": MID,
        **{f"top{i}.h": TOP.replace("int top;", f"int top{i};") for i in (1, 2, 3)},
        # A second, smaller root cause: one header breaks through b.h's inline function.
        "b.h": "#ifndef B_H\n#define B_H\n#ifdef CONFIG_B\nextern int b_count;\n#endif\n"
               "static inline int b_get(void)\n{\n\treturn b_count;\n}\n#endif\n",
        "btop.h": '#include "b.h"\nint btop;\n',
    })
    run = hdrtest("audit", "--cc", compiler, "--cflags=-DCONFIG_A -DCONFIG_B", "--format", "json", ".",
                  cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    data = run.json()
    ranked = [(c["file"], c["option"], len(c["headers"])) for c in data["root_causes"]]
    assert ranked == [("deep.h", "CONFIG_A", 4), ("b.h", "CONFIG_B", 1)], ranked
    assert data["refuted_candidates"] == []
    text = hdrtest("audit", "--cc", compiler, "--cflags=-DCONFIG_A -DCONFIG_B", ".", cwd=tmp_path).stdout
    assert "2 root cause(s) confirmed" in text
    assert "  1. deep.h:4 uses a_state" in text


def test_audit_with_stubs_finds_nothing(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"a.h": A_STUBBED, "deep.h": DEEP, "mid.h": MID, "top.h": TOP})
    run = hdrtest("audit", "--cc", compiler, "--cflags=-DCONFIG_A", "--format", "json", ".", cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    assert run.json()["root_causes"] == []


def test_audit_rejects_other_formats(tmp_path: Path) -> None:
    write_tree(tmp_path, {"top.h": "int top;\n"})
    run = hdrtest("audit", "--format", "sarif", ".", cwd=tmp_path)
    assert run.returncode == 2
    assert "--format" in run.stderr and run.stderr.count("\n") == 1


def test_facts_are_cached_by_content_so_a_second_audit_computes_only_the_edited_file(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "tree", {"a.h": A_ONLY, "deep.h": DEEP, "mid.h": MID, "top.h": TOP})
    cache = tmp_path / "cache"

    def stored() -> set[str]:
        return {p.name for p in FACTS.directory(cache).glob("*/*.pickle")}

    args = ("audit", "--cflags=-DCONFIG_A", "--cache-dir", str(cache), "--format", "json", ".")
    assert hdrtest(*args, cwd=tree).returncode == 1
    first = stored()
    # One record per file content, made as the symbol index reads each file: the tree's four, and what the
    # compiler reads before every header (gcc's stdc-predef.h).
    assert len(first) == 4 + len(SearchPath.from_flags([], tree, os.environ.get("CC") or "cc").implicit_includes)
    (tree / "mid.h").write_text(MID.replace("int mid;", "int mid, mid2;"), encoding="utf-8")
    again = hdrtest(*args, cwd=tree)
    assert again.returncode == 1
    assert again.json()["root_causes"][0]["file"] == "deep.h"
    assert len(stored() - first) == 1  # only the edited file's facts were computed


def test_defaults_and_arch_overrides_are_not_candidates(tmp_path: Path, compiler: str) -> None:
    # Two kernel idioms that cover every configuration through header macros, not through #else:
    # a default under #ifndef X, and an arch definition announced by a __HAVE_ARCH_ macro.
    write_tree(tmp_path, {
        "barrier.h": "#ifndef BARRIER_H\n#define BARRIER_H\n#ifdef CONFIG_SMP\n#define smp_mb2() 1\n#endif\n"
                     "#ifndef smp_mb2\n#define smp_mb2() 0\n#endif\n#endif\n",
        "arch.h": "#ifndef ARCH_H\n#define ARCH_H\n#ifndef CONFIG_KMSAN\n#define __HAVE_ARCH_FILL64\n"
                  "static inline void fill64(long *p) { *p = 0; }\n#endif\n#endif\n",
        "generic.h": '#ifndef GENERIC_H\n#define GENERIC_H\n#include "arch.h"\n#ifndef __HAVE_ARCH_FILL64\n'
                     "static inline void fill64(long *p) { *p = 1; }\n#endif\n#endif\n",
        "user.h": '#include "barrier.h"\n#include "generic.h"\n'
                  "static inline int user(long *p)\n{\n\tfill64(p);\n\treturn smp_mb2();\n}\n",
        "top.h": '#include "user.h"\n',
    })
    run = hdrtest("check", "--cc", compiler, "--cflags=-DCONFIG_SMP", "--format", "json", "top.h", cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    assert run.json()["relevant_options"] == {}


def test_one_line_inline_function_uses_count_and_members_and_parameters_do_not(tmp_path: Path,
                                                                               compiler: str) -> None:
    write_tree(tmp_path, {
        "cfg.h": "#ifndef CFG_H\n#define CFG_H\n#ifdef CONFIG_FAST\nextern int fast_level;\nextern int ptr;\n#endif\n"
                 "#endif\n",
        "one.h": '#include "cfg.h"\nstatic inline int level(void) { return fast_level; }\n',
        "member.h": '#include "cfg.h"\nstruct box { int ptr; };\nstatic inline int get(struct box *b, int ptr)\n'
                    "{\n\treturn b->ptr + ptr;\n}\n",
        "top.h": '#include "one.h"\n#include "member.h"\n',
    })
    run = hdrtest("check", "--cc", compiler, "--cflags=-DCONFIG_FAST", "--format", "json", "top.h", cwd=tmp_path)
    why = run.json()["relevant_options"]["top.h"]["CONFIG_FAST"]
    assert why.startswith("one.h:2 uses fast_level"), why
    assert by_variant(run.json(), "top.h")["CONFIG_FAST=n"]["status"] == "fail"


def test_uses_skip_members_and_parameters() -> None:
    from hdrtest.analysis.facts import file_uses
    from hdrtest.scan.cindex import index_file
    from hdrtest.scan.directives import scan_directives

    text = ("struct box { int ptr; };\nstatic inline int get(struct box *b, int ptr)\n{\n\treturn b->ptr + ptr + glob;\n}\n"
            "static inline int one(void) { return other; }\n")
    data = text.encode()
    uses = file_uses(data, scan_directives(text, "m.h"), index_file("/m.h", data))
    assert {(u.name, u.line) for u in uses if u.need == "declared"} == {("glob", 4), ("other", 6)}


def test_only_options_whose_single_flip_breaks_the_use_are_proposed(tmp_path: Path, compiler: str) -> None:
    # The use sits under CONFIG_A: turning A off removes the use with the definition, only B's flip breaks it.
    write_tree(tmp_path, {
        "ab.h": "#ifndef AB_H\n#define AB_H\n#if defined(CONFIG_A) && defined(CONFIG_B)\nstruct ab { int x; };\n"
                "#endif\n#ifdef CONFIG_A\nstruct holder { struct ab v; };\n#endif\n#endif\n",
        "top.h": '#include "ab.h"\nint top;\n',
    })
    run = hdrtest("check", "--cc", compiler, "--cflags=-DCONFIG_A -DCONFIG_B", "--format", "json", "top.h",
                  cwd=tmp_path)
    assert set(run.json()["relevant_options"]["top.h"]) == {"CONFIG_B"}
    assert by_variant(run.json(), "top.h")["CONFIG_B=n"]["status"] == "fail"
