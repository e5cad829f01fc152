"""Precision of the closure-wide analysis (issue 14's noise in Linux): names that are no file-scope
definitions or uses must not plan variants, while a real fragile use of the same shape still does."""

from __future__ import annotations

from pathlib import Path

from conftest import hdrtest, write_tree

from hdrtest.scan.cindex import index_file
from hdrtest.scan.uses import identifiers_in

# kcsan-checks.h:207-210: a #define whose body is only blanks, then a prototype over two lines.
NOISE_K = ("#ifndef K_H\n#define K_H\n#ifdef CONFIG_K\nint k_begin(const void *ptr, int type);\n#else\n"
           "#define k_cleanup \nstatic inline int\nk_begin(const void *ptr, int type) { return type; }\n"
           "#endif\n#endif\n")
REAL_R = "#ifndef R_H\n#define R_H\n#ifdef CONFIG_R\nextern int r_count;\n#endif\n#endif\n"
# cmpxchg.h's shape: an asm operand named like the parameter; its expression is the real use.
DEEP = ('#ifndef DEEP_H\n#define DEEP_H\n#include "k.h"\n#include "r.h"\n'
        'static inline void bump(int *p)\n{\n\t__asm__ volatile("incl %[ptr]" : [ptr] "+m" (*p));\n}\n'
        'static inline void bump_r(void)\n{\n\t__asm__ volatile("incl %[cnt]" : [cnt] "+m" (r_count));\n}\n'
        "#endif\n")
TOP = '#include "deep.h"\nint top;\n'


def plan(tmp_path: Path, compiler: str, cflags: str) -> tuple[int, dict[str, str], set[str]]:
    run = hdrtest("check", "--cc", compiler, f"--cflags={cflags}", "--format", "json", "top.h", cwd=tmp_path)
    data = run.json()
    variants = {r["variant"]["name"]: r["status"] for r in data["results"] if r["header"] == "top.h"}
    return run.returncode, data["relevant_options"].get("top.h", {}), set(variants)


def test_parameters_are_not_definitions_even_after_a_blank_define() -> None:
    names = {(d.name, d.kind) for d in index_file("k.h", NOISE_K.encode())}
    assert ("k_begin", "function") in names and ("k_cleanup", "macro") in names
    assert not {n for n, _ in names} & {"ptr", "type"}, names
    # A comment that starts in a #define and ends lines later goes with it: what follows is still C.
    after = index_file("c.h", b"#define C 1 /* one\n * two */\nextern int c_after;\n")
    assert [d.name for d in after if d.kind == "variable"] == ["c_after"]


def test_asm_operand_names_are_not_uses_but_subscripts_and_operands_are() -> None:
    assert identifiers_in('asm("xchg %[ptr]" : [ptr] "+m" (*p), [new] "r" (n))') == {"p", "n"}
    assert "ptr" in identifiers_in("return a[ptr];")
    assert "r_count" in identifiers_in('asm("incl %[cnt]" : [cnt] "+m" (r_count))')


def test_parameter_and_asm_operand_names_plan_nothing_real_use_still_fails(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"k.h": NOISE_K, "r.h": REAL_R, "deep.h": DEEP, "top.h": TOP})
    code, relevant, variants = plan(tmp_path, compiler, "-DCONFIG_R")
    assert "CONFIG_K" not in relevant and not any("CONFIG_K" in v for v in variants), (relevant, variants)
    assert relevant["CONFIG_R"].startswith("deep.h:11 uses r_count"), relevant
    assert code == 1  # CONFIG_R=n: r_count undeclared in bump_r's operand


# init.h:11-12: a use under "#if defined(NAME)" needs no more than its own guard.
ATTR = "#ifndef ATTR_H\n#define ATTR_H\n#ifdef CONFIG_RP\n#define noretp __attribute__((cold))\n#endif\n#endif\n"
INIT = ("#ifndef INIT_H\n#define INIT_H\n#if defined(noretp) && !defined(MODULE)\n#define init_rp noretp\n"
        "#else\n#define init_rp\n#endif\n#define my_init init_rp\n#endif\n")
# The kernel's compiler-gcc.h comes with every compile (-include compiler_types.h): its macros are the flags'.
GUARDED = '#include "attr.h"\n#include "init.h"\nint my_init setup(void);\n'


def test_use_guarded_by_its_own_defined_plans_nothing(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"attr.h": ATTR, "init.h": INIT, "top.h": TOP,
                          "deep.h": GUARDED})
    code, relevant, variants = plan(tmp_path, compiler, f"-DCONFIG_RP -include {tmp_path / 'attr.h'}")
    assert code == 0 and "CONFIG_RP" not in relevant and variants == {"baseline"}, (relevant, variants)


def test_unguarded_use_of_the_same_macro_is_still_fragile(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"attr.h": ATTR, "init.h": INIT, "top.h": TOP,
                          "deep.h": GUARDED + "int noretp other(void);\n"})
    _, relevant, variants = plan(tmp_path, compiler, f"-DCONFIG_RP -include {tmp_path / 'attr.h'}")
    assert relevant["CONFIG_RP"].startswith("deep.h:4 uses noretp"), relevant
    assert "CONFIG_RP=n" in variants  # planned: the compile's verdict is the variant machinery's business


# ww_mutex.h:103: an inline function's body tests a macro with #ifdef; testing a name is no use of it.
DBG = "#ifndef DBG_H\n#define DBG_H\n#ifdef CONFIG_DBG\n#define DBG_ON\n#define DBG_LEVEL 2\n#endif\n#endif\n"
LOCK = ('#ifndef LOCK_H\n#define LOCK_H\n#include "dbg.h"\nstruct lk { int x; };\n'
        "static inline void lk_init(struct lk *l)\n{\n\tl->x = 0;\n#ifdef DBG_ON\n\tl->x = 1;\n#endif\n}\n{more}#endif\n")


def test_a_name_tested_in_a_body_directive_is_no_use(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"dbg.h": DBG, "deep.h": LOCK.replace("{more}", ""), "top.h": TOP})
    code, relevant, variants = plan(tmp_path, compiler, "-DCONFIG_DBG")
    assert code == 0 and "CONFIG_DBG" not in relevant and variants == {"baseline"}, (relevant, variants)


def test_the_same_macro_used_in_a_body_is_still_fragile(tmp_path: Path, compiler: str) -> None:
    more = "static inline int lk_level(void)\n{\n\treturn DBG_LEVEL;\n}\n"
    write_tree(tmp_path, {"dbg.h": DBG, "deep.h": LOCK.replace("{more}", more), "top.h": TOP})
    code, relevant, variants = plan(tmp_path, compiler, "-DCONFIG_DBG")
    assert relevant["CONFIG_DBG"].startswith("deep.h:14 uses DBG_LEVEL"), relevant
    assert code == 1 and "CONFIG_DBG=n" in variants
