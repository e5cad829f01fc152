"""Explanations hdrtest must not get wrong (the trust issue, items 3-9): each a real tree, compiled for real."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import hdrtest, write_tree

from hdrtest import classify as cls
from hdrtest.check import check
from hdrtest.explain import explain_report
from hdrtest.explain.config import probe_config
from hdrtest.explain.report import Explanation
from hdrtest.models import CheckReport, Diagnosis, Diagnostic, Note, Result
from hdrtest.report.context import ReportContext
from hdrtest.report.text import render
from hdrtest.scan.cindex import index_file
from hdrtest.settings import Settings
from hdrtest.store.commands import open_cache

G = "#ifndef {g}\n#define {g}\n{body}\n#endif\n"


def settings_for(root: Path, compiler: str, *flags: str, cache: Path | None = None,
                 timeout: float = 60.0) -> Settings:
    return Settings(root=root, cc=compiler, cflags=("-std=gnu11", "-I" + str(root / "include"), *flags), jobs=1,
                    variants="none", no_cache=cache is None, cache_dir=str(cache) if cache else None, timeout=timeout)


def failing(root: Path, settings: Settings, header: str = "t.h") -> tuple[CheckReport, Result]:
    """Check ``header`` as the CLI does (with the result cache when the settings have one)."""
    cache = open_cache(settings)
    try:
        report = check(settings, [str(root / header)], cache=cache)
    finally:
        if cache is not None:
            cache.close()
    assert len(report.failures) == 1, render(ReportContext(report))
    return report, report.failures[0]


def errors(result: Result) -> list[Diagnostic]:
    return [d for d in result.diagnostics if d.is_error]


def notes_of(result: Result, kind: str | None = None) -> list[Note]:
    return [n for d in result.diagnostics for n in d.notes if kind is None or n.kind == kind]


def settle() -> None:
    """Let freshly written files age past the result cache's racy window (changes.RACY_NS)."""
    time.sleep(0.12)


def explained(report: CheckReport, settings: Settings) -> Explanation:
    """What ``hdrtest fix`` computes: the report explained again, with its edits."""
    return explain_report(report, settings, triage_results=False)


# ---------------------------------------------------------------------------
# 5. Punctuation is never a symbol


def test_a_syntax_error_before_a_star_is_not_a_missing_name(tmp_path: Path, compiler: str) -> None:
    root = write_tree(tmp_path, {"t.h": G.format(g="T_H", body="void f(int x, * y);\nint g(void);")})
    settings = settings_for(root, compiler, "-Werror")  # clang only warns (implicit int)
    _, result = failing(root, settings)
    for diag in errors(result):
        assert diag.symbol is None or cls.is_symbol(diag.symbol), diag.message
        assert diag.category in (cls.OTHER, cls.UNKNOWN_TYPE), diag.message
    assert not [n for n in notes_of(result, "definition") if "defined nowhere" in n.message]
    if compiler == "gcc":
        [star] = [d for d in errors(result) if "before" in d.message]
        assert (star.category, star.symbol) == (cls.OTHER, None)


def test_is_symbol() -> None:
    assert [cls.is_symbol(t) for t in ("*", "(", "int", "sizeof", "size_t", "struct s", "ns::T", "bool")] == \
        [False, False, False, False, True, True, True, True]


# ---------------------------------------------------------------------------
# 7. A definition after a bare macro line is indexed


GSTRING = G.format(g="GSTR_H", body="""#define G_BEGIN_DECLS
#define G_END_DECLS
#define GLIB_AVAILABLE_IN_ALL extern
G_BEGIN_DECLS

typedef struct _GString GString;
struct _GString { char *str; };

GLIB_AVAILABLE_IN_ALL
GString *g_string_new(const char *init);

G_END_DECLS""")


def test_definitions_after_a_bare_macro_line_are_indexed(tmp_path: Path) -> None:
    found = {(d.name, d.kind, d.line) for d in index_file(str(tmp_path / "gstr.h"), GSTRING.encode())}
    assert ("GString", "typedef", 8) in found
    assert ("_GString", "struct", 9) in found
    assert ("g_string_new", "function-decl", 12) in found
    glibc = b"#define __BEGIN_DECLS\n__BEGIN_DECLS\ntypedef struct _IO_FILE FILE;\n__END_DECLS\n"
    assert ("FILE", "typedef", 3) in {(d.name, d.kind, d.line) for d in index_file("/x/stdio.h", glibc)}


