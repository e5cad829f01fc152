"""Hostile and malformed input: one-line errors with exit 2, never a crash (3), a hang or a write into the tree."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, hdrtest, tree_hashes, write_tree

from hdrtest import compdb, diagnostics
from hdrtest.errors import UsageError
from hdrtest.settings import load_settings

GOOD = {"a.h": "#pragma once\nint a;\n"}


def one_line_error(run_: object, *needles: str) -> None:
    """Exit 2 with a single ``hdrtest: error:`` line that names what is wrong."""
    assert run_.returncode == 2, run_.stderr  # type: ignore[attr-defined]
    lines = [ln for ln in run_.stderr.splitlines() if ln.startswith("hdrtest: ")]  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("hdrtest: error: "), run_.stderr  # type: ignore[attr-defined]
    assert "internal error" not in run_.stderr and "Traceback" not in run_.stderr  # type: ignore[attr-defined]
    for needle in needles:
        assert needle in lines[0], lines[0]


# --- item 13: exit 3 where a one-line error belongs ---------------------------------------------------------------


def _compdb(tmp_path: Path, entries: object) -> Path:
    path = tmp_path / "cc.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def test_compile_database_with_a_missing_directory(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    db = _compdb(tmp_path, [{"directory": str(tmp_path / "gone"), "file": "a.c", "command": "gcc -c a.c"}])
    one_line_error(hdrtest("check", "-p", str(db), "a.h", cwd=tmp_path), "cc.json", "entry 0", "does not exist")


def test_compile_database_with_a_nul_byte(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    db = _compdb(tmp_path, [{"directory": str(tmp_path) + "\0x", "file": "a.c", "command": "gcc -c a.c"}])
    one_line_error(hdrtest("check", "-p", str(db), "a.h", cwd=tmp_path), "cc.json", "NUL")
    db = _compdb(tmp_path, [{"directory": str(tmp_path), "file": "a.c", "arguments": ["gcc", "-DX\0", "a.c"]}])
    one_line_error(hdrtest("check", "-p", str(db), "a.h", cwd=tmp_path), "cc.json", "NUL")


def test_compile_database_nested_100000_deep(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    (tmp_path / "cc.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    one_line_error(hdrtest("check", "-p", "cc.json", "a.h", cwd=tmp_path), "cc.json", "nested")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1"])
def test_timeout_must_be_a_finite_positive_number(tmp_path: Path, value: str) -> None:
    write_tree(tmp_path, GOOD)
    one_line_error(hdrtest("check", f"--timeout={value}", "a.h", cwd=tmp_path), "--timeout")


def test_option_pattern_must_be_a_regular_expression(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    one_line_error(hdrtest("check", "--option-pattern", "(", "a.h", cwd=tmp_path), "--option-pattern")


@pytest.mark.parametrize("line", [
    'jobs = "four"', "cc = 5", 'timeout = "x"', "timeout = nan", 'max-errors = "a"', "max-errors = -1",
    'seed = "s"', "mode = 3", 'mode = "fast"', "variants = 1", 'option-pattern = "("', "jobs = true",
    "check-guard = 1", 'no-cache = "no"', "preludes = {a = 1}", 'exclude = [{path = "a", reason = 1}]',
    "paths = [1]", "cflags = 7", "cflags = \"-DX='1\"",
])
def test_wrongly_typed_settings(tmp_path: Path, line: str) -> None:
    write_tree(tmp_path, {**GOOD, "hdrtest.toml": line + "\n"})
    one_line_error(hdrtest("check", "a.h", cwd=tmp_path), "hdrtest.toml")


def test_settings_file_that_is_not_utf8(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    (tmp_path / "hdrtest.toml").write_bytes(b"jobs = 1\n# caf\xe9\n")
    one_line_error(hdrtest("check", "a.h", cwd=tmp_path), "hdrtest.toml", "UTF-8")


@pytest.fixture
def deep_tree(tmp_path: Path) -> Iterator[Path]:
    """1,200 nested directories with a header at the bottom, built and removed with relative steps:
    os.makedirs and shutil.rmtree (pytest's own clean-up of old temporary trees too) recurse too deep."""
    here = os.getcwd()
    try:
        os.chdir(tmp_path)
        for _ in range(1200):
            os.mkdir("d")
            os.chdir("d")
        Path("deep.h").write_text("int deep;\n", encoding="utf-8")
    finally:
        os.chdir(here)
    yield tmp_path
    try:
        os.chdir(tmp_path)
        for _ in range(1200):
            os.chdir("d")
        os.unlink("deep.h")
        for _ in range(1200):
            os.chdir("..")
            os.rmdir("d")
    finally:
        os.chdir(here)


def test_a_directory_tree_1200_levels_deep(deep_tree: Path) -> None:
    write_tree(deep_tree, GOOD)
    run = hdrtest("check", "--format", "json", "--no-cache", ".", cwd=deep_tree)
    assert run.returncode == 0, run.stderr[-500:]
    headers = {r["header"]: r["status"] for r in run.json()["results"]}
    assert headers["a.h"] == "pass"
    assert headers["d/" * 1200 + "deep.h"] == "pass"


# --- item 13 (diagnostics): malformed compiler JSON is an error result, never an exception -----------------------

_GOOD_ITEM = {"kind": "error", "message": "m", "option": None,
              "locations": [{"caret": {"file": "a.h", "line": 1, "column": 2}}], "children": []}


def _mutations() -> list[tuple[str, object]]:
    def with_(**changes: object) -> dict[str, object]:
        item = dict(_GOOD_ITEM)
        item.update(changes)
        return item

    def caret(**changes: object) -> dict[str, object]:
        return with_(locations=[{"caret": {"file": "a.h", "line": 1, "column": 2, **changes}}])

    deep: dict[str, object] = with_()
    for _ in range(200):
        deep = with_(kind="note", children=[deep])
    return [
        ("entry not an object", [1]),
        ("entry a list", [[]]),
        ("kind missing", [{k: v for k, v in _GOOD_ITEM.items() if k != "kind"}]),
        ("kind not a string", [with_(kind=3)]),
        ("message missing", [{k: v for k, v in _GOOD_ITEM.items() if k != "message"}]),
        ("message not a string", [with_(message={"x": 1})]),
        ("option not a string", [with_(option=5)]),
        ("locations not a list", [with_(locations={"caret": {}})]),
        ("location not an object", [with_(locations=["a.h:1"])]),
        ("caret not an object", [with_(locations=[{"caret": "a.h"}])]),
        ("file not a string", [caret(file=7)]),
        ("line a string", [caret(line="12")]),
        ("line a float", [caret(line=1.5)]),
        ("line negative", [caret(line=-1)]),
        ("column a bool", [caret(column=True)]),
        ("children not a list", [with_(children={"kind": "note"})]),
        ("child not an object", [with_(children=["note"])]),
        ("child malformed", [with_(children=[{"kind": "note"}])]),
        ("children nested 200 deep", [deep]),
    ]


@pytest.mark.parametrize("name,items", _mutations(), ids=[m[0] for m in _mutations()])
def test_malformed_gcc_json_is_an_error_record(tmp_path: Path, name: str, items: object) -> None:
    mapper = diagnostics.make_mapper(tmp_path, tmp_path)
    records = diagnostics.parse_gcc_json(json.dumps(items), mapper)
    assert records is not None and len(records) == 1
    assert records[0].category == diagnostics.MALFORMED and records[0].is_error
    assert "malformed" in records[0].message


def test_json_nested_beyond_the_parser_is_an_error_record(tmp_path: Path) -> None:
    records = diagnostics.parse_gcc_json("[" * 100_000 + "]" * 100_000, diagnostics.make_mapper(tmp_path, tmp_path))
    assert records is not None and [r.category for r in records] == [diagnostics.MALFORMED]


def test_well_formed_json_is_not_flagged(tmp_path: Path) -> None:
    records = diagnostics.parse_gcc_json(json.dumps([_GOOD_ITEM]), diagnostics.make_mapper(tmp_path, tmp_path))
    assert records is not None and [(r.severity, r.line, r.column, r.category) for r in records] == \
        [("error", 1, 2, None)]


def _fake_compiler(tmp_path: Path, name: str, body: str) -> Path:
    """A real executable that answers like gcc (``--version``, JSON accepted) but does ``body`` on compiles."""
    script = tmp_path / name
    # Probes (--version, the JSON check) go to gcc; a header check (it has -include) does ``body``.
    script.write_text("#!/bin/sh\n"
                      'case " $* " in *" -include "*) ;; *) exec gcc "$@";; esac\n'
                      + body + "\n", encoding="utf-8")
    script.chmod(0o755)
    return script


def test_malformed_json_from_the_compiler_is_an_error_result_end_to_end(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    payload = json.dumps([{"kind": "error", "message": 5, "locations": "x"}])
    cc = _fake_compiler(tmp_path, "badjson-cc", f"echo '{payload}' >&2; exit 1")
    run = hdrtest("check", "--cc", str(cc), "--format", "json", "--no-cache", "a.h", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    result = run.json()["results"][0]
    assert result["status"] == "error"
    assert [d["category"] for d in result["diagnostics"]] == [diagnostics.MALFORMED]


# --- item 10: an error nested in a warning's children --------------------------------------------------------------


def test_gcc_error_nested_in_a_warnings_children_is_a_failure(tmp_path: Path) -> None:
    write_tree(tmp_path, {"r.h": "X(a, b)\nX(c, d)\n"})
    run = hdrtest("check", "--cc", "gcc", "--format", "json", "--no-cache", "r.h", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    result = run.json()["results"][0]
    assert result["status"] == "fail"
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert [(d["line"], "expected declaration specifiers" in d["message"]) for d in errors] == [(2, True)]
    assert not any(d.get("category") == "compiler-crash" for d in result["diagnostics"])


def test_nested_error_is_hoisted_and_notes_stay_children(tmp_path: Path) -> None:
    note = {**_GOOD_ITEM, "kind": "note", "message": "n"}
    error = {**_GOOD_ITEM, "message": "inner", "children": [note]}
    warning = {**_GOOD_ITEM, "kind": "warning", "message": "outer", "children": [note, error]}
    records = diagnostics.parse_gcc_json(json.dumps([warning]), diagnostics.make_mapper(tmp_path, tmp_path))
    assert records is not None
    assert [(r.severity, r.message, [c.message for c in r.children]) for r in records] == \
        [("warning", "outer", ["n"]), ("error", "inner", ["n"])]


# --- item 14: hangs and unbounded memory ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_compile_database_that_is_a_fifo_or_a_device(tmp_path: Path, kind: str) -> None:
    write_tree(tmp_path, GOOD)
    if kind == "fifo":
        os.mkfifo(tmp_path / "cc.json")
        target = str(tmp_path / "cc.json")
    else:
        target = "/dev/zero"
    started = time.monotonic()
    run = hdrtest("check", "-p", target, "a.h", cwd=tmp_path, timeout=60)
    assert time.monotonic() - started < 30
    one_line_error(run, target, "not a regular file")


def test_fifo_named_like_a_header_in_the_tree(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    os.mkfifo(tmp_path / "x.h")
    run = hdrtest("check", "--format", "json", "--no-cache", ".", cwd=tmp_path, timeout=60)
    assert run.returncode == 0, run.stderr
    report = run.json()
    assert [r["header"] for r in report["results"]] == ["a.h"]
    assert [(s["header"], "FIFO" in s["reason"]) for s in report["skipped"]] == [("x.h", True)]
    one_line_error(hdrtest("check", "x.h", cwd=tmp_path, timeout=60), "x.h", "not a regular file")


def test_compiler_leaving_a_child_on_its_stdout_still_times_out(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    marker = tmp_path / "holder-started"
    cc = _fake_compiler(tmp_path, "holding-cc", f'(touch {marker}; exec sleep 1000) &\nsleep 1000')
    started = time.monotonic()
    run = hdrtest("check", "--cc", str(cc), "--timeout", "2", "--format", "json", "--no-cache", "a.h",
                  cwd=tmp_path, timeout=120)
    assert time.monotonic() - started < 30
    assert marker.exists()
    assert run.returncode == 1, run.stderr
    assert run.json()["results"][0]["status"] == "timeout"
    assert not _processes_with(str(tmp_path))


def test_compiler_that_exits_but_leaves_a_child_holding_stdout(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    cc = _fake_compiler(tmp_path, "forking-cc", 'sleep 1000 &\nexec gcc "$@"')
    started = time.monotonic()
    run = hdrtest("check", "--cc", str(cc), "--timeout", "60", "--format", "json", "--no-cache", "a.h",
                  cwd=tmp_path, timeout=120)
    assert time.monotonic() - started < 30
    assert run.returncode == 0, run.stderr
    assert run.json()["results"][0]["status"] == "pass"
    assert not _processes_with(str(tmp_path))


def test_compiler_that_prints_forever_is_capped(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    cc = _fake_compiler(tmp_path, "chatty-cc", "exec yes 'a.h:1:1: warning: chatter'")
    run = hdrtest("check", "--cc", str(cc), "--timeout", "3", "--format", "json", "--no-cache", "a.h",
                  cwd=tmp_path, timeout=120)
    assert run.returncode == 1, run.stderr[-300:]
    result = run.json()["results"][0]
    assert result["status"] == "timeout"
    assert len(run.stdout) < 16 * 1024 * 1024


def _processes_with(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in args and "pytest" not in args:
            found.append(args)
    return found


# --- item 15: database flags that make gcc write beside the source --------------------------------------------


@pytest.mark.parametrize("flag", ["-fstack-usage", "-aux-info aux.txt", "-fdump-tree-all", "-fdump-ipa-all",
                                  "-fcallgraph-info", "-save-temps", "-ftest-coverage", "--coverage",
                                  "-fopt-info-all=opt.txt", "-dumpdir dumps/"])
@pytest.mark.parametrize("mode", ["syntax", "asm"])
def test_flags_that_write_files_are_dropped(tmp_path: Path, flag: str, mode: str) -> None:
    tree = tmp_path / "tree"
    write_tree(tree, {"a.h": "static inline int f(int a) { int b[4]; b[a & 3] = a; return b[0]; }\n",
                      "a.c": "int main(void) { return 0; }\n"})
    (tree / "compile_commands.json").write_text(json.dumps(
        [{"directory": str(tree), "file": "a.c", "command": f"gcc {flag} -c a.c -o a.o"}]), encoding="utf-8")
    before = tree_hashes(tree)
    run = hdrtest("check", "--mode", mode, "--no-cache", "a.h", cwd=tree)
    assert run.returncode == 0, run.stderr
    assert tree_hashes(tree) == before


def test_clean_flags_keeps_ordinary_flags() -> None:
    compiler, flags = compdb.clean_flags(["gcc", "-fstack-usage", "-aux-info", "x", "-fdump-tree-all", "-O2",
                                          "-Iinc", "-fdump-rtl-expand=f", "-c", "a.c"], "a.c")
    assert (compiler, flags) == ("gcc", ("-O2", "-Iinc"))


# --- item 21: settings values --------------------------------------------------------------------------------------


def test_cflags_string_in_settings_is_split_like_the_command_line(tmp_path: Path) -> None:
    write_tree(tmp_path, {"inc/x.h": "#define FROM_INC 1\n",
                          "a.h": '#include "x.h"\n#if X != 1 || !FROM_INC\n#error split wrong\n#endif\n',
                          "hdrtest.toml": "cflags = \"-Iinc -DX=1\"\n"})
    settings = load_settings(["a.h"], {}, cwd=tmp_path)
    assert settings.cflags == ("-Iinc", "-DX=1")
    run = hdrtest("check", "--no-cache", "a.h", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


def test_tool_hdrtest_table_in_hdrtest_toml(tmp_path: Path) -> None:
    write_tree(tmp_path, {**GOOD, "hdrtest.toml": "[tool.hdrtest]\nmax-errors = 3\nlang = \"c,c++\"\n"})
    settings = load_settings(["a.h"], {}, cwd=tmp_path)
    assert (settings.max_errors, settings.languages) == (3, ("c", "c++"))
    assert hdrtest("check", "--no-cache", "a.h", cwd=tmp_path).returncode == 0


def test_booleans_must_be_booleans(tmp_path: Path) -> None:
    write_tree(tmp_path, {**GOOD, "hdrtest.toml": 'no-cache = "no"\n'})
    with pytest.raises(UsageError, match="'no-cache' must be true or false"):
        load_settings(["a.h"], {}, cwd=tmp_path)
    (tmp_path / "hdrtest.toml").write_text("no-cache = true\n", encoding="utf-8")
    assert load_settings(["a.h"], {}, cwd=tmp_path).no_cache is True


# --- item 19: text output and report files ------------------------------------------------------------------------


def test_newline_in_a_file_name_cannot_forge_report_lines(tmp_path: Path) -> None:
    write_tree(tmp_path, {"x\nFAIL forged.h [c] in baseline\n.h": "#error real\n"})
    run = hdrtest("check", "--no-cache", ".", cwd=tmp_path)
    assert run.returncode == 1
    assert not any(line.startswith("FAIL forged.h") for line in (run.stdout + run.stderr).splitlines())
    assert "x\\nFAIL forged.h [c] in baseline\\n.h" in run.stdout


@pytest.mark.parametrize("fmt", ["json", "text", "sarif", "junit", "html", "codeclimate"])
def test_names_that_are_not_utf8_in_every_report(tmp_path: Path, fmt: str) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / os.fsdecode(b"bad\xff.h")).write_bytes(b"#error oops\n")
    (tree / "ok.h").write_text("int ok;\n", encoding="utf-8")
    report = tmp_path / f"report.{fmt}"
    run = hdrtest("check", "--no-cache", "--format", fmt, "-o", str(report), ".", cwd=tree)
    assert run.returncode == 1, run.stderr
    data = report.read_bytes()
    data.decode("utf-8")  # valid UTF-8 throughout
    if fmt == "json":
        statuses = {r["header"]: r["status"] for r in json.loads(data)["results"]}
        assert statuses == {"bad\\xff.h": "fail", "ok.h": "pass"}
        failing = json.loads(data)["results"][[r["header"] for r in json.loads(data)["results"]].index("bad\\xff.h")]
        assert {d["file"] for d in failing["diagnostics"]} == {"bad\\xff.h"}


def test_report_is_replaced_whole_or_left_alone(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    report = tmp_path / "report.json"
    report.write_text("previous\n", encoding="utf-8")
    # A file size limit makes the write fail midway (Python ignores SIGXFSZ: the write gets EFBIG).
    limit = "import resource; resource.setrlimit(resource.RLIMIT_FSIZE, (600, 600))"
    done = subprocess.run([sys.executable, "-c", f"{limit}; import sys; from hdrtest.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", "check", "--no-cache", "--format", "json", "-o",
                           str(report), "a.h"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg")))
    assert done.returncode == 2, done.stderr
    assert "cannot write report" in done.stderr and "Traceback" not in done.stderr
    assert report.read_text(encoding="utf-8") == "previous\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report.json")] == []


def test_report_to_a_device_is_written_into_it(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    run = hdrtest("check", "--no-cache", "--format", "json", "-o", "/dev/stdout", "a.h", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.json()["results"][0]["status"] == "pass"
    assert os.path.islink("/dev/stdout")  # written through, not renamed over


def test_report_file_mode_follows_the_umask(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    run = hdrtest("check", "--no-cache", "--format", "json", "-o", "r.json", "a.h", cwd=tmp_path)
    assert run.returncode == 0
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) & 0o044 == 0o044
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.json")] == []


# --- item 22: a prelude that already includes the header ---------------------------------------------------------


def _umbrella(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "inc/glib.h": "#ifndef GLIB_H\n#define GLIB_H\n#include <glib/gtypes.h>\n#endif\n",
        "inc/glib/gtypes.h": "#ifndef G_TYPES_H\n#define G_TYPES_H\ntypedef int gint;\n#endif\n",
        "inc/glib/garray.h": "#ifndef G_ARRAY_H\n#define G_ARRAY_H\ngint garray_len;\n#endif\n",
    })


def test_prelude_that_already_includes_the_header_is_not_a_pass(tmp_path: Path, compiler: str) -> None:
    _umbrella(tmp_path)
    run = hdrtest("check", "--cc", compiler, f"--cflags=-I{tmp_path / 'inc'}", "--prelude", "inc/glib.h",
                  "--format", "json", "--no-cache", "inc/glib", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    results = {r["header"]: r for r in run.json()["results"]}
    vacuous = results["inc/glib/gtypes.h"]
    assert vacuous["status"] == "unverified"
    assert [(d["severity"], d["category"]) for d in vacuous["diagnostics"]] == [("note", "not-verified")]
    # garray.h is not in the umbrella: the prelude supplies gint, the check is meaningful.
    assert results["inc/glib/garray.h"]["status"] == "pass"


def test_unverified_is_not_a_failure() -> None:
    from hdrtest.models import Status

    assert Status("unverified") is Status.UNVERIFIED and not Status.UNVERIFIED.failed


# --- item 23: tests that send SIGINT work when the test run ignores it -------------------------------------------


def test_children_of_the_tests_get_the_default_sigint(tmp_path: Path) -> None:
    probe = "import signal, sys; sys.stdout.write(str(signal.getsignal(signal.SIGINT) is signal.SIG_IGN))"
    helper = (f"import sys; sys.path.insert(0, {str(REPO / 'tests')!r}); from conftest import start_hdrtest; "
              f"import subprocess; p = start_hdrtest([], argv=[sys.executable, '-c', {probe!r}]); "
              "print(p.communicate()[0])")
    # A background job of a non-interactive shell starts with SIGINT ignored, and passes that on.
    done = subprocess.run([sys.executable, "-c", helper], capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_bytes_that_are_not_utf8_in_compiler_messages(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "e.h").write_bytes(b"#error caf\xe9\n")
    (tree / os.fsdecode(b"n\xe9.h")).write_bytes(b"#error x\n")
    run = hdrtest("check", "--no-cache", "--format", "json", "--write-baseline", str(tmp_path / "base.json"), ".",
                  cwd=tree)
    assert run.returncode == 0, run.stderr
    baseline = json.loads((tmp_path / "base.json").read_text(encoding="utf-8"))
    assert {f["header"]: [e["message"] for e in f["errors"]] for f in baseline["failures"]} == \
        {"e.h": ["#error caf\ufffd"], "n\\xe9.h": ["#error x"]}


def test_gcc_column_minus_one_is_read_not_taken_for_malformed_output(tmp_path: Path) -> None:
    # gcc 12 writes "column": -1 for a macro redefinition; Linux's compiler-clang.h under gcc met it and was
    # reported as an internal error (malformed output) instead of the failure it is.
    write_tree(tmp_path, {"redef.h": "#define X 1\n#define X 2\nint y = z;\n"})
    run = hdrtest("check", "--cc", "gcc", "--format", "json", "redef.h", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    [result] = run.json()["results"]
    assert result["status"] == "fail"
    found = {(d["severity"], d["line"], d["column"]) for d in result["diagnostics"]}
    assert ("warning", 2, 0) in found and ("error", 3, 9) in found, found


def test_a_column_below_minus_one_is_still_malformed(tmp_path: Path) -> None:
    item = {**_GOOD_ITEM, "locations": [{"caret": {"file": "a.h", "line": 1, "column": -2}}]}
    records = diagnostics.parse_gcc_json(json.dumps([item]), diagnostics.make_mapper(tmp_path, tmp_path))
    assert records is not None and [r.category for r in records] == [diagnostics.MALFORMED]
