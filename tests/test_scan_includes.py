"""Include resolution (checked against gcc itself) and the include graph."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from hdrtest.graph.includes import FileNode, IncludeGraph
from hdrtest.graph.resolve import Chains, SearchPath
from hdrtest.scan.formula import TRUE, Defined
from hdrtest.scan.probe import probe_compiler
from hdrtest.scan.scancache import ScanCache
from hdrtest.toolchain.flags import parse_flags

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def compile_closure(graph: IncludeGraph, search: SearchPath, path: Path) -> list[Path]:
    """What ``cc FLAGS -include path`` reads, in order: implicit and forced includes first."""
    return list(dict.fromkeys(p for start in [*search.read_first(), path] for p in graph.closure(start)))


def nodes(graph: IncludeGraph) -> dict[Path, FileNode | None]:
    return {Path(p): graph.node(p) for p in graph.files}


def gcc_deps(main: Path, flags: list[str], cwd: Path) -> set[Path]:
    """The files gcc actually reads compiling ``main`` (``-M``), normalised."""
    out = subprocess.run(
        ["gcc", *flags, "-M", "-MG", "-x", "c", str(main)], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout
    words = out.replace("\\\n", " ").split(":", 1)[1].split()
    return {Path(os.path.normpath(cwd / w)) for w in words}


def test_builtin_dirs_come_from_the_compiler() -> None:
    dirs = probe_compiler("gcc", "c").include_dirs
    assert any((d / "stddef.h").is_file() for d in dirs)  # gcc's own stddef.h
    assert Path("/usr/include") in dirs
    assert probe_compiler("gcc", "c").include_dirs is dirs  # probed once, then cached
    if shutil.which("g++"):
        cxx = probe_compiler("gcc", "c++").include_dirs
        assert any((d / "vector").is_file() for d in cxx)
    assert probe_compiler("/nonexistent/cc", "c").include_dirs == ()


def test_from_flags_parses_every_form(tmp_path: Path) -> None:
    flags = [
        "-I", "a", "-Ib", "--include-directory=c", "-iquote", "q1", "-iquoteq2",
        "-isystem", "s1", "-isystems2", "-idirafter", "late", "-include", "first.h",
        "-includesecond.h", "-imacros", "m.h", "-DX=1", "-O2", "-x", "c",
    ]  # fmt: skip
    sp = SearchPath.from_flags(flags, tmp_path)
    assert sp.include_dirs == (tmp_path / "a", tmp_path / "b", tmp_path / "c")
    assert sp.quote_dirs == (tmp_path / "q1", tmp_path / "q2")
    assert sp.system_dirs == (tmp_path / "s1", tmp_path / "s2")
    assert sp.after_dirs == (tmp_path / "late",)
    assert sp.forced_includes == ("first.h", "second.h")
    assert sp.macro_includes == ("m.h",)
    assert sp.builtin_dirs == ()  # no compiler given
    with_gcc = SearchPath.from_flags(["-I", "/abs"], tmp_path, compiler="gcc")
    assert with_gcc.builtin_dirs == probe_compiler("gcc", "c").include_dirs
    assert SearchPath.from_flags(["-nostdinc"], tmp_path, compiler="gcc").builtin_dirs == ()


def test_quote_versus_angle_resolution_matches_gcc(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "src/main.h": '#include "b.h"\n#include <c.h>\n#include "q.h"\n#include <stddef.h>\n',
            "src/b.h": "/* next to main.h: wins for quotes */\n",
            "src/c.h": "/* next to main.h: not searched for <> */\n",
            "inc/b.h": "/* -I */\n",
            "inc/c.h": "/* -I: wins for <> */\n",
            "quote/q.h": "/* -iquote: only for quotes */\n",
            "quote/c.h": "/* -iquote: never for <> */\n",
        },
    )
    flags = ["-iquote", "quote", "-I", "inc"]
    sp = SearchPath.from_flags(flags, tmp_path, compiler="gcc")
    main = tmp_path / "src/main.h"
    assert sp.resolve("b.h", False, main) == tmp_path / "src/b.h"
    assert sp.resolve("b.h", True, main) == tmp_path / "inc/b.h"
    assert sp.resolve("c.h", True, main) == tmp_path / "inc/c.h"
    assert sp.resolve("c.h", False, tmp_path / "elsewhere.h") == tmp_path / "quote/c.h"
    assert sp.resolve("q.h", False, main) == tmp_path / "quote/q.h"
    assert sp.resolve("q.h", True, main) is None
    assert sp.resolve("nope.h", False, main) is None
    stddef = sp.resolve("stddef.h", True, main)
    assert stddef is not None and stddef.parent in sp.builtin_dirs

    graph = IncludeGraph.build([main], sp)
    assert set(compile_closure(graph, sp, main)) == gcc_deps(main, flags, tmp_path)
    assert sp.implicit_includes == (Path("/usr/include/stdc-predef.h"),)  # gcc reads it unasked
    assert set(graph.closure(main)) == gcc_deps(main, flags, tmp_path) - set(sp.implicit_includes)


def test_order_of_i_isystem_idirafter(tmp_path: Path) -> None:
    for d in ("i", "sys", "after"):
        write(tmp_path, {f"{d}/x.h": f"/* {d} */\n"})
    write(tmp_path, {"sys/only_sys.h": "", "after/only_after.h": "", "m.h": "#include <x.h>\n"})
    flags = ["-idirafter", "after", "-isystem", "sys", "-I", "i"]
    sp = SearchPath.from_flags(flags, tmp_path, compiler="gcc")
    assert sp.resolve("x.h", True, None) == tmp_path / "i/x.h"
    assert sp.resolve("only_after.h", True, None) == tmp_path / "after/only_after.h"
    assert gcc_deps(tmp_path / "m.h", flags, tmp_path) >= {tmp_path / "i/x.h"}
    # A directory given both as -I and -isystem is searched as a system directory.
    both = SearchPath.from_flags(["-I", "sys", "-I", "i", "-isystem", "sys"], tmp_path)
    assert both.angled_chain()[:2] == (tmp_path / "i", tmp_path / "sys")


def test_include_next_matches_gcc(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "first/limits_wrap.h": "#include_next <limits_wrap.h>\n",
            "second/limits_wrap.h": "int from_second;\n",
            "main.h": "#include <limits_wrap.h>\n",
        },
    )
    flags = ["-I", "first", "-I", "second"]
    sp = SearchPath.from_flags(flags, tmp_path, compiler="gcc")
    graph = IncludeGraph.build([tmp_path / "main.h"], sp)
    (edge,) = graph.edges(tmp_path / "first/limits_wrap.h")
    assert edge.kind == "include_next" and edge.target == tmp_path / "second/limits_wrap.h"
    assert set(compile_closure(graph, sp, tmp_path / "main.h")) == gcc_deps(tmp_path / "main.h", flags, tmp_path)


def test_forced_includes_resolve_from_the_working_directory(tmp_path: Path) -> None:
    write(tmp_path, {"include/linux/kconfig.h": "#include <generated/autoconf.h>\n"})
    write(tmp_path, {"include/generated/autoconf.h": "#define CONFIG_A 1\n", "h.h": "int x;\n"})
    flags = ["-I", "include", "-include", "include/linux/kconfig.h", "-ffreestanding"]
    sp = SearchPath.from_flags(flags, tmp_path, compiler="gcc")
    assert sp.implicit_includes == ()  # -ffreestanding: no stdc-predef.h
    assert sp.forced_include_paths() == [tmp_path / "include/linux/kconfig.h"]
    graph = IncludeGraph.build([tmp_path / "h.h"], sp)
    assert compile_closure(graph, sp, tmp_path / "h.h") == [
        tmp_path / "include/linux/kconfig.h",
        tmp_path / "include/generated/autoconf.h",
        tmp_path / "h.h",
    ]
    assert gcc_deps(tmp_path / "h.h", flags, tmp_path) == set(compile_closure(graph, sp, tmp_path / "h.h"))


def test_graph_over_approximates_branches_and_keeps_edge_conditions(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.h": '#ifndef A_H\n#define A_H\n#include "b.h"\n#ifdef CONFIG_X\n#include "x.h"\n#else\n'
            '#include "nox.h"\n#endif\n#include "b.h"\n#include "missing.h"\n#endif\n',
            "b.h": '#pragma once\n#include "c.h"\n',
            "c.h": "",
            "x.h": '#include "c.h"\n',
            "nox.h": "",
        },
    )
    sp = SearchPath.from_flags([], tmp_path)
    graph = IncludeGraph.build([tmp_path / "a.h"], sp)
    a = tmp_path / "a.h"
    edges = {e.spelling: e for e in graph.edges(a)}
    assert edges["x.h"].condition == Defined("CONFIG_X")
    assert edges["nox.h"].condition != TRUE
    assert edges["b.h"].condition == TRUE  # the include guard is not a configuration
    assert edges["missing.h"].target is None
    assert [(Path(p), e.spelling) for p in graph.files for e in graph.edges(p) if e.target is None] == [(a, "missing.h")]
    # Order of first inclusion, each file once.
    assert graph.closure(a) == [a, tmp_path / "b.h", tmp_path / "c.h", tmp_path / "x.h", tmp_path / "nox.h"]
    # With CONFIG_X, gcc reads a subset of our closure; without it, another subset.
    for flags in ([], ["-DCONFIG_X"]):
        gcc_reads = gcc_deps(a, ["-ffreestanding", *flags], tmp_path) - {tmp_path / "missing.h"}
        assert gcc_reads <= set(graph.closure(a))
        assert (tmp_path / "x.h" in gcc_reads) == bool(flags)


def test_gcc_closure_of_a_system_header(tmp_path: Path) -> None:
    sp = SearchPath.from_flags([], tmp_path, compiler="gcc")
    stdio = sp.resolve("stdio.h", True, None)
    assert stdio is not None
    graph = IncludeGraph.build([stdio], sp)
    assert gcc_deps(stdio, [], tmp_path) <= set(compile_closure(graph, sp, stdio))


def test_reach_back(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.h": '#include "b.h"\n',
            "b.h": '#include "c.h"\n',
            "c.h": "",
            "d.h": '#ifdef CONFIG_Z\n#include "c.h"\n#endif\n',
            "e.h": '#include "b.h"\n',
            "f.h": "",
        },
    )
    sp = SearchPath.from_flags([], tmp_path)
    graph = IncludeGraph.build([tmp_path / n for n in ("a.h", "d.h", "e.h", "f.h")], sp)

    def names(*files: str) -> set[str]:
        return {Path(p).name for p in graph.reach_back(str(tmp_path / f) for f in files)}

    assert names("c.h") == {"a.h", "b.h", "c.h", "d.h", "e.h"}
    assert names("b.h") == {"a.h", "b.h", "e.h"}
    assert names("f.h", "a.h") == {"a.h", "f.h"}
    assert names("not-in-graph.h") == {"not-in-graph.h"}  # nothing includes it
    assert {p.name for p in graph.includers(tmp_path / "c.h")} == {"b.h", "d.h"}


def test_refresh_rescans_only_changed_files(tmp_path: Path) -> None:
    write(tmp_path, {"a.h": '#include "b.h"\n', "b.h": "", "new.h": ""})
    sp = SearchPath.from_flags([], tmp_path)
    cache = ScanCache()
    graph = IncludeGraph.build([tmp_path / "a.h"], sp, cache)
    graph.update()
    assert graph.changed == set()
    (tmp_path / "a.h").write_text('#include "b.h"\n#include "new.h"\n')
    os.utime(tmp_path / "a.h", ns=(1, 1))  # make sure the stat differs even on coarse clocks
    graph.update()
    assert graph.changed == {str(tmp_path / "a.h")}
    assert tmp_path / "new.h" in nodes(graph)
    assert graph.closure(tmp_path / "a.h")[-1] == tmp_path / "new.h"


def test_identical_content_is_scanned_once(tmp_path: Path) -> None:
    text = '#ifdef CONFIG_A\n#include "x.h"\n#endif\n'
    write(tmp_path, {"one/h.h": text, "two/h.h": text})
    cache = ScanCache()
    graph = IncludeGraph.build([tmp_path / "one/h.h", tmp_path / "two/h.h"], SearchPath(), cache)
    assert (cache.misses, cache.hits) == (1, 1)
    assert len(nodes(graph)) == 2


def test_unbalanced_file_is_recorded_not_fatal(tmp_path: Path) -> None:
    write(tmp_path, {"bad.h": '#ifdef CONFIG_A\n#include "c.h"\n', "c.h": ""})
    cache = ScanCache()
    graph = IncludeGraph.build([tmp_path / "bad.h"], SearchPath(), cache)
    error = cache.include_scan(str(tmp_path / "bad.h"), (tmp_path / "bad.h").read_bytes())[1].error
    assert error is not None and error.startswith(f"{tmp_path / 'bad.h'}:1: unterminated #ifdef")
    assert graph.closure(tmp_path / "bad.h") == [tmp_path / "bad.h", tmp_path / "c.h"]
    assert graph.edges(tmp_path / "bad.h")[0].condition == Defined("CONFIG_A")


def test_persistence_round_trip(tmp_path: Path) -> None:
    write(tmp_path, {"a.h": '#ifdef CONFIG_A\n#include "b.h"\n#endif\n#include <nothere.h>\n', "b.h": ""})
    sp = SearchPath.from_flags(["-I", "."], tmp_path)
    graph = IncludeGraph.build([tmp_path / "a.h"], sp)
    restored = IncludeGraph.from_bytes(graph.to_bytes(), Chains.of(sp))
    assert nodes(restored) == nodes(graph)
    restored.update()
    assert restored.changed == set()
    assert nodes(pickle.loads(pickle.dumps(graph))) == nodes(graph)
    # Saved under another search path: not reused.
    other = SearchPath.from_flags(["-I", "elsewhere"], tmp_path)
    assert nodes(IncludeGraph.from_bytes(graph.to_bytes(), Chains.of(other))) == {}


def linux_gvt_command() -> tuple[Path, list[str]]:
    """A real kbuild compile of an i915/gvt file: (directory, flags without -c/-o/source)."""
    import shlex

    value = os.environ.get("HDRTEST_LINUX_TREE")
    db_path = Path(value or "/nonexistent") / "compile_commands.json"
    if not db_path.is_file():
        pytest.skip("HDRTEST_LINUX_TREE does not point at a Linux tree with compile_commands.json")
    entries = [e for e in json.loads(db_path.read_text()) if "i915/gvt/" in e["file"]]
    if not entries:
        pytest.skip("no i915/gvt compile in compile_commands.json")
    entry = entries[0]
    args = entry.get("arguments") or shlex.split(entry["command"])
    flags: list[str] = []
    skip = False
    for a in args[1:]:
        if skip:
            skip = False
        elif a == "-o":
            skip = True
        elif a != "-c" and a != entry["file"] and not a.endswith(".c") and not a.startswith("-Wp,"):
            flags.append(a)
    return Path(entry["directory"]), flags


@pytest.mark.slow
@pytest.mark.linux
def test_linux_gvt_closure_covers_gcc() -> None:
    directory, flags = linux_gvt_command()
    gvt = directory / "drivers/gpu/drm/i915/gvt/gvt.h"
    sp = SearchPath.from_flags(flags, directory, compiler="gcc")
    assert sp.builtin_dirs == ()
    graph = IncludeGraph.build([gvt], sp)
    closure = compile_closure(graph, sp, gvt)
    out = subprocess.run(
        ["gcc", *flags, "-M", "-x", "c", os.devnull, "-include", str(gvt)],
        cwd=directory,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    deps = {Path(os.path.normpath(directory / w)) for w in out.replace("\\\n", " ").split(":", 1)[1].split()}
    deps.discard(Path(os.devnull))
    assert len(deps) > 500
    assert deps <= set(closure)  # every branch followed: a superset of one configuration
    forced = [p for p in sp.forced_include_paths() if p is not None]
    assert len(forced) == len(sp.forced_includes) == 3 and closure[0] == forced[0]
    assert [p for p in closure if p in forced] == forced  # -include order kept
    assert str(gvt) in graph.reach_back([str(directory / "arch/x86/include/asm/kvm_page_track.h")])


def test_scans_are_kept_on_disk_by_content(tmp_path: Path) -> None:
    write(tmp_path / "src", {"a.h": '#ifdef CONFIG_A\n#include "b.h"\n#endif\n', "b.h": "#include <c.h>\n",
                             "bad.h": '#ifdef X\n#include "b.h"\n'})
    time.sleep(0.12)  # past the racy window: both builds trust the stamps, so their nodes compare equal
    store = tmp_path / "scans"
    starts = [tmp_path / "src/a.h", tmp_path / "src/bad.h"]
    cold = ScanCache(cache_dir=store)
    first = IncludeGraph.build(starts, SearchPath(), cold)
    assert (cold.misses, cold.disk_hits) == (3, 0)
    warm = ScanCache(cache_dir=store)
    second = IncludeGraph.build(starts, SearchPath(), warm)
    assert (warm.misses, warm.disk_hits) == (0, 3)
    assert nodes(second) == nodes(first)
    # The same content elsewhere: its stored error names the new path.
    write(tmp_path / "copy", {"bad.h": '#ifdef X\n#include "b.h"\n'})
    moved = ScanCache(cache_dir=store)
    error = moved.include_scan(str(tmp_path / "copy/bad.h"), (tmp_path / "copy/bad.h").read_bytes())[1].error
    assert moved.disk_hits == 1
    assert error is not None and error.startswith(str(tmp_path / "copy/bad.h") + ":1:")
    # A damaged entry is scanned again (and repaired), not trusted.
    for entry in store.rglob("*.pickle"):
        entry.write_bytes(b"garbage")
    repaired = ScanCache(cache_dir=store)
    assert nodes(IncludeGraph.build(starts, SearchPath(), repaired)) == nodes(first)
    assert (repaired.misses, repaired.disk_hits) == (3, 0)
    again = ScanCache(cache_dir=store)
    IncludeGraph.build(starts, SearchPath(), again)
    assert again.disk_hits == 3


def test_unwritable_scan_cache_only_costs_time(tmp_path: Path) -> None:
    write(tmp_path, {"a.h": '#include "b.h"\n', "b.h": ""})
    (tmp_path / "ro").write_text("a file where a directory should be")
    cache = ScanCache(cache_dir=tmp_path / "ro" / "scans")
    graph = IncludeGraph.build([tmp_path / "a.h"], SearchPath(), cache)
    assert set(nodes(graph)) == {tmp_path / "a.h", tmp_path / "b.h"}


def test_one_flag_parser_reads_what_the_preprocessor_needs() -> None:
    parsed = parse_flags([
        "-D__KERNEL__", "-D", "X=2", "-DY", "-UY", "-U", "Z", "-DZ=3", "-std=gnu11", "-x", "c", "-xc++",
        "-iprefix", "/p/", "-iwithprefixbefore", "a", "-iwithprefix", "b", "-I-", "--sysroot=root",
        "--target=arm", "-m32", "-include-pch", "x.pch", "-nostdinc",
    ])  # fmt: skip
    assert parsed.defines == {"__KERNEL__": "1", "X": "2", "Z": "3"}
    assert parsed.kernel
    assert parsed.language == "c"  # the first -x
    assert parsed.include_dirs == ("/p/a",)  # "-I-" is not a directory
    assert parsed.system_dirs == ("/p/b",) and parsed.after_dirs == ()  # gcc searches -iwithprefix as -isystem
    assert parsed.forced_includes == ()
    assert parsed.nostdinc and parsed.sysroot == "root"
    assert parsed.target_flags == ("--sysroot=root", "--target=arm", "-m32")
    assert parsed.target_flags_in(Path("/w")) == ["--sysroot=/w/root", "--target=arm", "-m32"]
    assert not parse_flags(["-U__KERNEL__", "-I", "inc"]).kernel