def test_a_return_type_on_its_own_line_is_not_blanked(tmp_path: Path) -> None:
    text = b"typedef long HRESULT;\nHRESULT\nfoo(void);\nint\nbar(void);\n"
    found = {(d.name, d.kind, d.return_type) for d in index_file(str(tmp_path / "w.h"), text)}
    assert ("foo", "function-decl", "HRESULT") in found
    assert ("bar", "function-decl", "int") in found


def test_gstring_is_found_and_included(tmp_path: Path, compiler: str) -> None:
    root = write_tree(tmp_path, {"include/glib/gstring.h": GSTRING,
                                 "t.h": G.format(g="T_H", body="struct s { GString *g; };")})
    settings = settings_for(root, compiler)
    report, result = failing(root, settings)
    [definition] = notes_of(result, "definition")
    assert (definition.file, definition.line) == ("include/glib/gstring.h", 8)
    assert errors(result)[0].diagnosis == Diagnosis("not-included", "GString", "include/glib/gstring.h", 8,
                                                    include="<glib/gstring.h>", total=1, header="t.h", edit_line=3)
    edits = explained(report, settings).edits
    assert [(e.file, e.lines) for e in edits] == [(root / "t.h", ("#include <glib/gstring.h>",))]


# ---------------------------------------------------------------------------
# 3. A name every branch of #ifdef A / #elif F(4) / #else defines is not conditional


CHAIN = G.format(g="DEFS_H", body="""#define VERSION_AT_LEAST(x) (3 >= (x))
#ifdef USE_A
#  define MY_VALUE 1
#elif VERSION_AT_LEAST(4)
#  define MY_VALUE 2
#else
#  define MY_VALUE 3
#endif""")


def test_a_name_defined_in_every_branch_is_not_conditional(tmp_path: Path, compiler: str) -> None:
    root = write_tree(tmp_path, {"include/defs.h": CHAIN,
                                 "t.h": G.format(g="T_H", body="static inline int f(void) { return MY_VALUE; }")})
    settings = settings_for(root, compiler)
    report, result = failing(root, settings)
    [diag] = errors(result)
    assert (diag.category, diag.symbol) == (cls.UNDECLARED_IDENTIFIER, "MY_VALUE")
    assert diag.diagnosis is not None
    assert (diag.diagnosis.kind, diag.diagnosis.file, diag.diagnosis.guard, diag.diagnosis.include) == \
        ("not-included", "include/defs.h", None, "<defs.h>")
    [definition] = notes_of(result, "definition")
    assert definition.file == "include/defs.h"
    assert "only when" not in definition.message and "does not include" in definition.message
    assert not notes_of(result, "fix")  # no "move it out of the block", no guard
    edits = explained(report, settings).edits
    assert [(e.file, e.lines) for e in edits] == [(root / "t.h", ("#include <defs.h>",))]


def test_a_false_guard_beside_an_unknown_branch_read_here_is_not_the_cause(tmp_path: Path, compiler: str) -> None:
    # MY_VALUE exists when USE_A is set, or when F(4) holds: what F(4) is, hdrtest does not know.
    chain = CHAIN.replace("#else\n#  define MY_VALUE 3\n", "")
    root = write_tree(tmp_path, {"include/defs.h": chain,
                                 "t.h": G.format(g="T_H", body="#include <defs.h>\n"
                                                 "static inline int f(void) { return MY_VALUE; }")})
    _, result = failing(root, settings_for(root, compiler))
    [definition] = notes_of(result, "definition")
    assert definition.line == 7  # the #elif branch, not the #ifdef USE_A one
    diagnosis = errors(result)[0].diagnosis
    assert diagnosis is not None and (diagnosis.kind, diagnosis.line, diagnosis.verified) == \
        ("unknown-condition", 7, False)
    assert diagnosis.guard == "!defined(USE_A) && VERSION_AT_LEAST(4)"
    assert "not verified" in definition.message
    assert not notes_of(result, "fix")


# ---------------------------------------------------------------------------
# 6. A stub never uses what exists only where the guard holds


