"""The one flag parser, each spelling checked against what gcc itself makes of the same flags."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import hdrtest, write_tree

from hdrtest.graph.resolve import SearchPath
from hdrtest.toolchain.flags import parse_flags

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def gcc_search_list(flags: list[str], cwd: Path) -> tuple[list[str], list[str]]:
    """gcc's own ``#include "..."`` and ``#include <...>`` directory lists for ``flags`` (``-v``)."""
    err = subprocess.run(["gcc", "-nostdinc", *flags, "-v", "-E", "-x", "c", "/dev/null", "-o", "/dev/null"],
                         cwd=cwd, capture_output=True, text=True, check=True).stderr
    quote: list[str] = []
    angled: list[str] = []
    into: list[str] | None = None
    for line in err.splitlines():
        if line.startswith('#include "..."'):
            into = quote
        elif line.startswith("#include <...>"):
            into = angled
        elif line.startswith("End of search list"):
            break
        elif into is not None and line.startswith(" "):
            into.append(line.strip())
    return quote, angled


def gcc_macros(flags: list[str], cwd: Path) -> dict[str, str]:
    out = subprocess.run(["gcc", *flags, "-dM", "-E", "-x", "c", "/dev/null"], cwd=cwd, capture_output=True,
                         text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        _, name, value = (line.split(" ", 2) + [""])[:3]
        found[name] = value
    return found


def test_every_directory_spelling_lands_where_gcc_searches(tmp_path: Path) -> None:
    for name in ("q1", "q2", "a", "b", "c", "s1", "s2", "late1", "late2", "p/x", "p/y"):
        (tmp_path / name).mkdir(parents=True)
    prefix = str(tmp_path / "p") + "/"
    flags = [
        "-iquote", "q1", "-iquoteq2", "-I", "a", "-Ib", "--include-directory=c", "-isystem", "s1", "-isystems2",
        "-iprefix", prefix, "-iwithprefixbefore", "x", "-iwithprefix", "y", "-idirafter", "late1", "-idirafterlate2",
    ]  # fmt: skip
    parsed = parse_flags(flags)
    quote, angled = gcc_search_list(flags, tmp_path)
    assert parsed.quote_dirs == ("q1", "q2")
    assert parsed.include_dirs == ("a", "b", "c", prefix + "x")
    assert parsed.system_dirs == ("s1", "s2", prefix + "y")
    assert parsed.after_dirs == ("late1", "late2")
    assert quote == list(parsed.quote_dirs)
    assert angled == [*parsed.include_dirs, *parsed.system_dirs, *parsed.after_dirs]


@pytest.mark.parametrize("order", [
    ["-idirafter", "late", "-iwithprefix", "y"],
    ["-iwithprefix", "y", "-idirafter", "late"],
    ["-iwithprefix", "y", "-isystem", "s"],
    ["-isystem", "s", "-iwithprefix", "y"],
    ["-idirafter", "late", "-isystem", "s", "-iwithprefix", "y"],
])  # fmt: skip
def test_the_header_gcc_reads_is_the_one_resolved(tmp_path: Path, order: list[str]) -> None:
    # gcc's manual puts -iwithprefix "where -idirafter would"; gcc itself searches it among the -isystem
    # directories, in command-line order, before -idirafter whatever comes first.
    for name in ("late", "p/y", "s"):
        write_tree(tmp_path / name, {"same.h": f'#define WHICH "{name}"\n'})
    flags = ["-iprefix", str(tmp_path / "p") + "/", *order]
    read = gcc_macros([*flags, "-include", "same.h"], tmp_path)["WHICH"]
    found = SearchPath.from_flags(flags, tmp_path).resolve("same.h", True, tmp_path / "t.c")
    assert found is not None and f'"{found.parent.relative_to(tmp_path).as_posix()}"' == read


def test_include_and_macro_spellings_agree_with_gcc(tmp_path: Path) -> None:
    (tmp_path / "first.h").write_text("#define FIRST 1\n")
    (tmp_path / "second.h").write_text("#define SECOND 2\n")
    (tmp_path / "m.h").write_text("#define FROM_IMACROS 3\n")
    flags = ["-include", "first.h", "-includesecond.h", "-imacros", "m.h", "-D", "A=2", "-DB", "-DC=", "-U", "B",
             "-UD", "-DD=4", "-D", "E(x)=x", "-std=gnu11", "--std=c99", "-nostdinc"]
    parsed = parse_flags(flags)
    assert parsed.forced_includes == ("first.h", "second.h")
    assert parsed.macro_includes == ("m.h",)
    assert parsed.nostdinc
    macros = gcc_macros(flags, tmp_path)
    for name, value in parsed.defines.items():
        assert macros[name] == value
    assert parsed.defines == {"A": "2", "C": "", "D": "4", "E(x)": "x"}
    assert "B" not in macros and "B" not in parsed.defines
    assert {"FIRST", "SECOND", "FROM_IMACROS"} <= set(macros)


def test_options_without_their_value_at_the_end_are_ignored() -> None:
    for flag in ("-I", "-iquote", "-isystem", "-idirafter", "-include", "-imacros", "-D", "-U", "--sysroot"):
        parsed = parse_flags(["-Ikept", flag])
        assert parsed.include_dirs == ("kept",)
        assert (parsed.forced_includes, parsed.macro_flags, parsed.sysroot, parsed.target_flags) == ((), (), None, ())
    assert parse_flags(["-x"]).language is None
    assert parse_flags(["-iprefix"]).include_dirs == ()
    # -include-pch takes its file, which is not a forced include.
    assert parse_flags(["-include-pch", "x.pch", "-include-pchy.pch"]).forced_includes == ()


def test_target_options_are_collected_in_order() -> None:
    parsed = parse_flags([
        "-target", "arm-none-eabi", "--target=x86_64", "-isysroot", "/sdk", "-isysroot/sdk2", "--sysroot", "root",
        "--gcc-toolchain=/tc", "-b", "m", "-V", "4", "-stdlib=libc++", "-m64", "-mx32", "-m16", "-nostdinc++",
        "-nostdlibinc", "-nobuiltininc", "-ffreestanding", "-fno-hosted", "-O2", "-Wall",
    ])  # fmt: skip
    assert parsed.target_flags == (
        "-target", "arm-none-eabi", "--target=x86_64", "-isysroot", "/sdk", "-isysroot/sdk2", "--sysroot=root",
        "--gcc-toolchain=/tc", "-b", "m", "-V", "4", "-stdlib=libc++", "-m64", "-mx32", "-m16", "-nostdinc++",
        "-nostdlibinc", "-nobuiltininc", "-ffreestanding", "-fno-hosted",
    )  # fmt: skip
    assert not parsed.nostdinc  # -nostdinc++ is not -nostdinc
    assert parse_flags(["-target"]).target_flags == ()
    assert parse_flags(["-isysroot"]).target_flags == ("-isysroot",)  # alone at the end: a prefix spelling
    assert parse_flags(["--sysroot="]).sysroot is None
    assert parse_flags(["-xc++", "-x", "c"]).language == "c++"


@pytest.mark.parametrize(("cflags", "compiled_with"), [
    ("-D __KERNEL__", "-S"),  # the separate spelling is kernel flags too
    ("-D__KERNEL__=1", "-S"),
    ("-D__KERNEL__ -U__KERNEL__", "-fsyntax-only"),  # undefined again: not kernel code
])
def test_auto_mode_reads_kernelness_through_the_flag_parser(tmp_path: Path, cflags: str, compiled_with: str) -> None:
    """``--mode auto`` compiles kernel code with -S, where gcc reports an unused static constant under -Werror."""
    write_tree(tmp_path, {"ids.h": "#ifndef IDS_H\n#define IDS_H\nstatic const char *const ids[] = { \"a\" };\n#endif\n"})
    run = hdrtest("check", f"--cflags={cflags} -Wall -Werror=unused-const-variable", "--format", "json", "ids.h",
                  cwd=tmp_path)
    result = run.json()["results"][0]
    assert compiled_with in result["command"]
    assert result["status"] == ("fail" if compiled_with == "-S" else "pass")
    assert run.returncode == (1 if compiled_with == "-S" else 0)
