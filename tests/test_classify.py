"""Classifying real gcc and clang errors: one small tree per class, compiled by hdrtest's check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import write_tree

from hdrtest.check import check
from hdrtest.classify import (
    CATEGORIES,
    INCLUDE_GUARD,
    analyse,
    classify_all,
    clean_type,
    normalise_quotes,
    type_of_declaration,
)
from hdrtest.models import Diagnostic, Result
from hdrtest.settings import Settings
from hdrtest.toolchain import probe

G = "#ifndef {g}\n#define {g}\n{body}\n#endif\n"


@dataclass
class Case:
    name: str
    files: dict[str, str]
    category: str
    #: compiler family -> expected symbol (a single string applies to both).
    symbol: str | dict[str, str | None] | None
    header: str = "t.h"
    flags: tuple[str, ...] = ()
    check_guard: bool = False
    #: Substring of the message that identifies the error to classify (default: the first error).
    pick: dict[str, str] = field(default_factory=dict)
    #: Compilers that report it at all.
    families: tuple[str, ...] = ("gcc", "clang")


FWD = "struct fwd;\ntypedef struct fwd fwd_t;\n"

CASES = [
    Case("field", {"t.h": G.format(g="T", body=FWD + "struct a {\n\tint n;\n\tstruct fwd f;\n};")},
         "incomplete-type", "struct fwd"),
    Case("field-typedef", {"t.h": G.format(g="T", body=FWD + "struct b { fwd_t g; };")},
         "incomplete-type", {"gcc": "fwd_t", "clang": "struct fwd"}),
    Case("field-split-line", {"t.h": G.format(g="T", body="union u;\nstruct a {\n\tconst union u\n\t\tmember;\n};")},
         "incomplete-type", "union u"),
    Case("variable", {"t.h": G.format(g="T", body=FWD + "static struct fwd sv;")},
         "incomplete-type", "struct fwd"),
    Case("local-variable", {"t.h": G.format(g="T", body=FWD + "static inline void l(void) { struct fwd v; (void)v; }")},
         "incomplete-type", "struct fwd"),
    Case("sizeof", {"t.h": G.format(g="T", body=FWD + "static inline int s(void) { return sizeof(struct fwd); }")},
         "incomplete-type", "struct fwd"),
    Case("member-access", {"t.h": G.format(g="T", body=FWD + "static inline int m(struct fwd *p) { return p->x; }")},
         "incomplete-type", "struct fwd"),
    Case("by-value-param", {"t.h": G.format(g="T", body=FWD + "static inline void b(struct fwd p) { }")},
         "incomplete-type", "struct fwd"),
    Case("array", {"t.h": G.format(g="T", body=FWD + "struct c { struct fwd q[3]; };")},
         "incomplete-type", "struct fwd"),
    Case("unknown-type-field", {"t.h": G.format(g="T", body="struct t { foo_t x; };")}, "unknown-type", "foo_t"),
    Case("unknown-type-param", {"t.h": G.format(g="T", body="void fn(int a, bar_t y);")}, "unknown-type", "bar_t"),
    Case("unknown-type-global", {"t.h": G.format(g="T", body="extern baz_t var;")}, "unknown-type", "baz_t"),
    # clang warns about unused statics of the main file only, never of an -include'd header.
    Case("unused-constant", {"t.h": G.format(g="T", body="static const char *const ids[] = { \"a\" };")},
         "unused-definition", "ids", flags=("-D__KERNEL__", "-Wall", "-Werror=unused-const-variable"),
         families=("gcc",)),
    Case("unused-function", {"t.h": G.format(g="T", body="static int helper(void) { return 1; }")},
         "unused-definition", "helper", flags=("-D__KERNEL__", "-Wall", "-Werror=unused-function"),
         families=("gcc",)),
    Case("implicit-function", {"t.h": G.format(g="T", body="static inline int f(void) { return helper(1); }")},
         "implicit-function", "helper", flags=("-Werror=implicit-function-declaration",)),
    Case("undeclared-in-function", {"t.h": G.format(g="T", body="static inline int h(void) { return UNDEF_X; }")},
         "undeclared-identifier", "UNDEF_X"),
    Case("undeclared-file-scope", {"t.h": G.format(g="T", body="extern int arr[N_ITEMS];")},
         "undeclared-identifier", "N_ITEMS"),
    Case("no-member", {"t.h": G.format(g="T", body="struct s { int a; };\n"
                                                      "static inline int m(struct s *p) { return p->nope; }")},
         "no-member", "nope"),
    Case("redefinition", {"a.h": G.format(g="A", body="struct s { int a; };"),
                          "t.h": G.format(g="T", body='#include "a.h"\nstruct s { int b; };')},
         "redefinition", {"gcc": "struct s", "clang": "s"}),
    Case("conflicting-types", {"t.h": G.format(g="T", body="int conf(int);\nlong conf(int);")},
         "redefinition", "conf"),
    Case("missing-include-quoted", {"t.h": G.format(g="T", body='#include "missing.h"')},
         "missing-include", "missing.h"),
    Case("missing-include-angled", {"t.h": G.format(g="T", body="#include <sub/absent.h>")},
         "missing-include", "sub/absent.h"),
    Case("include-guard", {"t.h": "struct guarded { int a; };\n"}, INCLUDE_GUARD, {"gcc": "struct guarded",
                                                                                   "clang": "guarded"},
         check_guard=True),
    Case("include-guard-function", {"t.h": "static inline int gf(void) { return 0; }\n"}, INCLUDE_GUARD, "gf",
         check_guard=True),
    Case("redefinition-is-not-guard", {"t.h": G.format(g="T", body="int conf(int);\nlong conf(int);")},
         "redefinition", "conf", check_guard=True),
    Case("other", {"t.h": G.format(g="T", body="static int x = ;")}, "other", None),
    Case("error-directive", {"t.h": '#ifndef T_INDIRECT\n#error "include u.h instead"\n#endif\n'},
         "error-directive", '"include u.h instead"'),
]


def _first_error(result: Result, pick: str | None) -> tuple[int, Diagnostic]:
    for index, diag in enumerate(result.diagnostics):
        if diag.is_error and (pick is None or pick in diag.message):
            return index, diag
    raise AssertionError(f"no error in {result.diagnostics!r}")


def run_case(tmp_path: Path, compiler: str, case: Case) -> Result:
    write_tree(tmp_path, case.files)
    settings = Settings(root=tmp_path, cc=compiler, cflags=("-std=gnu11", "-I" + str(tmp_path), *case.flags),
                        check_guard=case.check_guard, jobs=1)
    report = check(settings, [str(tmp_path / case.header)])
    assert len(report.results) == 1
    result = report.results[0]
    assert result.status.failed, result.raw_output
    return result


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_classify_real_diagnostics(tmp_path: Path, compiler: str, case: Case) -> None:
    family = probe(compiler).family
    if family not in case.families:
        pytest.skip(f"{family} does not report this for an included header")
    result = run_case(tmp_path, compiler, case)
    index, diag = _first_error(result, case.pick.get(family))
    from hdrtest.classify import related_notes

    found = analyse(diag, related=related_notes(result.diagnostics, index), check_guard=case.check_guard)
    category, symbol = found.category, found.symbol
    expected = case.symbol[family] if isinstance(case.symbol, dict) else case.symbol
    assert (category, symbol) == (case.category, expected), diag.message


def test_every_category_is_covered() -> None:
    assert {c.category for c in CASES} == set(CATEGORIES)


def test_classify_all_sets_fields_and_skips_notes(tmp_path: Path, compiler: str) -> None:
    case = CASES[0]
    result = run_case(tmp_path, compiler, case)
    classify_all(result.diagnostics)
    errors = [d for d in result.diagnostics if d.is_error]
    assert errors and all(d.category == "incomplete-type" and d.symbol == "struct fwd" for d in errors)
    assert all(d.category is None for d in result.diagnostics if d.severity == "note")


def test_without_check_guard_a_double_definition_is_a_redefinition() -> None:
    diag = Diagnostic(file="t.h", line=1, column=8, severity="error", message="redefinition of \u2018struct g\u2019",
                      children=[Diagnostic(file="t.h", line=1, column=8, severity="note",
                                           message="originally defined here")])
    assert (analyse(diag).category, analyse(diag).symbol) == ("redefinition", "struct g")
    guarded = analyse(diag, check_guard=True)
    assert (guarded.category, guarded.symbol) == ("include-guard", "struct g")


@pytest.mark.parametrize("text,expected", [
    ("const struct foo *", "struct foo"), ("enum e[3]", "enum e"), ("fwd_t", "fwd_t"),
    ("volatile unsigned long", "long"),
])
def test_clean_type(text: str, expected: str) -> None:
    assert clean_type(text) == expected


def test_quotes_of_every_locale() -> None:
    assert normalise_quotes("storage size of \u2018x\u2019 isn\u2019t known") == "storage size of 'x' isn't known"


def test_type_of_declaration_reads_the_line(tmp_path: Path) -> None:
    source = tmp_path / "x.h"
    source.write_text("struct s {\n\tstruct kvm_node track_node;\n\tfoo_t *ptr, other;\n};\n")
    assert type_of_declaration(str(source), 2, 18, "track_node") == "struct kvm_node"
    assert type_of_declaration(str(source), 3, 10, "ptr") == "foo_t"
    assert type_of_declaration(str(tmp_path / "gone.h"), 1, 1, "x") is None


def test_c_locale_quotes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LC_ALL", "C")
    result = run_case(tmp_path, "gcc", CASES[0])
    _, diag = _first_error(result, None)
    assert "\u2018" not in diag.message
    found = analyse(diag)
    assert (found.category, found.symbol) == ("incomplete-type", "struct fwd")