def test_no_stub_copies_the_guard_macro(tmp_path: Path, compiler: str) -> None:
    root = write_tree(tmp_path, {
        "include/cfg.h": G.format(g="CFG_H", body="#ifdef OFF_T_TYPE\ntypedef OFF_T_TYPE off_type;\n#endif"),
        "t.h": G.format(g="T_H", body="#include <cfg.h>\nstruct s { off_type o; };")})
    settings = settings_for(root, compiler)
    report, result = failing(root, settings)
    [definition] = notes_of(result, "definition")
    assert (definition.file, definition.line) == ("include/cfg.h", 4)
    assert not [n for n in notes_of(result) if n.fix_diff]
    assert explained(report, settings).edits == []
    assert any("OFF_T_TYPE" in n.message and "no stub" in n.message for n in notes_of(result, "fix"))
    # The stub the #else would get is refused for the guard macro it uses.
    assert errors(result)[0].diagnosis == Diagnosis("conditional", "off_type", "include/cfg.h", 4,
                                                    guard="defined(OFF_T_TYPE)", values=(("OFF_T_TYPE", None),),
                                                    block=(3, 5), block_guard="defined(OFF_T_TYPE)", needs_else=True,
                                                    refused_stub="typedef OFF_T_TYPE off_type;",
                                                    blockers=("OFF_T_TYPE",))


def test_no_stub_uses_a_type_defined_only_in_the_block(tmp_path: Path, compiler: str) -> None:
    body = ("#ifdef CONFIG_X\ntypedef unsigned long x_word;\ntypedef x_word x_count;\n"
            "typedef unsigned int x_flags;\n#endif")
    root = write_tree(tmp_path, {"include/x.h": G.format(g="X_H", body=body),
                                 "t.h": G.format(g="T_H", body="#include <x.h>\nstruct s { x_count c; x_flags f; };")})
    settings = settings_for(root, compiler)
    report, _ = failing(root, settings)
    edits = explained(report, settings).edits
    # x_flags gets its stub; x_count's would need x_word, which the #else does not have.
    assert [e.lines for e in edits] == [("typedef unsigned int x_flags;",)]


# ---------------------------------------------------------------------------
# 4. Standard names get the standard include; no edit ever leaves the tree


def _include_edits(report: CheckReport, settings: Settings) -> list[tuple[Path, tuple[str, ...]]]:
    edits = explained(report, settings).edits
    assert all(e.file.is_relative_to(settings.root) for e in edits), edits
    return sorted((e.file, e.lines) for e in edits)


def test_standard_names_checked_alone_get_their_standard_headers(tmp_path: Path, compiler: str) -> None:
    root = write_tree(tmp_path, {"t.h": G.format(g="T_H", body="struct s { size_t n; FILE *f; };")})
    settings = settings_for(root, compiler)
    report, result = failing(root, settings)
    assert [d.symbol for d in errors(result)] == ["size_t", "FILE"]
    assert [(d.diagnosis.kind, d.diagnosis.include) for d in errors(result) if d.diagnosis] == \
        [("standard-header", "<stddef.h>"), ("standard-header", "<stdio.h>")]
    fixes = notes_of(result, "include")
    assert [(n.file, n.line) for n in fixes] == [("t.h", 3), ("t.h", 3)]
    assert all(n.fix_diff and n.fix_diff.startswith("--- a/t.h\n") for n in fixes)
    assert not [n for n in notes_of(result, "definition") if "nowhere" in n.message or "reaches" in n.message]
    assert _include_edits(report, settings) == [(root / "t.h", ("#include <stddef.h>",)),
                                                (root / "t.h", ("#include <stdio.h>",))]


def test_a_standard_header_read_in_part_is_not_edited(tmp_path: Path, compiler: str) -> None:
    # <stddef.h> with __need_NULL: the compile reads the compiler's stddef.h, size_t's branch not taken.
    root = write_tree(tmp_path, {"t.h": G.format(g="T_H", body="#define __need_NULL\n#include <stddef.h>\n"
                                                 "struct s { size_t n; };")})
    settings = settings_for(root, compiler)
    report, result = failing(root, settings)
    assert all(n.fix_diff is None or n.fix_diff.startswith("--- a/t.h\n") for n in notes_of(result))
    assert not [n for n in notes_of(result, "fix") if "move" in n.message]
    assert _include_edits(report, settings) == [(root / "t.h", ("#include <stddef.h>",))]
    # check and fix agree: the CLI's diff is the note's.
    proc = hdrtest("fix", "--no-cache", "--cc", compiler, "--cflags=-std=gnu11", "t.h", cwd=root)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == notes_of(result, "include")[0].fix_diff


