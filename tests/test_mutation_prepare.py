"""A removed stub that also breaks Kbuild's prepare step (bounds.c, asm-offsets.c) in the variant.

Most ``#else`` stubs of the kernel sit in headers that asm-offsets.c includes too: with the option
off, the variant's generated headers cannot be made.  The header's failure, compiled with the tree's
generated headers, stands when it fails where the prepare unit failed (that unit read no stale
generated header); otherwise the variant stays not verified (tests/test_kbuild.py keeps that case).
"""

from __future__ import annotations

from pathlib import Path

from conftest import hdrtest, tree_hashes, write_tree
from test_kbuild import toy_kconfig_tree

# The cache.h pattern with its #else stub removed: the attribute macro exists only with TOY_SMP.
SMP_ATTR = """#ifndef TOY_SMP_ATTR_H
#define TOY_SMP_ATTR_H
#ifdef CONFIG_TOY_SMP
#define toy_aligned_in_smp __attribute__((__aligned__(8)))
#endif
struct toy_shared { int lock toy_aligned_in_smp; };
#endif
"""


def test_variant_whose_prepare_unit_fails_at_the_headers_error_fails(tmp_path: Path, compiler: str) -> None:
    root = toy_kconfig_tree(tmp_path, compiler)
    bounds = (root / "kernel" / "bounds.c").read_text()
    write_tree(root, {
        "include/linux/smp_attr.h": SMP_ATTR,
        "include/linux/smp_user.h": "#include <linux/smp_attr.h>\nint smp_user;\n",
        "kernel/bounds.c": "#include <linux/smp_attr.h>\n" + bounds,
        "Kconfig": (root / "Kconfig").read_text() + 'config TOY_SMP\n\tbool "smp"\n\tdefault y\n',
        ".config": (root / ".config").read_text() + "CONFIG_TOY_SMP=y\n",
        "include/generated/autoconf.h": (root / "include/generated/autoconf.h").read_text()
        + "#define CONFIG_TOY_SMP 1\n",
    })
    before = tree_hashes(root)
    run = hdrtest("check", "-q", "--format", "json", "include/linux/smp_user.h", cwd=root,
                  env={"XDG_CACHE_HOME": str(tmp_path / "xdg-run")})
    assert run.returncode == 1, run.stdout + run.stderr
    data = run.json()
    results = {r["variant"]["name"]: r for r in data["results"]}
    assert results["baseline"]["status"] == "pass"
    off = results["CONFIG_TOY_SMP=n"]
    assert off["status"] == "fail", off
    errors = [(d["file"], d["line"]) for d in off["diagnostics"] if d["severity"] == "error"]
    assert ("include/linux/smp_attr.h", 6) in errors
    [note] = [d for d in off["diagnostics"] if d["category"] == "prepare-fails"]
    assert "kernel/bounds.c does not compile in this variant" in note["message"]
    assert data["relevant_options"]["include/linux/smp_user.h"]["CONFIG_TOY_SMP"].startswith(
        "include/linux/smp_attr.h:6 uses toy_aligned_in_smp")
    assert tree_hashes(root) == before


# disabled-features.h's pattern: the name that goes missing is met inside a macro expansion, where gcc's
# text output (the prepare unit's) and its JSON (the header's) give different lines for the same error.
MASK_ATTR = """#ifndef TOY_MASK_H
#define TOY_MASK_H
#ifdef CONFIG_TOY_SMP
#define TOY_LA57_OFF 0
#endif
#define TOY_MASK16 (TOY_LA57_OFF | 2)
static inline int toy_mask(void)
{
\treturn TOY_MASK16;
}
#endif
"""


def test_prepare_unit_error_inside_a_macro_expansion_matches_by_message(tmp_path: Path, compiler: str) -> None:
    root = toy_kconfig_tree(tmp_path, compiler)
    bounds = (root / "kernel" / "bounds.c").read_text()
    write_tree(root, {
        "include/linux/mask.h": MASK_ATTR,
        "include/linux/mask_user.h": "#include <linux/mask.h>\nint mask_user;\n",
        "kernel/bounds.c": "#include <linux/mask.h>\n" + bounds,
        "Kconfig": (root / "Kconfig").read_text() + 'config TOY_SMP\n\tbool "smp"\n\tdefault y\n',
        ".config": (root / ".config").read_text() + "CONFIG_TOY_SMP=y\n",
        "include/generated/autoconf.h": (root / "include/generated/autoconf.h").read_text()
        + "#define CONFIG_TOY_SMP 1\n",
    })
    run = hdrtest("check", "-q", "--format", "json", "include/linux/mask_user.h", cwd=root,
                  env={"XDG_CACHE_HOME": str(tmp_path / "xdg-run")})
    assert run.returncode == 1, run.stdout + run.stderr
    data = run.json()
    off = {r["variant"]["name"]: r for r in data["results"]}["CONFIG_TOY_SMP=n"]
    assert off["status"] == "fail", off
    assert [d["category"] for d in off["diagnostics"]].count("prepare-fails") == 1
    assert data["relevant_options"]["include/linux/mask_user.h"]["CONFIG_TOY_SMP"].startswith(
        "include/linux/mask.h:9 uses TOY_LA57_OFF through TOY_MASK16")
