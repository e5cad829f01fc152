"""One resolver for every include question, checked against gcc ``-M`` where the two old resolvers disagreed.

Before graph/ had one resolver, ``scan.search.SearchPath`` (variants, explanations) and
``changes.Resolver`` (``--changed-since``, ``diff``, triage) each had their own
``#include_next``; each of the first three trees below was resolved wrongly by one of them
(or both), so a change to the file gcc really reads either selected nothing or the
explanation walked the wrong file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from test_scan_includes import compile_closure, nodes

from hdrtest.graph.affected import affected
from hdrtest.graph.includes import IncludeGraph, load_graph
from hdrtest.graph.resolve import Chains, SearchPath
from hdrtest.store.results import ResultCache

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")

# name: (files, flags, the file compiled, the file gcc reads that only the right resolution finds)
TREES: dict[str, tuple[dict[str, str], list[str], str, str]] = {
    # The includer sits in a search directory nested in another one listed first: gcc found it in
    # the inner one (its spelling has no "sub/"), so #include_next goes on after the inner one.
    # Old: both took the outer directory and found the includer itself.
    "include_next from a nested search directory": (
        {"a/sub/w.h": "#include_next <w.h>\n", "b/w.h": "int from_b;\n", "main.h": "#include <w.h>\n"},
        ["-Ia", "-Ia/sub", "-Ib"], "main.h", "b/w.h"),
    # The includer was found next to its own includer, outside the chain: gcc's #include_next
    # starts at the head of the quote chain, not in the includer's directory.
    # Old: SearchPath searched the includer's directory first and took top/y.h.
    "quoted include_next from a file found beside its includer": (
        {"top/x2.h": '#include_next "y.h"\n', "top/y.h": "int top_y;\n", "inc/y.h": "int inc_y;\n",
         "top/main.h": '#include "x2.h"\n'},
        ["-Iinc"], "top/main.h", "inc/y.h"),
    # A quoted #include_next in a file found through the chain continues after its directory.
    # Old: changes.Resolver put the includer's directory first, found the includer itself and dropped the edge.
    "quoted include_next from a search directory": (
        {"q1/z.h": '#include_next "z.h"\n', "q2/z.h": "int q2;\n", "mz.h": "#include <z.h>\n"},
        ["-Iq1", "-Iq2"], "mz.h", "q2/z.h"),
    # -iquote serves "..." only, before -I; -idirafter comes after the system directories.
    "iquote and idirafter": (
        {"qd/k.h": '#include <k.h>\n#include <late.h>\n', "id/k.h": "int id_k;\n", "after/late.h": "int late;\n",
         "m.h": '#include "k.h"\n'},
        ["-iquote", "qd", "-I", "id", "-idirafter", "after"], "m.h", "after/late.h"),
}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def gcc_reads(main: Path, flags: list[str], cwd: Path) -> set[Path]:
    out = subprocess.run(["gcc", "-ffreestanding", *flags, "-M", "-x", "c", str(main)], cwd=cwd,
                         capture_output=True, text=True, check=True).stdout
    return {Path(os.path.normpath(cwd / w)) for w in out.replace("\\\n", " ").split(":", 1)[1].split()}


@pytest.mark.parametrize("name", sorted(TREES))
def test_graph_reads_what_gcc_reads(tmp_path: Path, name: str) -> None:
    files, flags, main, decisive = TREES[name]
    write(tmp_path, files)
    search = SearchPath.from_flags(["-ffreestanding", *flags], tmp_path, compiler="gcc")
    oracle = gcc_reads(tmp_path / main, flags, tmp_path)
    assert tmp_path / decisive in oracle
    graph = IncludeGraph.build([tmp_path / main], search)
    assert set(compile_closure(graph, search, tmp_path / main)) == oracle
    # The same resolution behind --changed-since: the decisive file's change selects the compiled one.
    time.sleep(0.12)  # past the racy window, so the stored stamps are trusted
    with ResultCache(tmp_path / "cache.sqlite3") as store:
        stored = load_graph(Chains.of(search), [str(tmp_path / main)], store)
    with ResultCache(tmp_path / "cache.sqlite3") as store:
        warm = load_graph(Chains.of(search), [str(tmp_path / main)], store)
        assert warm.rescanned == 0
    assert stored.reach([str(tmp_path / main)]) == {str(p) for p in oracle}
    assert affected([str(tmp_path / main)], [tmp_path / decisive], [warm]) == {str(tmp_path / main)}


def test_one_configuration_follows_only_its_branches(tmp_path: Path) -> None:
    write(tmp_path, {"h.h": '#ifdef CONFIG_A\n#include "a.h"\n#else\n#include "b.h"\n#endif\n',
                     "a.h": "int a;\n", "b.h": "int b;\n"})
    graph = IncludeGraph.build([tmp_path / "h.h"], SearchPath.from_flags([], tmp_path))
    every = set(graph.closure(tmp_path / "h.h"))
    assert every == {tmp_path / n for n in ("h.h", "a.h", "b.h")}
    for values, flags in (({"CONFIG_A": "1"}, ["-DCONFIG_A"]), ({}, [])):
        one = set(graph.closure(tmp_path / "h.h", values))
        assert one == gcc_reads(tmp_path / "h.h", flags, tmp_path) and one < every


def test_a_fifo_is_never_read(tmp_path: Path) -> None:
    # gcc would block on it; the graph must not (it is read before any compile, with no timeout): an include
    # resolves to regular files only, and a FIFO named as a start file is recorded as unreadable.
    os.mkfifo(tmp_path / "pipe.inc")
    write(tmp_path, {"h.h": '#include "pipe.inc"\n'})
    built: list[IncludeGraph] = []
    worker = threading.Thread(target=lambda: built.append(IncludeGraph.build(
        [tmp_path / "h.h", tmp_path / "pipe.inc"], SearchPath.from_flags([], tmp_path))), daemon=True)
    worker.start()
    worker.join(30)
    assert built, "reading the include graph blocked on a FIFO"
    (graph,) = built
    assert graph.closure(tmp_path / "h.h") == [tmp_path / "h.h"]
    assert [(Path(p).name, e.spelling) for p in graph.files for e in graph.edges(p) if e.target is None] == [
        ("h.h", "pipe.inc")]
    node = nodes(graph)[tmp_path / "pipe.inc"]
    assert node.sha256 == "" and node.edges == []