def test_no_edit_of_a_library_header_outside_the_tree(tmp_path: Path, compiler: str) -> None:
    lib = write_tree(tmp_path / "lib", {"lib.h": G.format(g="LIB_H", body="#ifdef LIB_FULL\nstruct big { int a; };\n"
                                                          "#endif")})
    root = write_tree(tmp_path / "tree", {"t.h": G.format(g="T_H", body="#include <lib.h>\n"
                                                          "struct s { struct big b; };")})
    settings = settings_for(root, compiler, "-I" + str(lib))
    report, result = failing(root, settings)
    [definition] = notes_of(result, "definition")
    assert (definition.file, definition.line) == (str(lib / "lib.h"), 4)
    assert explained(report, settings).edits == []
    assert not [n for n in notes_of(result) if n.fix_diff]
    assert [n.line for n in notes_of(result, "fix") if n.file == "t.h"] == [4]  # only: guard the use


# ---------------------------------------------------------------------------
# 8. A failed macro probe is unknown, never "not set", and nothing is cached from it


GUARDED = {"include/big.h": G.format(g="BIG_H", body="#ifdef CONFIG_BIG\nstruct big { int a; };\n#endif"),
           "t.h": G.format(g="T_H", body="#include <big.h>\nstruct s { struct big b; };")}


def _wrapper(tmp_path: Path, compiler: str, probe: str) -> Path:
    """A compiler wrapper (as ccache or a cross toolchain's) that compiles, but fails the -dM probe
    while the file 'refuse' exists next to it."""
    wrapper = tmp_path / "bin" / "cc-wrapper"
    wrapper.parent.mkdir()
    wrapper.write_text(f'''#!/bin/sh
case " $* " in *" -dM "*) if [ -e "{tmp_path / 'bin' / 'refuse'}" ]; then {probe}; fi;; esac
exec {compiler} "$@"
''')
    wrapper.chmod(0o755)
    (tmp_path / "bin" / "refuse").write_text("")
    return wrapper


@pytest.mark.parametrize("probe,reason", [("echo 'cc1: probe refused' >&2; exit 1", "cc1: probe refused"),
                                          ("sleep 5", "took over 2 s")])
def test_a_failed_macro_probe_leaves_the_configuration_unknown(tmp_path: Path, compiler: str, probe: str,
                                                               reason: str) -> None:
    root = write_tree(tmp_path / "tree", GUARDED)
    wrapper = _wrapper(tmp_path, compiler, probe)
    cache = tmp_path / "cache"
    settings = settings_for(root, str(wrapper), cache=cache, timeout=2)
    settle()
    report, result = failing(root, settings)
    [definition] = notes_of(result, "definition")
    assert (definition.file, definition.line) == ("include/big.h", 4)
    assert "not set" not in definition.message
    assert "not verified: could not list macros: " in definition.message and reason in definition.message
    assert not notes_of(result, "fix") and explained(report, settings).edits == []
    assert result.triage is None and result.explained_from is None
    diagnosis = errors(result)[0].diagnosis
    assert diagnosis is not None
    assert (diagnosis.kind, diagnosis.verified, diagnosis.values) == \
        ("unknown-condition", False, (("CONFIG_BIG", "?"),))
    assert diagnosis.reason is not None and diagnosis.reason.startswith("could not list macros: ")
    # Nothing was kept: with the probe working again, the same compile (a cache hit) is explained for real.
    (tmp_path / "bin" / "refuse").unlink()
    _, again = failing(root, settings)
    assert again.cached
    [definition] = notes_of(again, "definition")
    assert "CONFIG_BIG is not set" in definition.message
    diagnosis = errors(again)[0].diagnosis
    assert diagnosis is not None and (diagnosis.kind, diagnosis.values) == ("conditional", (("CONFIG_BIG", None),))
    assert probe_config(again.job).error is None


