"""Closure-wide fragility sees where a definition's file is included, and what a file's includers define.

Two patterns of arch/x86 that hid removed stubs from the analysis (issue 14's unprompted misses):
page_types.h includes page_32_types.h, which defines ``__PAGE_OFFSET`` unconditionally, only for 32-bit
builds; pgtable.h defines ``pti_set_user_pgtbl`` and then includes pgtable_64.h, which calls it.
"""

from __future__ import annotations

from pathlib import Path

from conftest import hdrtest, write_tree

FLAGS = "--cflags=-DCONFIG_A -Werror=implicit-function-declaration"


def by_variant(data: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {r["variant"]["name"]: r["status"] for r in data["results"] if r["header"] == "top.h"}


def fails_without_a(root: Path, compiler: str, files: dict[str, str]) -> str:
    """top.h passes in the baseline and fails with CONFIG_A off, found unprompted: the reason given for CONFIG_A."""
    write_tree(root, files)
    run = hdrtest("check", "--cc", compiler, FLAGS, "--format", "json", "top.h", cwd=root)
    assert run.returncode == 1, run.stderr
    data = run.json()
    assert by_variant(data) == {"baseline": "pass", "CONFIG_A=n": "fail"}
    return str(data["relevant_options"]["top.h"]["CONFIG_A"])


def test_a_definition_in_a_file_included_only_elsewhere_does_not_cover_the_use(tmp_path: Path, compiler: str) -> None:
    why = fails_without_a(tmp_path, compiler, {
        "a.h": "#ifndef A_H\n#define A_H\n#ifdef CONFIG_A\n#define PAGE_OFF 1\n#endif\n#endif\n",
        # Unconditional in its own text, but only a CONFIG_W32 build includes it.
        "w32.h": "#ifndef W32_H\n#define W32_H\n#define PAGE_OFF 2\n#endif\n",
        "page.h": '#ifndef PAGE_H\n#define PAGE_H\n#include "a.h"\n#ifdef CONFIG_W32\n#include "w32.h"\n#endif\n'
                  "static inline int off(void)\n{\n\treturn PAGE_OFF;\n}\n#endif\n",
        "top.h": '#include "page.h"\nint top;\n',
    })
    assert why.startswith("page.h:9 uses PAGE_OFF, defined only when"), why
    assert "CONFIG_W32" in why and "w32.h:3" in why, why


def test_a_file_that_relies_on_its_includer_for_a_definition(tmp_path: Path, compiler: str) -> None:
    why = fails_without_a(tmp_path, compiler, {
        "outer.h": "#ifndef OUTER_H\n#define OUTER_H\n#ifdef CONFIG_A\nstatic inline int pti(int x)\n{\n\treturn x;\n}\n"
                   '#endif\n#include "inner.h"\n#endif\n',
        # inner.h includes nothing: what it calls comes from outer.h, which includes it.
        "inner.h": "#ifndef INNER_H\n#define INNER_H\nstatic inline int set(int x)\n{\n\treturn pti(x);\n}\n#endif\n",
        "top.h": '#include "outer.h"\nint top;\n',
    })
    assert why.startswith("inner.h:5 uses pti, defined only when defined(CONFIG_A) (outer.h:4)"), why


def test_with_the_stub_the_includer_pattern_plans_nothing(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "outer.h": "#ifndef OUTER_H\n#define OUTER_H\n#ifdef CONFIG_A\nstatic inline int pti(int x)\n{\n\treturn x;\n}\n"
                   "#else\nstatic inline int pti(int x)\n{\n\treturn 0;\n}\n"
                   '#endif\n#include "inner.h"\n#endif\n',
        "inner.h": "#ifndef INNER_H\n#define INNER_H\nstatic inline int set(int x)\n{\n\treturn pti(x);\n}\n#endif\n",
        "top.h": '#include "outer.h"\nint top;\n',
    })
    run = hdrtest("check", "--cc", compiler, FLAGS, "--format", "json", "top.h", cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    assert run.json()["relevant_options"] == {}
