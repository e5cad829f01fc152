"""The directive scanner: conditionals, presence conditions, includes, defines, guards."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import KCONFIG_H

from hdrtest.scan.directives import ScanError, listed_includes, scan_directives
from hdrtest.scan.formula import FALSE, TRUE, And, Defined, Not, Or, conj, evaluate, neg, to_c

A, B, C = Defined("CONFIG_A"), Defined("CONFIG_B"), Defined("CONFIG_C")


def lines_with(text: str, needle: str) -> list[int]:
    return [i + 1 for i, line in enumerate(text.split("\n")) if needle in line]


def test_nested_conditions_and_elif_else_negation() -> None:
    text = (
        "#ifdef CONFIG_A\n"  # 1
        "int a;\n"  # 2
        "#if defined(CONFIG_B)\n"  # 3
        "int ab;\n"  # 4
        "#elif defined(CONFIG_C)\n"  # 5
        "int a_not_b_c;\n"  # 6
        "#else\n"  # 7
        "int a_not_b_not_c;\n"  # 8
        "#endif\n"  # 9
        "int a_again;\n"  # 10
        "#else\n"  # 11
        "int not_a;\n"  # 12
        "#endif\n"  # 13
        "int always;\n"  # 14
    )
    scan = scan_directives(text, "n.h")
    at = scan.condition_at
    assert at(2) == A
    assert at(4) == And((A, B))
    assert at(6) == And((A, Not(B), C))
    assert at(8) == And((A, Not(B), Not(C)))
    assert at(10) == A
    assert at(12) == Not(A)
    assert at(14) == TRUE
    # Directive lines belong to their context.
    assert at(1) == TRUE and at(3) == A and at(9) == A and at(13) == TRUE

    kinds = [(b.kind, b.start_line, b.end_line, b.depth) for b in scan.conditionals]
    assert kinds == [
        ("ifdef", 1, 11, 0),
        ("if", 3, 5, 1),
        ("elif", 5, 7, 1),
        ("else", 7, 9, 1),
        ("else", 11, 13, 0),
    ]
    elif_block = scan.conditionals[2]
    assert elif_block.formula == C  # the branch alone
    assert elif_block.condition == conj(A, neg(B), C)  # with its context and earlier siblings
    assert scan.conditionals[4].expr == ""


def test_if_zero_is_dead_code() -> None:
    text = "#if 0\nint dead;\n#ifdef CONFIG_A\nint dead2;\n#endif\n#else\nint live;\n#endif\n"
    scan = scan_directives(text, "z.h")
    assert scan.condition_at(2) == FALSE
    assert scan.condition_at(4) == FALSE
    assert scan.condition_at(7) == TRUE  # "#else" of "#if 0": !0


def test_continuations_in_directives() -> None:
    text = (
        "#if defined(CONFIG_A) && \\\n"
        "    defined(CONFIG_B)\n"
        "#define SUM(a, b) \\\n"
        "\t((a) + \\\n"
        "\t (b))\n"
        "#endif\n"
        "#define AFTER 1\n"
    )
    scan = scan_directives(text, "c.h")
    block = scan.conditionals[0]
    assert block.formula == And((A, B))
    assert (block.start_line, block.end_line) == (1, 6)
    assert scan.condition_at(2) == TRUE  # still the #if line
    assert scan.condition_at(3) == And((A, B))
    sum_def, after = scan.defines
    assert sum_def.name == "SUM" and sum_def.is_function_like and sum_def.params == ("a", "b")
    assert sum_def.body == "((a) + \t (b))"
    assert (sum_def.line, sum_def.end_line) == (3, 5)
    assert sum_def.condition == And((A, B))
    assert (after.name, after.line, after.condition) == ("AFTER", 7, TRUE)


def test_comments_inside_and_across_directives() -> None:
    text = (
        "/* a comment that hides directives\n"  # 1
        "#if 1\n"  # 2
        "#endif\n"  # 3
        "#endif\n"  # 4
        "*/\n"  # 5
        "// #endif in a line comment\n"  # 6
        "#if defined(CONFIG_A) /* || defined(CONFIG_B) */ // && defined(CONFIG_C)\n"  # 7
        "int x;\n"  # 8
        "#endif\n"  # 9
        "#if defined(CONFIG_A) /* a comment\n"  # 10
        "   over two lines */ && defined(CONFIG_B)\n"  # 11
        "int y;\n"  # 12
        "#endif\n"  # 13
        "/**/#ifdef CONFIG_C\n"  # 14: a comment before '#' is whitespace
        "int z;\n"  # 15
        "#endif\n"  # 16
    )
    scan = scan_directives(text, "k.h")
    assert [b.start_line for b in scan.conditionals] == [7, 10, 14]
    assert scan.conditionals[0].formula == A
    assert scan.conditionals[1].formula == And((A, B))
    assert scan.condition_at(12) == And((A, B))
    assert scan.condition_at(15) == C


def test_whitespace_around_hash_and_string_literals() -> None:
    text = (
        "  #  ifdef CONFIG_A\n"  # 1
        'static const char s[] = "#endif";\n'  # 2
        "static const char c = '#';\n"  # 3
        'static const char *m = "abc\\\n'  # 4
        '#endif";\n'  # 5: inside a continued string literal
        "\t#\tendif\n"  # 6
        '#define STR "#if 1"\n'  # 7
    )
    scan = scan_directives(text, "w.h")
    assert len(scan.conditionals) == 1
    assert (scan.conditionals[0].start_line, scan.conditionals[0].end_line) == (1, 6)
    assert scan.condition_at(5) == A
    assert scan.defines[0].body == '"#if 1"'


def test_crlf_line_endings() -> None:
    scan = scan_directives("#ifdef CONFIG_A\r\nint x;\r\n#endif\r\n", "crlf.h")
    assert scan.condition_at(2) == A
    assert scan.conditionals[0].end_line == 3


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("int x;\n#endif\n", 2, "#endif without #if"),
        ("#if 1\n#endif\n#else\n", 3, "#else without #if"),
        ("\n#elif X\n", 2, "#elif without #if"),
        ("#ifdef A\n#else\n#else\n#endif\n", 3, "#else after #else"),
        ("#ifdef A\n#else\n#elif B\n#endif\n", 3, "#elif after #else"),
        ("#ifdef A\n#if B\n#endif\n", 1, "unterminated #ifdef"),
    ],
)
def test_unbalanced_conditionals_raise_with_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ScanError) as info:
        scan_directives(text, "dir/bad.h")
    assert info.value.line == line
    assert str(info.value).startswith(f"dir/bad.h:{line}: ")
    assert message in str(info.value)


def test_lenient_mode_tolerates_imbalance() -> None:
    scan = scan_directives('#endif\n#ifdef CONFIG_A\n#include "a.h"\n', "bad.h", strict=False)
    assert scan.includes[0].condition == A
    assert scan.conditionals[0].end_line == 3


def test_includes() -> None:
    text = (
        "#include <linux/types.h>\n"
        '# include "local.h" /* why */\n'
        "#ifdef CONFIG_A\n"
        "#include_next <limits.h>\n"
        "#include HEADER_NAME\n"
        "#endif\n"
    )
    scan = scan_directives(text, "i.h")
    got = [(i.spelling, i.angled, i.line, i.condition, i.kind, i.computed) for i in scan.includes]
    assert got == [
        ("linux/types.h", True, 1, TRUE, "include", False),
        ("local.h", False, 2, TRUE, "include", False),
        ("limits.h", True, 4, A, "include_next", False),
        ("HEADER_NAME", False, 5, A, "include", True),
    ]


def test_defines() -> None:
    text = (
        "#define OBJ (x)\n"
        "#define FN(x) (x)\n"
        "#define VAR(fmt, ...) printf(fmt, __VA_ARGS__)\n"
        "#define EMPTY\n"
        "#undef OBJ\n"
    )
    scan = scan_directives(text, "d.h")
    obj, fn, var, empty = scan.defines
    assert (obj.is_function_like, obj.body, obj.params) == (False, "(x)", ())
    assert (fn.is_function_like, fn.body, fn.params) == (True, "(x)", ("x",))
    assert var.params == ("fmt", "...")
    assert (empty.name, empty.body) == ("EMPTY", "")


@pytest.mark.parametrize(
    ("text", "guard"),
    [
        ("/* license */\n#ifndef FOO_H\n#define FOO_H\nint x;\n#ifdef A\n#endif\n#endif /* FOO_H */\n", "FOO_H"),
        ("#if !defined(FOO_H)\n#define FOO_H 1\nint x;\n#endif\n", "FOO_H"),
        ("#if !defined FOO_H\n#define FOO_H\n#endif\n\n", "FOO_H"),
        ("#pragma once\nint x;\n", "#pragma once"),
        ("#ifndef FOO_H\n#define FOO_H\n#endif\nint after;\n", None),  # code outside
        ("#ifndef FOO_H\n#define FOO_H\n#else\n#endif\n", None),  # an #else is no guard
        ("#ifndef FOO_H\n#define BAR_H\n#endif\n", None),  # another macro
        ("int before;\n#ifndef FOO_H\n#define FOO_H\n#endif\n", None),
    ],
)
def test_include_guard(text: str, guard: str | None) -> None:
    assert scan_directives(text, "g.h").guard == guard


def test_guard_does_not_enter_presence_conditions() -> None:
    scan = scan_directives("#ifndef G_H\n#define G_H\n#ifdef CONFIG_A\nint x;\n#endif\n#endif\n", "g.h")
    assert scan.guard == "G_H"
    assert scan.conditionals[0].is_guard and scan.conditionals[0].formula == Not(Defined("G_H"))
    assert scan.condition_at(4) == A


def test_is_enabled_presence_condition() -> None:
    scan = scan_directives("#if IS_ENABLED(CONFIG_A) && !IS_BUILTIN(CONFIG_B)\nint x;\n#endif\n", "ie.h")
    assert scan.condition_at(2) == And((Or((A, Defined("CONFIG_A_MODULE"))), Not(B)))


def test_presence_conditions_agree_with_gcc(tmp_path: Path) -> None:
    """For each configuration, the lines gcc keeps are those whose condition holds."""
    text = (
        "#ifdef CONFIG_A\n"
        "int l2;\n"
        "# if defined(CONFIG_B) || \\\n"
        "     !defined(CONFIG_C) /* note */\n"
        "int l5;\n"
        "# elif IS_ENABLED(CONFIG_C)\n"
        "int l7;\n"
        "# else\n"
        "int l9;\n"
        "# endif\n"
        "#elif !CONFIG_B\n"
        "int l12;\n"
        "#endif\n"
        "int l14;\n"
    )
    header = tmp_path / "p.h"
    header.write_text(text)
    scan = scan_directives(text, str(header))
    decl_lines = lines_with(text, "int l")
    kconfig = tmp_path / "k.h"
    kconfig.write_text(KCONFIG_H)
    for bits in range(8):
        config = {n: "1" for i, n in enumerate(["CONFIG_A", "CONFIG_B", "CONFIG_C"]) if bits >> i & 1}
        cmd = ["gcc", "-E", "-P", "-include", str(kconfig)]
        cmd += [f"-D{n}" for n in config] + [str(header)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        for line in decl_lines:
            expected = f"int l{line};" in out
            assert evaluate(scan.condition_at(line), config) == expected, (line, config, to_c(scan.condition_at(line)))


def test_condition_at_is_fast_on_many_blocks() -> None:
    # 20,000 conditionals: condition_at must not scan them all (binary search).
    text = "".join(f"#ifdef CONFIG_X{i}\nint v{i};\n#endif\n" for i in range(20000))
    scan = scan_directives(text, "big.h")
    assert len(scan.conditionals) == 20000
    assert scan.condition_at(3 * 12345 + 2) == Defined("CONFIG_X12345")
    assert scan.condition_at(3 * 12345 + 3) == TRUE


def _linux_tree() -> Path:
    import os

    value = os.environ.get("HDRTEST_LINUX_TREE")
    if not value or not (Path(value) / "include/linux").is_dir():
        pytest.skip("HDRTEST_LINUX_TREE does not point at a Linux tree")
    return Path(value)


@pytest.mark.slow
@pytest.mark.linux
def test_linux_headers_scan_and_agree_with_gcc(tmp_path: Path) -> None:
    """Every kernel header scans without error, and on a sample gcc keeps exactly the
    code lines whose presence condition holds, in random configurations."""
    import random
    import re

    from hdrtest.scan.formula import macros

    root = _linux_tree() / "include"
    headers = sorted(root.rglob("*.h"))
    scans = {h: scan_directives(h.read_bytes().decode("utf-8", "surrogateescape"), str(h)) for h in headers}
    rng = random.Random(7)
    checked = 0
    for h in rng.sample(headers, 150):
        scan = scans[h]
        lines = h.read_bytes().decode("utf-8", "surrogateescape").split("\n")
        in_macro = {j for m in scan.defines for j in range(m.line, m.end_line + 1)}
        candidates = []
        for i, text in enumerate(lines, 1):
            names = macros(scan.condition_at(i))
            if (
                names
                and all(n.startswith("CONFIG_") for n in names)
                and text.strip()
                and not text.lstrip().startswith("#")
                and i not in in_macro
                and not (i > 1 and lines[i - 2].rstrip().endswith("\\"))
            ):
                candidates.append(i)
        if not candidates:
            continue
        options = sorted({n for i in candidates for n in macros(scan.condition_at(i))})
        # Code lines become markers; includes go (only this file's conditionals count).
        marked = [
            ""
            if re.match(r"\s*#\s*(include|include_next|error|warning)\b", text)
            else (f"@@L{i}@@" if i in candidates else text)
            for i, text in enumerate(lines, 1)
        ]
        src = tmp_path / "x.h"
        src.write_text("\n".join(marked), encoding="utf-8", errors="surrogateescape")
        for _ in range(2):
            config = {n: "1" for n in options if rng.random() < 0.5}
            cmd = ["gcc", "-E", "-P", "-x", "c", *[f"-D{n}" for n in config], str(src)]
            proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
            if proc.returncode != 0:
                break  # e.g. #error in a branch: nothing to compare
            kept = {int(n) for n in re.findall(r"@@L(\d+)@@", proc.stdout)}
            for i in candidates:
                expected = evaluate(scan.condition_at(i), config)
                assert expected == (i in kept), (str(h), i, to_c(scan.condition_at(i)), config)
                checked += 1
    assert checked > 1000


def test_the_result_caches_include_listing_sees_what_the_scanner_sees() -> None:
    """The result cache lists a header's includes with a cheaper pass; it must name exactly the scanner's includes
    (every branch), or a cached verdict would not be invalidated when an included file changes."""
    text = (
        "#ifndef G\r\n#define G\r\n"
        "#if A\n#include <a.h>\n#else\n  #  include \"b.h\"\n#endif\n"
        "#define LONG(x) \\\n#include <not-a-directive.h>\n"
        "/* #include <commented.h>\n#include <also-commented.h> */\n"
        "int x; /* spans\n lines */ #include <not-first.h>\n"
        "#include_next <next.h>\n#import \"imported.h\"\n#include HEADER(x)\n"
        "#includes <no.h>\n#include\\\n<continued.h>\n#endif\n#if B\n"
    )
    wanted = [(i.spelling, i.angled, i.line, i.kind, i.computed)
              for i in scan_directives(text, "t.h", strict=False).includes]
    listed = [(i.spelling, i.angled, i.line, i.kind, i.computed) for i in listed_includes(text)]
    assert listed == wanted
    assert [w[0] for w in wanted] == ["a.h", "b.h", "next.h", "imported.h", "HEADER(x)", "continued.h"]
