"""Closure-wide fragility through macro expansion: a use reaches a name that can go missing only
through the bodies of the macros it expands (issue 14's misses: cache.h's ``__cacheline_aligned_in_smp``,
disabled-features.h's ``DISABLE_LA57`` behind ``cpu_feature_enabled``)."""

from __future__ import annotations

from pathlib import Path

from conftest import hdrtest, write_tree

from hdrtest.analysis.expansion import invocations, pasted, pasted_names
from hdrtest.scan.formula import TRUE
from hdrtest.scan.symbols import Definition

# The stub removed: LA57_OFF is defined only when CONFIG_LA57 is set.
FEAT = "#ifndef FEAT_H\n#define FEAT_H\n#ifdef CONFIG_LA57\n#define LA57_OFF 0\n#endif\n{rest}#endif\n"
TOP = '#include "deep.h"\nint top;\n'


def check(tmp_path: Path, compiler: str, header: str = "top.h") -> tuple[int, dict]:  # type: ignore[type-arg]
    run = hdrtest("check", "--cc", compiler, "--cflags=-DCONFIG_LA57", "--format", "json", header, cwd=tmp_path)
    return run.returncode, run.json()


def statuses(data: dict, header: str) -> dict[str, str]:  # type: ignore[type-arg]
    return {r["variant"]["name"]: r["status"] for r in data["results"] if r["header"] == header}


def test_attribute_macro_at_file_scope(tmp_path: Path, compiler: str) -> None:
    # cache.h's pattern: a struct deep in the closure ends in an attribute macro that only SMP defines.
    write_tree(tmp_path, {
        "cache.h": "#ifndef CACHE_H\n#define CACHE_H\n#ifdef CONFIG_SMP\n"
                   "#define aligned_in_smp __attribute__((__aligned__(64)))\n#endif\n#endif\n",
        "deep.h": '#ifndef DEEP_H\n#define DEEP_H\n#include "cache.h"\nstruct zone {\n\tint lock aligned_in_smp;\n};\n'
                  "#endif\n",
        "top.h": TOP,
    })
    run = hdrtest("check", "--cc", compiler, "--cflags=-DCONFIG_SMP", "--format", "json", "top.h", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    data = run.json()
    assert statuses(data, "top.h") == {"baseline": "pass", "CONFIG_SMP=n": "fail"}
    assert data["relevant_options"]["top.h"]["CONFIG_SMP"].startswith("deep.h:5 uses aligned_in_smp, defined only")


def test_macro_one_deep_in_an_inline_function(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "feat.h": FEAT.format(rest="#define MASK16 (LA57_OFF | 2)\n"),
        "deep.h": '#include "feat.h"\nstatic inline int mask(void)\n{\n\treturn MASK16;\n}\n',
        "top.h": TOP,
    })
    code, data = check(tmp_path, compiler)
    assert code == 1
    assert statuses(data, "top.h")["CONFIG_LA57=n"] == "fail"
    why = data["relevant_options"]["top.h"]["CONFIG_LA57"]
    assert why.startswith("deep.h:4 uses LA57_OFF through MASK16, defined only when defined(CONFIG_LA57)"), why


def test_macro_chain_two_deep(tmp_path: Path, compiler: str) -> None:
    # cpu_feature_enabled(bit) -> DISABLED_MASK_BIT_SET -> DISABLE_LA57, as in arch/x86.
    write_tree(tmp_path, {
        "feat.h": FEAT.format(rest="#define MASK16 (LA57_OFF | 2)\n#define FEATURE_ENABLED(bit) ((bit) & MASK16)\n"),
        "deep.h": '#include "feat.h"\nstatic inline int l5(void)\n{\n\treturn FEATURE_ENABLED(4);\n}\n',
        "top.h": TOP,
    })
    code, data = check(tmp_path, compiler)
    assert code == 1
    assert statuses(data, "top.h")["CONFIG_LA57=n"] == "fail"
    why = data["relevant_options"]["top.h"]["CONFIG_LA57"]
    assert why.startswith("deep.h:4 uses LA57_OFF through FEATURE_ENABLED -> MASK16, defined only"), why


