"""Precision of closure-wide witnesses (issue 14): a witness the configuration system's resolved flip does not
keep plans nothing, and a definition made by a file-scope invocation of a pasting macro counts."""

from __future__ import annotations

from pathlib import Path

from conftest import hdrtest, write_tree

from hdrtest.analysis.expansion import made_definitions
from hdrtest.scan.cindex import index_file
from hdrtest.scan.formula import TRUE, Defined
from hdrtest.scan.uses import FileScopeCall, file_scope_calls

A_H = "#ifndef A_H\n#define A_H\n#ifdef CONFIG_A\nstruct a_state { int x; };\n#endif\n#endif\n"
# perf_event.h:1101's shape: the use sits under B; its definition under A.
DEEP_B = ('#ifndef DEEP_H\n#define DEEP_H\n#include "a.h"\n#ifdef CONFIG_B\nstruct deep { struct a_state s; };\n'
          "#endif\n#endif\n")
TOP = '#include "deep.h"\nint top;\n'


def kconfig_tree(root: Path, b_depends_on_a: bool) -> None:
    depends = "\tdepends on A\n" if b_depends_on_a else ""
    write_tree(root, {
        "Kconfig": f'config A\n\tbool "a"\n\tdefault y\n\nconfig B\n\tbool "b"\n{depends}\tdefault y\n',
        ".config": "CONFIG_A=y\nCONFIG_B=y\n",
        "hdrtest.toml": 'kconfig = "Kconfig"\n',
        "a.h": A_H, "deep.h": DEEP_B, "top.h": TOP,
    })


def check(root: Path, compiler: str, cflags: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    run = hdrtest("check", "--cc", compiler, f"--cflags={cflags}", "--format", "json", "top.h", cwd=root)
    assert run.returncode in (0, 1), run.stderr
    return run.returncode, run.json()


def variants_of(data: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {r["variant"]["name"]: r["status"] for r in data["results"] if r["header"] == "top.h"}


def test_a_witness_kconfig_resolves_away_plans_nothing(tmp_path: Path, compiler: str) -> None:
    kconfig_tree(tmp_path, b_depends_on_a=True)
    code, data = check(tmp_path, compiler, "-DCONFIG_A -DCONFIG_B")
    # A=n takes B, the use's guard, along: the use is gone with the definition, nothing can break.
    assert code == 0 and variants_of(data) == {"baseline": "pass"}, (variants_of(data), data.get("notes"))
    assert "CONFIG_A" not in data["relevant_options"].get("top.h", {})
    notes = "\n".join(data.get("notes", []))
    assert "closure analysis: 1 fragile use(s) not flipped" in notes and "deep.h:5 a_state" in notes, notes


def test_the_same_use_without_the_dependency_is_still_planned_and_fails(tmp_path: Path, compiler: str) -> None:
    kconfig_tree(tmp_path, b_depends_on_a=False)
    code, data = check(tmp_path, compiler, "-DCONFIG_A -DCONFIG_B")
    assert variants_of(data) == {"baseline": "pass", "CONFIG_A=n": "fail"}, variants_of(data)
    assert code == 1
    assert data["relevant_options"]["top.h"]["CONFIG_A"].startswith("deep.h:5 uses a_state"), data


# page-flags.h:584-594's shape: the #else stub is made by a file-scope invocation of a macro whose callee
# pastes the name (FOLIO_FLAG_FALSE(swapcache) -> FOLIO_TEST_FLAG_FALSE -> folio_test_##name).
FLAGS = ("#ifndef FLAGS_H\n#define FLAGS_H\n"
         "#define TEST_FLAG_FALSE(name) static inline int test_##name(void) { return 0; }\n"
         "#define FLAG_FALSE(name) TEST_FLAG_FALSE(name)\n"
         "#ifdef CONFIG_S\nstatic inline int test_swap(void) { return 1; }\n{stub}#endif\n#endif\n")
DEEP_S = ('#ifndef DEEP_H\n#define DEEP_H\n#include "flags.h"\n'
          "static inline int deep_check(void)\n{\n\treturn test_swap();\n}\n#endif\n")


def test_a_stub_made_by_a_pasting_macro_is_a_definition(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"flags.h": FLAGS.replace("{stub}", "#else\nFLAG_FALSE(swap)\n"), "deep.h": DEEP_S,
                          "top.h": TOP})
    code, data = check(tmp_path, compiler, "-DCONFIG_S")
    assert code == 0 and variants_of(data) == {"baseline": "pass"}, variants_of(data)
    assert "CONFIG_S" not in data["relevant_options"].get("top.h", {})


def test_without_the_pasted_stub_the_use_is_fragile_and_fails(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"flags.h": FLAGS.replace("{stub}", ""), "deep.h": DEEP_S, "top.h": TOP})
    code, data = check(tmp_path, compiler, "-DCONFIG_S -Werror=implicit-function-declaration")
    assert data["relevant_options"]["top.h"]["CONFIG_S"].startswith("deep.h:6 uses test_swap"), data
    assert variants_of(data) == {"baseline": "pass", "CONFIG_S=n": "fail"} and code == 1, variants_of(data)


def test_file_scope_calls_are_invocations_not_declarators_or_members() -> None:
    code = ("#define X(n) int n\nX(one)\nstatic inline int\nsplit(int y);\nstruct s {\n\tDECL(two);\n};\n"
            "PAIR(three, f(a, b))\n\tINDENTED(four)\nint g(void);\nAFTER_DECL(five);\n"
            "#if A\nIN_IF(six)\n#endif\nCALL(\"(\", seven)\nvoid h(void) { BODY(eight); }\nNONE()\n")
    assert file_scope_calls(code) == [
        FileScopeCall("X", ("one",), 2), FileScopeCall("PAIR", ("three", "f(a, b)"), 8),
        FileScopeCall("INDENTED", ("four",), 9), FileScopeCall("AFTER_DECL", ("five",), 11),
        FileScopeCall("IN_IF", ("six",), 13), FileScopeCall("CALL", ("", "seven"), 15),
        FileScopeCall("NONE", (), 17)]


def test_made_definitions_take_the_condition_of_the_macro_definition_expanded() -> None:
    text = ("#ifdef CONFIG_X\n#define DEFINE_GETTER(n) int get_##n(void);\n#else\n#define DEFINE_GETTER(n)\n#endif\n"
            "#define PLAIN(n) int n(void);\nDEFINE_GETTER(speed)\nPLAIN(not_pasted)\n")
    macros = [d for d in index_file("/t/g.h", text.encode()) if d.kind == "macro"]
    calls = [("/t/g.h", c.name, c.args, c.line, TRUE) for c in file_scope_calls(text)]
    made = made_definitions(calls, lambda name: [d for d in macros if d.name == name], 3)
    assert set(made) == {"get_speed"}  # PLAIN pastes nothing: only invocations of pasting macros are expanded
    (getter,) = made["get_speed"]
    assert (getter.kind, getter.line, getter.condition) == ("function-decl", 7, Defined("CONFIG_X"))
