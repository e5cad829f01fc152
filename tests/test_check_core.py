"""`hdrtest check` on small real trees with the real compilers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EXAMPLES, default_sigint, hdrtest, tree_hashes, write_tree

GUARDED = "#ifndef {g}\n#define {g}\n{body}\n#endif\n"


def failing(run_json: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r["header"]: r for r in run_json["results"] if r["status"] != "pass"}


def test_self_contained_header_passes(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"ok.h": GUARDED.format(g="OK_H", body="#include <stddef.h>\nsize_t ok_len(const char *s);")})
    run = hdrtest("check", "--cc", compiler, "--format", "json", "ok.h", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    data = run.json()
    assert data["summary"]["headers_checked"] == 1
    assert data["results"][0]["status"] == "pass"
    assert data["results"][0]["header"] == "ok.h"


def test_missing_include_fails_at_the_right_line(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"inc/widget.h": GUARDED.format(g="WIDGET_H", body="\n\nstruct widget {\n\tsize_t len;\n};")})
    run = hdrtest("check", "--cc", compiler, "--format", "json", "inc", cwd=tmp_path)
    assert run.returncode == 1
    result = failing(run.json())["inc/widget.h"]
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert errors[0]["file"] == "inc/widget.h"
    assert errors[0]["line"] == 6
    assert "size_t" in errors[0]["message"]


def test_incomplete_type_text_output_names_header_and_line(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "a.h": GUARDED.format(g="A_H", body="struct inner;"),
        "b.h": GUARDED.format(g="B_H", body='#include "a.h"\nstruct outer {\n\tstruct inner in;\n};'),
    })
    run = hdrtest("check", "--cc", compiler, "b.h", "a.h", cwd=tmp_path)
    assert run.returncode == 1
    assert "FAIL b.h [c]" in run.stdout
    assert "b.h:5:" in run.stdout and "incomplete type" in run.stdout
    assert "FAIL a.h" not in run.stdout
    assert "2 header(s) checked, 1 failed" in run.stdout


def test_include_chain_is_shown(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "deep.h": GUARDED.format(g="DEEP_H", body="struct deep { undefined_t x; };"),
        "top.h": GUARDED.format(g="TOP_H", body='#include "deep.h"'),
    })
    run = hdrtest("check", "--cc", compiler, "top.h", "--format", "json", cwd=tmp_path)
    diag = [d for d in failing(run.json())["top.h"]["diagnostics"] if d["severity"] == "error"][0]
    assert diag["file"] == "deep.h"
    assert diag["include_chain"] == [{"file": "top.h", "line": 3}]
    text = hdrtest("check", "--cc", compiler, "top.h", cwd=tmp_path).stdout
    assert "In file included from top.h:3:" in text


def test_cxx_header_is_checked_as_cxx(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "shape.hpp": GUARDED.format(g="SHAPE_HPP", body="namespace geo {\nclass Shape {\npublic:\n  virtual ~Shape();\n};\n}"),
        "cfun.h": GUARDED.format(g="CFUN_H", body="#ifdef __cplusplus\nextern \"C\" {\n#endif\nint cfun(void);\n"
                                                  "#ifdef __cplusplus\n}\n#endif"),
        "bad.h": GUARDED.format(g="BAD_H", body="int new;"),  # fine in C, a keyword in C++
    })
    run = hdrtest("check", "--cc", compiler, "--lang", "c,c++", "--format", "json", ".", cwd=tmp_path)
    results = {(r["header"], r["language"]): r["status"] for r in run.json()["results"]}
    assert results[("shape.hpp", "c++")] == "pass"
    assert ("shape.hpp", "c") not in results
    assert results[("cfun.h", "c")] == "pass" and results[("cfun.h", "c++")] == "pass"
    assert results[("bad.h", "c")] == "pass" and results[("bad.h", "c++")] == "fail"
    assert run.returncode == 1


def _compdb_tree(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "src/net/net.h": GUARDED.format(g="NET_H", body="#ifndef NET_MODE\n#error NET_MODE not set\n#endif\n"
                                                         "#include <conf.h>\nconf_t net_conf;"),
        "src/net/net.c": '#include "net.h"\n',
        "src/util/util.h": GUARDED.format(g="UTIL_H", body="#ifdef NET_MODE\n#error only net has NET_MODE\n#endif"),
        "src/util/util.c": '#include "util.h"\n',
        "config/conf.h": "typedef int conf_t;\n",
    })


@pytest.mark.parametrize("form", ["arguments", "command"])
def test_compile_database_forms_and_closest_unit(tmp_path: Path, form: str) -> None:
    _compdb_tree(tmp_path)
    entries = []
    for unit, extra in (("src/net/net.c", ["-DNET_MODE=1"]), ("src/util/util.c", [])):
        args = ["gcc", "-I", "../config", *extra, "-c", "-o", unit + ".o", "../" + unit]
        entry = {"directory": str(tmp_path / "build"), "file": "../" + unit}
        if form == "arguments":
            entry["arguments"] = args
        else:
            entry["command"] = " ".join(args)
        entries.append(entry)
    (tmp_path / "build").mkdir()
    (tmp_path / "build/compile_commands.json").write_text(json.dumps(entries))
    run = hdrtest("check", "--format", "json", "src", cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    origins = {r["header"]: r["flags_origin"] for r in run.json()["results"]}
    # Each header is included by its own unit: that is the reason given (it used to say "same directory").
    assert "src/net/net.c (includes it)" in origins["src/net/net.h"]
    assert "src/util/util.c (includes it)" in origins["src/util/util.h"]


def test_relative_directory_in_compile_database(tmp_path: Path) -> None:
    _compdb_tree(tmp_path)
    entries = [{"directory": "..", "file": "src/net/net.c",
                "arguments": ["cc", "-Iconfig", "-DNET_MODE", "-c", "src/net/net.c"]}]
    (tmp_path / "out").mkdir()
    (tmp_path / "out/compile_commands.json").write_text(json.dumps(entries))
    run = hdrtest("check", "-p", "out", "--format", "json", "src/net", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


def test_header_inherits_flags_from_parent_directory_unit(tmp_path: Path) -> None:
    _compdb_tree(tmp_path)
    write_tree(tmp_path, {"src/net/sub/proto.h": '#include "../net.h"\n'})
    entries = [{"directory": str(tmp_path), "file": "src/net/net.c",
                "arguments": ["cc", "-Iconfig", "-DNET_MODE", "-c", "src/net/net.c"]}]
    (tmp_path / "compile_commands.json").write_text(json.dumps(entries))
    run = hdrtest("check", "--format", "json", "src/net", cwd=tmp_path)
    origins = {r["header"]: r["flags_origin"] for r in run.json()["results"]}
    assert "parent directory" in origins["src/net/sub/proto.h"]
    assert run.returncode == 0


def test_path_with_spaces_and_non_ascii(tmp_path: Path, compiler: str) -> None:
    tree = tmp_path / "my tree é"
    write_tree(tree, {
        "inc dir/größe.h": GUARDED.format(g="GROESSE_H", body="struct groesse { unknown_t v; };"),
        "inc dir/ok.h": GUARDED.format(g="OK_H", body="int ok;"),
    })
    run = hdrtest("check", "--cc", compiler, "--format", "json", "inc dir", cwd=tree)
    assert run.returncode == 1
    bad = failing(run.json())
    assert list(bad) == ["inc dir/größe.h"]
    assert bad["inc dir/größe.h"]["diagnostics"][0]["file"] == "inc dir/größe.h"
    assert bad["inc dir/größe.h"]["diagnostics"][0]["line"] == 3


def test_prelude_is_included_first(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "compat.h": "#include <stddef.h>\ntypedef unsigned long ulong_t;\n",
        "lib/uses.h": GUARDED.format(g="USES_H", body="ulong_t count(const char *s, size_t n);"),
    })
    assert hdrtest("check", "lib", cwd=tmp_path).returncode == 1
    run = hdrtest("check", "--prelude", "compat.h", "lib", cwd=tmp_path)
    assert run.returncode == 0, run.stdout


def test_prelude_rules_by_path_in_settings(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "backend.h": "typedef int Datum;\n",
        "frontend.h": "typedef int Conn;\n",
        "backend/a.h": "Datum a;\n",
        "frontend/b.h": "Conn b;\n",
        "hdrtest.toml": 'exclude = ["backend.h", "frontend.h"]\n'
                        '[preludes]\n"backend/*" = "backend.h"\n"frontend/*" = "frontend.h"\n',
    })
    run = hdrtest("check", "--format", "json", cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    assert {r["header"] for r in run.json()["results"]} == {"backend/a.h", "frontend/b.h"}


def test_check_guard_catches_missing_guard(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "noguard.h": "struct point { int x, y; };\n",
        "guarded.h": GUARDED.format(g="GUARDED_H", body="struct size { int w, h; };"),
        "once.h": "#pragma once\nstruct once { int v; };\n",
    })
    assert hdrtest("check", "--cc", compiler, ".", cwd=tmp_path).returncode == 0
    run = hdrtest("check", "--cc", compiler, "--check-guard", "--format", "json", ".", cwd=tmp_path)
    assert run.returncode == 1
    assert set(failing(run.json())) == {"noguard.h"}
    assert any("redefinition" in d["message"] for d in failing(run.json())["noguard.h"]["diagnostics"])


def test_exclusions_and_skip_markers_are_listed_with_reasons(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "list.h": "/* hdrtest: skip — X-macro list, included mid-enum */\nX(a)\nX(b)\n",
        "gen/parser.h": "this is not C\n",
        "ok.h": "int ok;\n",
        "pyproject.toml": '[tool.hdrtest]\nexclude = [{path = "gen/*", reason = "generated by bison"}]\n',
    })
    run = hdrtest("check", "--format", "json", cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    data = run.json()
    assert {s["header"]: s["reason"] for s in data["skipped"]} == {
        "list.h": "X-macro list, included mid-enum", "gen/parser.h": "generated by bison"}
    text = hdrtest("check", cwd=tmp_path).stdout
    assert "skipped gen/parser.h: generated by bison" in text
    assert "1 header(s) checked, 0 failed, 2 skipped" in text


def test_command_line_wins_over_settings(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "pyproject.toml": '[tool.hdrtest]\nmax-errors = 1\ncflags = ["-DWANT_FAIL"]\n',
        "x.h": "#ifdef WANT_FAIL\nbad_t a;\nbad_t b;\nbad_t c;\n#endif\n",
    })
    run = hdrtest("check", "--format", "json", cwd=tmp_path)
    result = run.json()["results"][0]
    assert len([d for d in result["diagnostics"] if d["severity"] == "error"]) == 1
    assert result["omitted_errors"] == 2
    run = hdrtest("check", "--format", "json", "--max-errors", "5", cwd=tmp_path)
    assert run.json()["results"][0]["omitted_errors"] == 0


def test_many_errors_are_cut(tmp_path: Path) -> None:
    body = "\n".join(f"missing_t v{i};" for i in range(40))
    write_tree(tmp_path, {"noisy.h": body + "\n"})
    run = hdrtest("check", "noisy.h", cwd=tmp_path)
    assert run.returncode == 1
    assert "more error(s) not shown" in run.stdout
    assert run.stdout.count("error: unknown type name") == 10


@pytest.mark.parametrize("compdb_text, expected", [
    ("", "compile database is empty"),
    ("[{]", "malformed JSON at line 1"),
    ("[]", "compile database has no entries"),
    ('{"file": "x"}', "expected a JSON array"),
    ('[{"file": "a.c", "directory": "/"}]', "neither 'arguments' nor 'command'"),
])
def test_bad_compile_database_is_a_one_line_error(tmp_path: Path, compdb_text: str, expected: str) -> None:
    write_tree(tmp_path, {"a.h": "int a;\n", "compile_commands.json": compdb_text})
    run = hdrtest("check", "a.h", cwd=tmp_path)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "compile_commands.json" in lines[0] and expected in lines[0]
    assert "Traceback" not in run.stderr


def test_missing_compiler_is_a_setup_error(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.h": "int a;\n"})
    run = hdrtest("check", "--cc", "/nonexistent/bin/gcc-99", "a.h", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "hdrtest: error: /nonexistent/bin/gcc-99: compiler not found "
        "(install it, or name another with --cc or the CC environment variable)"]


def test_nonexistent_path_is_a_usage_error(tmp_path: Path) -> None:
    run = hdrtest("check", "nope/missing.h", cwd=tmp_path)
    assert run.returncode == 2
    assert "nope/missing.h: no such file or directory" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_unreadable_header_is_a_usage_error(tmp_path: Path) -> None:
    write_tree(tmp_path, {"inc/ok.h": "int ok;\n"})
    (tmp_path / "inc/dangling.h").symlink_to(tmp_path / "inc/gone.h")
    run = hdrtest("check", "inc", cwd=tmp_path)
    assert run.returncode == 2
    assert "inc/dangling.h: header is not readable" in run.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_header_without_read_permission(tmp_path: Path) -> None:
    write_tree(tmp_path, {"secret.h": "int s;\n"})
    (tmp_path / "secret.h").chmod(0)
    run = hdrtest("check", ".", cwd=tmp_path)
    assert run.returncode == 2 and "secret.h: header is not readable" in run.stderr


def _hanging_tree(tmp_path: Path, count: int = 1) -> None:
    # A real compiler blocks reading a FIFO that nobody writes: a genuine hang.
    os.mkfifo(tmp_path / "pipe.inc")
    write_tree(tmp_path, {f"hang{i}.h": '#include "pipe.inc"\n' for i in range(count)})


def _compiler_processes_under(path: Path) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "-include" in args and any(str(path) in a for a in args):
            found.append(" ".join(args))
    return found


def test_hanging_compiler_is_a_timeout_not_a_pass(tmp_path: Path) -> None:
    _hanging_tree(tmp_path)
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "hdrtest", "check", "--timeout", "3", "--format", "json", "hang0.h"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _compiler_processes_under(tmp_path):
        time.sleep(0.1)
    assert _compiler_processes_under(tmp_path), "the compiler should be blocked on the FIFO"
    out, _ = proc.communicate(timeout=60)
    run = type("R", (), {"returncode": proc.returncode, "json": lambda self: json.loads(out)})()
    assert time.monotonic() - started < 30
    assert run.returncode == 1
    result = run.json()["results"][0]
    assert result["status"] == "timeout"
    assert "did not finish within 3 s" in result["diagnostics"][0]["message"]
    assert _compiler_processes_under(tmp_path) == []


def test_ctrl_c_stops_all_compilers_and_exits_130(tmp_path: Path) -> None:
    _hanging_tree(tmp_path, count=4)
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path.parent / "cache-int"))
    proc = subprocess.Popen([sys.executable, "-m", "hdrtest", "check", "-j", "2", "--timeout", "120", "."],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=default_sigint)
    deadline = time.monotonic() + 60  # generous: CI machines are shared
    while time.monotonic() < deadline and len(_compiler_processes_under(tmp_path)) < 2:
        time.sleep(0.2)
    assert _compiler_processes_under(tmp_path), "compilers never started"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    time.sleep(0.5)
    assert _compiler_processes_under(tmp_path) == []


def test_check_writes_nothing_into_the_tree(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(EXAMPLES / "kvm-gvt", tree)
    before = tree_hashes(tree)
    run = hdrtest("check", ".", "--check-guard", cwd=tree)
    assert run.returncode == 1
    run = hdrtest("check", "-p", "build-on", ".", cwd=tree)
    assert tree_hashes(tree) == before


def test_json_report_schema(tmp_path: Path) -> None:
    write_tree(tmp_path, {"bad.h": "#include <stddef.h>\nstatic int f(void) { return g(); }\nbad_t x;\n"})
    run = hdrtest("check", "--format", "json", "-o", "out/report.json", "bad.h", cwd=tmp_path)
    assert run.returncode == 1
    assert run.stdout == ""
    data = json.loads((tmp_path / "out/report.json").read_text())
    assert data["schema"] == "hdrtest-report/1"
    result = data["results"][0]
    assert set(result) >= {"header", "language", "variant", "status", "command", "diagnostics", "duration"}
    severities = {d["severity"] for d in result["diagnostics"]}
    assert "error" in severities
    warning = [d for d in result["diagnostics"] if d["severity"] == "warning"]
    assert warning and warning[0]["option"] == "-Wimplicit-function-declaration"
    assert result["command"][-2:] == ["-include", str(tmp_path / "bad.h")]
    assert "hdrtest:" in run.stderr  # summary on stderr when the report goes to a file


@pytest.mark.parametrize("config, status", [("build-off", 1), ("build-on", 0)])
def test_bundled_example(config: str, status: int, compiler: str) -> None:
    run = hdrtest("check", "--cc", compiler, "-p", f"examples/kvm-gvt/{config}", "--variants", "none",
                  "--format", "json", "examples/kvm-gvt", cwd=EXAMPLES.parent)
    assert run.returncode == status, run.stdout + run.stderr
    bad = failing(run.json())
    if status:
        assert list(bad) == ["drivers/gpu/drm/i915/gvt/gvt.h"]
        error = bad["drivers/gpu/drm/i915/gvt/gvt.h"]["diagnostics"][0]
        assert (error["file"], error["line"]) == ("drivers/gpu/drm/i915/gvt/gvt.h", 20)
        assert "incomplete type" in error["message"]
    fixed = hdrtest("check", "--cc", compiler, "-p", f"examples/kvm-gvt-fixed/{config}", "--variants", "none",
                    "examples/kvm-gvt-fixed", cwd=EXAMPLES.parent)
    assert fixed.returncode == 0, fixed.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert hdrtest("check", "--format", "nope", cwd=tmp_path).returncode == 2
    assert hdrtest("check", "--lang", "fortran", cwd=tmp_path).returncode == 2
    assert hdrtest("frobnicate", cwd=tmp_path).returncode == 2


def test_internal_error_exit_3_with_crash_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import hdrtest.check
    from hdrtest.cli import main

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(hdrtest.check, "check", broken)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write_tree(tmp_path, {"a.h": "int a;\n"})
    monkeypatch.chdir(tmp_path)
    assert main(["check", "a.h"]) == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom; crash log written to" in err
    logs = list((tmp_path / "cache/hdrtest").glob("crash-*.log"))
    assert logs and "RuntimeError: boom" in logs[0].read_text()


def test_asm_mode_reports_warnings_gcc_emits_only_past_parsing(tmp_path: Path) -> None:
    """Linux's i915 header test uses -S: with -Werror an unused static constant fails there, not in -fsyntax-only."""
    write_tree(tmp_path, {"ids.h": GUARDED.format(g="IDS_H", body="static const char *const ids[] = { \"a\", \"b\" };")})
    flags = "--cflags=-Wall -Werror=unused-const-variable"
    assert hdrtest("check", flags, "ids.h", cwd=tmp_path).returncode == 0
    run = hdrtest("check", flags, "--mode", "asm", "--format", "json", "ids.h", cwd=tmp_path)
    assert run.returncode == 1
    result = run.json()["results"][0]
    assert result["command"][result["command"].index("-S"):][:3] == ["-S", "-o", "/dev/null"]
    assert any("defined but not used" in d["message"] for d in result["diagnostics"])


def test_kernel_flags_get_the_kernels_own_compile_by_default(tmp_path: Path) -> None:
    """Without --mode, a header built with kernel flags is compiled with -S, as Linux's header test does."""
    write_tree(tmp_path, {"ids.h": GUARDED.format(g="IDS_H", body="static const char *const ids[] = { \"a\", \"b\" };")})
    run = hdrtest("check", "--cflags=-D__KERNEL__ -Wall -Werror=unused-const-variable", "--format", "json", "ids.h",
                  cwd=tmp_path)
    assert run.returncode == 1
    command = run.json()["results"][0]["command"]
    assert "-S" in command and "-fsyntax-only" not in command
    plain = hdrtest("check", "--cflags=-D__KERNEL__ -Wall -Werror=unused-const-variable", "--mode", "syntax",
                    "--format", "json", "ids.h", cwd=tmp_path)
    assert plain.returncode == 0 and "-fsyntax-only" in plain.json()["results"][0]["command"]