def test_macro_chain_through_token_pasting(tmp_path: Path, compiler: str) -> None:
    # CHECK_BIT_IN_MASK_WORD(DISABLED_MASK, 16, bit) names DISABLED_MASK16 only by pasting.
    write_tree(tmp_path, {
        "feat.h": FEAT.format(rest="#define DISABLED_MASK16 (LA57_OFF | 2)\n"
                                   "#define CHECK_WORD(maskname, word, bit) ((bit) & maskname##word)\n"
                                   "#define BIT_SET(bit) (CHECK_WORD(DISABLED_MASK, 16, bit))\n"),
        "deep.h": '#include "feat.h"\nstatic inline int l5(void)\n{\n\treturn BIT_SET(4);\n}\n',
        "top.h": TOP,
    })
    code, data = check(tmp_path, compiler)
    assert code == 1
    assert statuses(data, "top.h")["CONFIG_LA57=n"] == "fail"
    why = data["relevant_options"]["top.h"]["CONFIG_LA57"]
    assert why.startswith("deep.h:4 uses LA57_OFF through BIT_SET -> DISABLED_MASK16, defined only"), why


def test_a_macro_nobody_expands_is_no_use(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "feat.h": FEAT.format(rest="#define MASK16 (LA57_OFF | 2)\n"),
        "deep.h": '#include "feat.h"\nstatic inline int mask(void)\n{\n\treturn 2;\n}\n',
        "top.h": TOP,
    })
    code, data = check(tmp_path, compiler)
    assert code == 0
    assert "CONFIG_LA57" not in data["relevant_options"].get("top.h", {})


def test_a_refuted_macro_witness_is_a_passing_variant(tmp_path: Path, compiler: str) -> None:
    # full.h, included first by top.h only, defines LA57_OFF whatever CONFIG_LA57 says: from deep.h's
    # closure the analysis sees only the conditional definition and proposes CONFIG_LA57=n; the compile refutes it.
    write_tree(tmp_path, {
        "full.h": "#ifndef FULL_H\n#define FULL_H\n#define LA57_OFF 1\n#endif\n",
        "feat.h": "#ifndef FEAT_H\n#define FEAT_H\n#if defined(CONFIG_LA57) && !defined(LA57_OFF)\n#define LA57_OFF 0\n"
                  "#endif\n#define MASK16 (LA57_OFF | 2)\n#endif\n",
        "deep.h": '#include "feat.h"\nstatic inline int mask(void)\n{\n\treturn MASK16;\n}\n',
        "top.h": '#include "full.h"\n' + TOP,
    })
    code, data = check(tmp_path, compiler)
    assert code == 0, data
    assert "CONFIG_LA57" in data["relevant_options"]["top.h"]
    assert statuses(data, "top.h")["CONFIG_LA57=n"] == "pass"


def _macro(name: str, params: list[str] | None, body: str) -> Definition:
    signature = f"#define {name}" + ("" if params is None else f"({', '.join(params)})")
    uses = frozenset(w for w in body.replace("#", " ").replace("(", " ").replace(")", " ").replace(",", " ").split()
                     if w.isidentifier() and w not in (params or []))
    return Definition(name, "macro", True, "/x.h", 1, TRUE, signature, uses, None, 1, body)


def test_pasting_binds_the_invocations_arguments() -> None:
    check_word = _macro("CHECK_WORD", ["maskname", "word", "bit"], "((bit) & maskname##word)")
    assert invocations("a(CHECK_WORD(M, 16, f(x, y)) || CHECK_WORD(R, 2, b))", "CHECK_WORD") == [
        ["M", "16", "f(x, y)"], ["R", "2", "b"]]
    assert pasted(check_word, ["DISABLED_MASK", "16", "bit"]) == {"DISABLED_MASK16"}
    assert pasted(check_word, ["(a + b)", "16", "bit"]) == set()  # an expression pastes no name
    caller = _macro("BIT_SET", ["bit"], "(CHECK_WORD(DISABLED_MASK, 16, bit) || CHECK_WORD(REQUIRED_MASK, 3, bit))")
    assert pasted_names(caller, lambda n: [check_word] if n == "CHECK_WORD" else []) == {
        "DISABLED_MASK16", "REQUIRED_MASK3"}