# ---------------------------------------------------------------------------
# 9. A cached explanation goes stale with the files it read


def test_a_cached_explanation_follows_the_definition_it_names(tmp_path: Path, compiler: str) -> None:
    root = write_tree(tmp_path / "tree", {
        "include/defs.h": G.format(g="DEFS_H", body="struct big { int a; };"),
        "t.h": G.format(g="T_H", body="struct s { struct big b; };")})
    settings = settings_for(root, compiler, cache=tmp_path / "cache")
    settle()
    _, result = failing(root, settings)
    [definition] = notes_of(result, "definition")
    assert (definition.file, definition.line) == ("include/defs.h", 3)
    # The definition moves; t.h's compile read nothing that changed (a cache hit), its explanation did.
    (root / "include/defs.h").write_text(G.format(g="DEFS_H", body="/* moved */\n\nstruct big { int a; };"))
    settle()
    _, again = failing(root, settings)
    assert again.cached
    [definition] = notes_of(again, "definition")
    assert (definition.file, definition.line) == ("include/defs.h", 5)
    # Unchanged since: the stored explanation (now the new one) comes back as it is.
    _, third = failing(root, settings)
    assert third.cached and [(n.file, n.line) for n in notes_of(third, "definition")] == [("include/defs.h", 5)]
    assert errors(third)[0].diagnosis == Diagnosis("not-included", "struct big", "include/defs.h", 5,
                                                   include="<defs.h>", total=1, header="t.h", edit_line=3)
    assert str(root / "include/defs.h") in (third.explained_from or {})


def test_an_enum_s_last_enumerator_is_not_blanked(tmp_path: Path) -> None:
    text = (b"enum flags {\n\tFLAG_A,\n\tFLAG_B, /* b */\n\tFLAG_LAST\n};\n"
            b"enum other {\n\tOTHER_A,\n#ifdef X\n\tOTHER_X,\n#endif\n\tOTHER_LAST\n#define OTHER_LAST OTHER_LAST\n};\n")
    found = {(d.name, d.kind) for d in index_file(str(tmp_path / "e.h"), text)}
    assert {("FLAG_LAST", "enumerator"), ("OTHER_LAST", "enumerator")} <= found


def test_an_explanation_that_fails_is_recorded_as_not_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file that vanishes under the explainer: the check keeps its verdict, the error carries a record
    # saying nothing was established and why.
    from hdrtest.explain import report as explaining

    write_tree(tmp_path, {"t.h": G.format(g="T_H", body="struct user { mystery_t m; };")})
    settings = settings_for(tmp_path, "gcc")
    report = check(settings, [str(tmp_path / "t.h")], explain=False)

    def vanished(*_: object) -> None:
        raise FileNotFoundError(2, "No such file or directory", str(tmp_path / "t.h"))

    monkeypatch.setattr(explaining, "explain_diagnostic", vanished)
    explained(report, settings)
    diagnosis = errors(report.failures[0])[0].diagnosis
    assert diagnosis is not None and (diagnosis.kind, diagnosis.verified) == ("not-explained", False)
    assert diagnosis.reason is not None and diagnosis.reason.startswith("FileNotFoundError")
    assert [n.kind for n in notes_of(report.failures[0])] == ["explain-error"]


def test_the_result_cache_keeps_the_record_of_a_redefinition(tmp_path: Path) -> None:
    # Places come back from the cache's JSON as the same record (tuples, the kind as an enum).
    root = write_tree(tmp_path / "tree", {
        "include/a.h": G.format(g="A_H", body="struct pair { int a; };"),
        "include/b.h": G.format(g="B_H", body="struct pair { int a; };"),
        "t.h": G.format(g="T_H", body="#include <a.h>\n#include <b.h>")})
    settings = settings_for(root, "gcc", cache=tmp_path / "cache")
    settle()
    _, first = failing(root, settings)
    _, again = failing(root, settings)
    assert again.cached and not first.cached
    records = [[d.diagnosis for d in r.diagnostics if d.diagnosis is not None] for r in (first, again)]
    assert records[0] == records[1] and [d.kind for d in records[1]] == ["redefined"]
    assert records[1][0].places == (("include/a.h", 3), ("include/b.h", 3))
    assert [n.message for n in notes_of(again)] == [n.message for n in notes_of(first)]
