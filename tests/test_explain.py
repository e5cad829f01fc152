"""Explanations of real gcc and clang failures: where the name is, when, and the fix."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from conftest import EXAMPLES, write_tree

from hdrtest.check import check
from hdrtest.explain import explain_report
from hdrtest.explain.config import probe_config
from hdrtest.explain.guards import guard_directive, hiding_guard, why_false
from hdrtest.explain.includes import include_spelling
from hdrtest.fixes import apply_and_verify, render_diff
from hdrtest.graph.resolve import SearchPath
from hdrtest.models import CheckReport, Diagnosis, DiagnosisKind, Diagnostic, Note, Result
from hdrtest.report.context import ReportContext
from hdrtest.report.text import render
from hdrtest.scan.conditions import parse_condition
from hdrtest.scan.directives import scan_directives
from hdrtest.scan.formula import Defined, Not, Or
from hdrtest.scan.options import OptionFilter
from hdrtest.settings import Settings, load_settings
from hdrtest.store.serialize import diagnostic_from_dict, diagnostic_to_dict

G = "#ifndef {g}\n#define {g}\n{body}\n#endif\n"


def settings_for(root: Path, compiler: str, *flags: str, check_guard: bool = False) -> Settings:
    return Settings(root=root, cc=compiler, cflags=("-std=gnu11", "-I" + str(root / "include"), *flags),
                    check_guard=check_guard, jobs=1, variants="none", no_cache=True)


def run(root: Path, settings: Settings, header: str = "t.h") -> tuple[CheckReport, Result]:
    report = check(settings, [str(root / header)])
    failing = report.failures
    assert len(failing) == 1, render(ReportContext(report))
    return report, failing[0]


def first_error(result: Result) -> Diagnostic:
    return next(d for d in result.diagnostics if d.is_error)


def notes_of(result: Result, kind: str | None = None) -> list[Note]:
    return [n for d in result.diagnostics for n in d.notes if kind is None or n.kind == kind]


def texts(result: Result) -> str:
    return "\n".join(n.message for n in notes_of(result))


# ---------------------------------------------------------------------------
# The seed case


GVT_STUB_DIFF = """\
--- a/arch/x86/include/asm/kvm_page_track.h
+++ b/arch/x86/include/asm/kvm_page_track.h
@@ -25,6 +25,8 @@
 
 int kvm_write_track_add_gfn(struct kvm *kvm, gfn_t gfn);
 int kvm_write_track_remove_gfn(struct kvm *kvm, gfn_t gfn);
+#else
+struct kvm_page_track_notifier_node {};
 #endif /* CONFIG_KVM_EXTERNAL_WRITE_TRACKING */
 
 #endif /* _ASM_X86_KVM_PAGE_TRACK_H */
"""


def test_kvm_gvt_is_explained_with_the_stub(tmp_path: Path, compiler: str) -> None:
    root = tmp_path / "kvm-gvt"
    shutil.copytree(EXAMPLES / "kvm-gvt", root)
    header = "drivers/gpu/drm/i915/gvt/gvt.h"
    settings = load_settings([header], {"cc": compiler, "no_cache": True, "variants": "none"}, cwd=root)
    report = check(settings, [str(root / header)])
    [result] = report.failures
    error = first_error(result)
    assert (error.category, error.symbol) == ("incomplete-type", "struct kvm_page_track_notifier_node")
    definition = notes_of(result, "definition")[0]
    assert definition.message == (
        "\u2018struct kvm_page_track_notifier_node\u2019 is defined at arch/x86/include/asm/kvm_page_track.h:12 "
        "only when defined(CONFIG_KVM_EXTERNAL_WRITE_TRACKING); in this configuration "
        "CONFIG_KVM_EXTERNAL_WRITE_TRACKING is not set")
    assert (definition.file, definition.line) == ("arch/x86/include/asm/kvm_page_track.h", 12)
    fixes = notes_of(result, "fix")
    assert [f.message.split(":")[0] for f in fixes] == ["fix 1", "fix 2", "fix 3"]
    assert fixes[0].fix_diff == GVT_STUB_DIFF
    assert "move \u2018struct kvm_page_track_notifier_node\u2019 out of the #ifdef " \
           "CONFIG_KVM_EXTERNAL_WRITE_TRACKING block" in fixes[1].message
    assert fixes[2].message.endswith(f"guard the use at {header}:20 with #ifdef CONFIG_KVM_EXTERNAL_WRITE_TRACKING")
    assert result.triage == "header-test-only"
    [triage] = notes_of(result, "triage")
    assert "no translation unit that includes it is built when CONFIG_DRM_I915_GVT_KVMGT is off" in triage.message
    text = render(ReportContext(report))
    assert "arch/x86/include/asm/kvm_page_track.h:12: note: \u2018struct kvm_page_track_notifier_node\u2019" in text
    assert "    +struct kvm_page_track_notifier_node {};" in text
    assert "impact: header-test-only" in text


def test_kvm_gvt_variant_from_the_on_configuration(tmp_path: Path) -> None:
    root = tmp_path / "kvm-gvt"
    shutil.copytree(EXAMPLES / "kvm-gvt", root)
    header = "drivers/gpu/drm/i915/gvt/gvt.h"
    settings = load_settings([header], {"no_cache": True, "compile_commands": str(root / "build-on")}, cwd=root)
    report = check(settings, [str(root / header)])
    [result] = report.failures
    assert not result.job.variant.is_baseline
    assert "in this configuration CONFIG_KVM_EXTERNAL_WRITE_TRACKING is not set" in texts(result)
    assert notes_of(result, "fix")[0].fix_diff == GVT_STUB_DIFF
    assert result.triage == "header-test-only"


# ---------------------------------------------------------------------------
# (a) defined only under a false condition: functions, macros, an existing #else


DEEP_FUNCTIONS = G.format(g="DEEP_H", body="""#include <stddef.h>
#ifdef CONFIG_FEATURE
struct feature;
int feature_count(const char *name,
                  unsigned long flags);
void feature_reset(void);
struct feature *feature_get(int id);
#endif""")
USER = G.format(g="T_H", body="""#include <deep.h>
static inline int t_count(void)
{
\tfeature_reset();
\treturn feature_count("x", 0) + (feature_get(1) != NULL);
}""")


def test_function_stubs_share_one_else(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"include/deep.h": DEEP_FUNCTIONS, "t.h": USER})
    settings = settings_for(tmp_path, compiler, "-Werror=implicit-function-declaration")
    report, result = run(tmp_path, settings)
    categories = [(d.category, d.symbol) for d in result.diagnostics if d.is_error]
    assert ("implicit-function", "feature_reset") in categories
    assert ("implicit-function", "feature_count") in categories
    assert "\u2018feature_count\u2019 is defined at include/deep.h:6 only when defined(CONFIG_FEATURE); " \
           "in this configuration CONFIG_FEATURE is not set" in texts(result)
    explanation = explain_report(_fresh(report), settings)
    diff = render_diff(explanation.edits, tmp_path)
    assert diff.count("+#else") == 1
    assert "+static inline void feature_reset(void) { }" in diff
    assert "+static inline int feature_count(const char *name, unsigned long flags) { return 0; }" in diff
    assert "+static inline struct feature *feature_get(int id) { return NULL; }" in diff
    outcome = apply_and_verify(explanation.edits, tmp_path, lambda: check(settings, [str(tmp_path / "t.h")]))
    assert outcome.passed, outcome.message
    # The configuration that has the feature still compiles the real prototypes.
    on = settings_for(tmp_path, compiler, "-Werror=implicit-function-declaration", "-DCONFIG_FEATURE")
    assert not check(on, [str(tmp_path / "t.h")]).failures


def _fresh(report: CheckReport) -> CheckReport:
    for result in report.results:
        for diag in result.diagnostics:
            diag.notes = []
    return report


def fixes_pass(report: CheckReport, settings: Settings, root: Path, header: str = "t.h") -> bool:
    """Explain afresh, apply the edits and re-check the header: what ``hdrtest fix --apply`` does."""
    explanation = explain_report(_fresh(report), settings)
    return apply_and_verify(explanation.edits, root, lambda: check(settings, [str(root / header)])).passed


def test_macro_stub_goes_into_the_existing_else(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "include/sizes.h": G.format(g="SIZES_H", body="#ifdef CONFIG_BIG\n#define BUF_WORDS 64\n#else\n"
                                                      "#define SMALL_BUFFERS 1\n#endif"),
        "t.h": G.format(g="T_H", body="#include <sizes.h>\nstruct holder {\n\tint words[BUF_WORDS];\n};"),
    })
    settings = settings_for(tmp_path, compiler)
    report, result = run(tmp_path, settings)
    assert (first_error(result).category, first_error(result).symbol) == ("undeclared-identifier", "BUF_WORDS")
    stub = notes_of(result, "fix")[0]
    assert stub.fix_diff is not None
    assert "+#else" not in stub.fix_diff
    assert "+#define BUF_WORDS 0\n #endif" in stub.fix_diff
    assert "the branch taken here" in stub.message
    assert fixes_pass(report, settings, tmp_path)


def test_a_value_test_under_another_option_pattern_stays_one(tmp_path: Path, compiler: str) -> None:
    # With HAVE_* as the options, '#if CONFIG_LEVEL' tests a value: the notes must not call it '#ifdef'.
    write_tree(tmp_path, {
        "include/lvl.h": G.format(g="LVL_H", body="#if CONFIG_LEVEL\nstruct lvl { int n; };\n#endif"),
        "t.h": G.format(g="T_H", body="#include <lvl.h>\nstruct user { struct lvl l; };"),
    })
    settings = dataclasses.replace(settings_for(tmp_path, compiler, "-DCONFIG_LEVEL=0"), option_pattern="HAVE_[A-Z_]+")
    _, result = run(tmp_path, settings)
    diagnosis = first_error(result).diagnosis
    assert diagnosis is not None and (diagnosis.kind, diagnosis.guard) == (DiagnosisKind.CONDITIONAL, "CONFIG_LEVEL")
    assert "only when CONFIG_LEVEL; in this configuration CONFIG_LEVEL is false (CONFIG_LEVEL=0)" in texts(result)
    assert [n.message.split(": ", 1)[1] for n in notes_of(result, "fix")][1:] == [
        "move \u2018struct lvl\u2019 out of the #if CONFIG_LEVEL block (include/lvl.h:3), so that every configuration has it",
        "or guard the use at t.h:4 with #if CONFIG_LEVEL"]


def test_a_guarded_definition_with_an_unconditional_one_elsewhere(tmp_path: Path, compiler: str) -> None:
    # u.h's failure puts other.h in the index, outside t.h's closure: t.h's own cfg.h guards 'struct thing'.
    write_tree(tmp_path, {
        "include/cfg.h": G.format(g="CFG_H", body="#ifdef CONFIG_A\nstruct thing { int x; };\n#endif"),
        "include/other.h": G.format(g="OTHER_H", body="struct thing { int x; };"),
        "t.h": G.format(g="T_H", body="#include <cfg.h>\nstruct user { struct thing t; };"),
        "u.h": G.format(g="U_H", body="#include <other.h>\nstruct u2 { nope_t n; };"),
    })
    report = check(settings_for(tmp_path, compiler), [str(tmp_path / "t.h"), str(tmp_path / "u.h")])
    [result] = [r for r in report.failures if r.job.display == "t.h"]
    assert [n.message for n in notes_of(result) if n.kind != "triage"] == [
        "\u2018struct thing\u2019 is defined at include/cfg.h:4 only when defined(CONFIG_A); in this configuration "
        "CONFIG_A is not set",
        "fix 1: add a stub to a new #else of the conditional at include/cfg.h:3-5: struct thing {};",
        "fix 2: move \u2018struct thing\u2019 out of the #ifdef CONFIG_A block (include/cfg.h:3), so that every "
        "configuration has it",
        "fix 3: or guard the use at t.h:4 with #ifdef CONFIG_A",
        "it is also defined unconditionally: \u2018struct thing\u2019 is defined at include/other.h:3, which t.h does "
        "not include",
        "it is also defined unconditionally: fix: add '#include <other.h>' to t.h"]
    diagnosis = first_error(result).diagnosis
    assert diagnosis is not None and diagnosis.also is not None
    assert (diagnosis.kind, diagnosis.file, diagnosis.stub) == (DiagnosisKind.CONDITIONAL, "include/cfg.h",
                                                               "struct thing {};")
    assert (diagnosis.also.kind, diagnosis.also.file, diagnosis.also.include, diagnosis.also.header) == \
        (DiagnosisKind.NOT_INCLUDED, "include/other.h", "<other.h>", "t.h")
    # The nested record survives the result cache's JSON.
    stored = json.loads(json.dumps(diagnostic_to_dict(first_error(result))))
    assert diagnostic_from_dict(stored).diagnosis == diagnosis


def test_nested_condition_names_the_false_one(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "include/deep.h": G.format(g="DEEP_H", body="#if defined(CONFIG_OUTER)\n#if IS_ENABLED(CONFIG_INNER)\n"
                                                    "struct inner_state { int n; };\n#endif\n#endif"),
        "t.h": G.format(g="T_H", body="#include <deep.h>\nstruct user { struct inner_state s; };"),
        "include/linux/kconfig.h": "#define IS_ENABLED(x) defined(x)\n",
    })
    settings = settings_for(tmp_path, compiler, "-DCONFIG_OUTER", "-include", "linux/kconfig.h")
    _, result = run(tmp_path, settings)
    text = texts(result)
    assert "only when defined(CONFIG_OUTER) && (defined(CONFIG_INNER) || defined(CONFIG_INNER_MODULE))" in text
    assert "in this configuration CONFIG_INNER is not set" in text
    stub = notes_of(result, "fix")[0]
    assert stub.fix_diff is not None and " #if IS_ENABLED(CONFIG_INNER)" in stub.fix_diff
    assert "+#else\n+struct inner_state {};\n #endif\n #endif" in stub.fix_diff
    assert "#if IS_ENABLED(CONFIG_INNER)" in notes_of(result, "fix")[1].message


# ---------------------------------------------------------------------------
# (b) defined in a header that is not included; (c) only forward-declared; (d) nowhere


def test_missing_include_is_suggested_and_works(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "include/net/widget.h": G.format(g="WIDGET_H", body="struct widget {\n\tint id;\n};"),
        "t.h": G.format(g="T_H", body="#include <stddef.h>\nstruct user {\n\tstruct widget w;\n};"),
    })
    settings = settings_for(tmp_path, compiler)
    report, result = run(tmp_path, settings)
    assert "\u2018struct widget\u2019 is defined at include/net/widget.h:3, which t.h does not include" in texts(result)
    [fix] = notes_of(result, "include")
    assert fix.message == "fix: add '#include <net/widget.h>' to t.h"
    assert fix.fix_diff is not None and " #include <stddef.h>\n+#include <net/widget.h>\n" in fix.fix_diff
    assert fixes_pass(report, settings, tmp_path)


def test_the_header_siblings_include_is_preferred(tmp_path: Path, compiler: str) -> None:
    body = "struct gadget {\n\tint id;\n};"
    write_tree(tmp_path, {
        "include/aa/gadget.h": G.format(g="AA_H", body=body),
        "include/bb/gadget_types.h": G.format(g="BB_H", body=body),
        "drv/other.c": "#include <bb/gadget_types.h>\n",
        "drv/more.h": "#include <bb/gadget_types.h>\n",
        "drv/t.h": G.format(g="T_H", body="struct user { struct gadget g; };"),
    })
    _, result = run(tmp_path, settings_for(tmp_path, compiler), "drv/t.h")
    [fix] = notes_of(result, "include")
    assert fix.message == "fix: add '#include <bb/gadget_types.h>' to drv/t.h"
    assert "(also at 1 other place(s))" in texts(result)


def test_forward_declaration_points_at_the_complete_type(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "include/fwd.h": G.format(g="FWD_H", body="struct thing;"),
        "include/thing.h": G.format(g="THING_H", body="struct thing {\n\tlong v;\n};"),
        "t.h": G.format(g="T_H", body="#include <fwd.h>\nstatic inline long get(struct thing t) { return t.v; }"),
    })
    _, result = run(tmp_path, settings_for(tmp_path, compiler))
    text = texts(result)
    assert "\u2018struct thing\u2019 is only forward-declared where a complete type is needed (include/fwd.h:3); " \
           "its complete definition is at include/thing.h:3" in text
    assert "fix: add '#include <thing.h>' to t.h" in text


def test_defined_nowhere(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"include/other.h": "int unrelated;\n",
                          "t.h": G.format(g="T_H", body="struct user { mystery_t m; };")})
    _, result = run(tmp_path, settings_for(tmp_path, compiler))
    assert (first_error(result).category, first_error(result).symbol) == ("unknown-type", "mystery_t")
    [note] = notes_of(result, "definition")
    assert note.message.startswith("\u2018mystery_t\u2019 is defined nowhere in the ")
    assert not notes_of(result, "fix")


def test_typedef_of_an_incomplete_struct(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "include/types.h": G.format(g="TYPES_H", body="typedef struct conn conn_t;\n#ifdef CONFIG_NET\n"
                                                      "struct conn { int fd; };\n#endif"),
        "t.h": G.format(g="T_H", body="#include <types.h>\nstruct user { conn_t c; };"),
    })
    _, result = run(tmp_path, settings_for(tmp_path, compiler))
    text = texts(result)
    assert "is defined at include/types.h:5 only when defined(CONFIG_NET)" in text
    assert "\u2018struct conn\u2019" in text
    assert "+struct conn {};" in (notes_of(result, "fix")[0].fix_diff or "")


def test_defined_after_its_use(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"t.h": G.format(g="T_H", body="static inline int lim(void) { return LIMIT; }\n"
                                                        "#define LIMIT 3")})
    _, result = run(tmp_path, settings_for(tmp_path, compiler))
    assert "\u2018LIMIT\u2019 is defined at t.h:4, after its use at line 3" in texts(result)


# ---------------------------------------------------------------------------
# Members, missing files, include guards


def test_member_declared_under_a_condition(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "include/stats.h": G.format(g="STATS_H", body="struct stats {\n\tint calls;\n#ifdef CONFIG_STATS\n"
                                                      "\tunsigned long hits;\n#endif\n};"),
        "t.h": G.format(g="T_H", body="#include <stats.h>\n"
                                      "static inline unsigned long h(struct stats *s) { return s->hits; }"),
    })
    _, result = run(tmp_path, settings_for(tmp_path, compiler))
    assert (first_error(result).category, first_error(result).symbol) == ("no-member", "hits")
    assert first_error(result).diagnosis == Diagnosis(DiagnosisKind.CONDITIONAL, "hits", "include/stats.h", 6,
                                                      "defined(CONFIG_STATS)", (("CONFIG_STATS", None),),
                                                      context="struct stats")
    assert [n.kind for n in notes_of(result) if n.kind != "triage"] == ["definition", "fix"]
    assert (notes_of(result, "fix")[0].file, notes_of(result, "fix")[0].line) == ("t.h", 4)  # the use to guard


def test_member_no_configuration_declares(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "include/stats.h": G.format(g="STATS_H", body="struct stats {\n\tint calls;\n};"),
        "t.h": G.format(g="T_H", body="#include <stats.h>\n"
                                      "static inline int h(struct stats *s) { return s->misses; }"),
    })
    _, result = run(tmp_path, settings_for(tmp_path, compiler))
    assert first_error(result).diagnosis == Diagnosis(DiagnosisKind.NO_MEMBER, "misses", "include/stats.h", 3,
                                                      context="struct stats")


def test_redefinition_names_every_place(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "include/a.h": G.format(g="A_H", body="struct pair { int a; };"),
        "include/b.h": G.format(g="B_H", body="struct pair { int a; };"),
        "t.h": G.format(g="T_H", body="#include <a.h>\n#include <b.h>"),
    })
    _, result = run(tmp_path, settings_for(tmp_path, compiler))
    found = [d.diagnosis for d in result.diagnostics if d.diagnosis is not None]
    assert found and found[0].kind is DiagnosisKind.REDEFINED and found[0].symbol.endswith("pair")
    assert (sorted(found[0].places), found[0].total) == ([("include/a.h", 3), ("include/b.h", 3)], 2)


def test_unused_static_definitions_are_told_apart(tmp_path: Path) -> None:
    write_tree(tmp_path, {"t.h": G.format(g="T_H", body="static int helper(void) { return 1; }\n"
                                                        "static int table[2] = { 1, 2 };")})
    settings = Settings(root=tmp_path, cc="gcc", cflags=("-std=gnu11", "-Wall", "-Werror"), jobs=1,
                        variants="none", no_cache=True, mode="asm")
    _, result = run(tmp_path, settings)
    found = {(d.diagnosis.kind, d.diagnosis.symbol, d.diagnosis.line) for d in result.diagnostics
             if d.diagnosis is not None}
    assert found == {(DiagnosisKind.UNUSED_STATIC_FUNCTION, "helper", 3),
                     (DiagnosisKind.UNUSED_STATIC_DATA, "table", 4)}


def test_missing_file_found_elsewhere_in_the_tree(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"include/net/widget.h": "struct widget { int id; };\n",
                          "t.h": G.format(g="T_H", body="#include <widget.h>")})
    _, result = run(tmp_path, settings_for(tmp_path, compiler))
    assert (first_error(result).category, first_error(result).symbol) == ("missing-include", "widget.h")
    assert first_error(result).diagnosis == Diagnosis(DiagnosisKind.INCLUDE_NOT_ON_PATH, "widget.h",
                                                      include="<net/widget.h>", places=(("include/net/widget.h", 0),),
                                                      total=1)
    assert [n.kind for n in notes_of(result) if n.kind != "triage"] == ["definition", "fix"]


def test_missing_file_nowhere_in_the_tree(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"t.h": G.format(g="T_H", body="#include <gone.h>")})
    _, result = run(tmp_path, settings_for(tmp_path, compiler))
    assert first_error(result).diagnosis == Diagnosis(DiagnosisKind.NO_SUCH_FILE, "gone.h")


def test_include_guard_fix_makes_the_double_include_pass(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"t.h": "/* a header without a guard */\nstruct once { int a; };\n"})
    settings = settings_for(tmp_path, compiler, check_guard=True)
    report, result = run(tmp_path, settings)
    assert first_error(result).category == "include-guard"
    diagnosis = first_error(result).diagnosis
    assert diagnosis is not None and diagnosis.symbol.endswith("once")  # gcc: 'struct once', clang: 'once'
    assert (diagnosis.kind, diagnosis.file, diagnosis.macro) == (DiagnosisKind.NO_INCLUDE_GUARD, "t.h", "T_H_")
    fix = notes_of(result, "fix")[0]
    assert fix.fix_diff is not None
    assert "+#ifndef T_H_\n+#define T_H_\n struct once { int a; };\n+#endif /* T_H_ */" in fix.fix_diff
    assert fixes_pass(report, settings, tmp_path)


def test_nothing_happens_without_failures(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"t.h": G.format(g="T_H", body="int fine(void);")})
    settings = settings_for(tmp_path, compiler)
    report = check(settings, [str(tmp_path / "t.h")])
    explanation = explain_report(report, settings)
    assert not report.failures and not explanation.edits and not explanation.explained


def test_check_can_leave_explanations_out(tmp_path: Path) -> None:
    write_tree(tmp_path, {"t.h": G.format(g="T_H", body="struct user { mystery_t m; };")})
    report = check(settings_for(tmp_path, "gcc"), [str(tmp_path / "t.h")], explain=False)
    assert report.failures and not notes_of(report.failures[0]) and report.failures[0].triage is None


# ---------------------------------------------------------------------------
# Pieces


def test_config_values_follow_the_flags(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"include/conf.h": "#define CONFIG_FROM_FILE 1\n",
                          "t.h": G.format(g="T_H", body="struct user { mystery_t m; };")})
    settings = settings_for(tmp_path, compiler, "-DCONFIG_HZ=250", "-include", str(tmp_path / "include/conf.h"))
    _, result = run(tmp_path, settings)
    values = probe_config(result.job).values
    assert values["CONFIG_HZ"] == "250" and values["CONFIG_FROM_FILE"] == "1"
    assert "CONFIG_NOT_THERE" not in values


def test_an_empty_option_pattern_means_the_default_for_explanations_too() -> None:
    # The check reads an empty --option-pattern as the default CONFIG_* one; explanations must agree
    # (both ask rundir.option_filter).
    from hdrtest.rundir import option_filter

    assert option_filter(Settings(option_pattern="")) == OptionFilter()
    assert option_filter(Settings(option_pattern="HAVE_.*")) == OptionFilter(("HAVE_.*",))


def test_why_false_and_guard_directive() -> None:
    values: dict[str, str | None] = {"CONFIG_ON": "1", "CONFIG_HZ": "100"}
    assert why_false(Defined("CONFIG_OFF"), values) == ["CONFIG_OFF is not set"]
    assert why_false(Defined("CONFIG_ON"), values) == []
    assert why_false(Not(Defined("CONFIG_ON")), values) == ["CONFIG_ON is set"]
    tristate = Or((Defined("CONFIG_X"), Defined("CONFIG_X_MODULE")))
    assert why_false(tristate, values) == ["CONFIG_X is not set"]
    assert why_false(parse_condition("if", "CONFIG_HZ > 250"), values) == ["CONFIG_HZ > 250 is false (CONFIG_HZ=100)"]
    assert guard_directive(Defined("A")) == "#ifdef A"
    assert guard_directive(Not(Defined("A"))) == "#ifndef A"
    assert guard_directive(tristate) == "#if IS_ENABLED(CONFIG_X)"


def test_hiding_guard_picks_the_right_branch() -> None:
    text = "#ifdef A\nint a;\n#elif defined(B)\nint b;\n#endif\n#ifdef C\nint c;\n#else\nint notc;\n#endif\n"
    scan = scan_directives(text, "x.h")
    site = hiding_guard(scan, 2, {"B": "1"})  # a's branch is false, the #elif is taken: the stub goes there
    assert site is not None and (site.insert_line, site.needs_else) == (5, False)
    site = hiding_guard(scan, 2, {})  # nothing taken: a new #else before the #endif
    assert site is not None and (site.insert_line, site.needs_else) == (5, True)
    site = hiding_guard(scan, 7, {})  # #else exists and is taken
    assert site is not None and (site.insert_line, site.needs_else) == (10, False)
    assert hiding_guard(scan, 9, {}) is None  # the #else itself is live: nothing hides it


def test_include_spelling(tmp_path: Path) -> None:
    write_tree(tmp_path, {"include/linux/a.h": "", "drv/b.h": "", "drv/c.h": ""})
    search = SearchPath.from_flags(["-Iinclude"], tmp_path)
    assert include_spelling(tmp_path / "include/linux/a.h", tmp_path / "drv/c.h", search) == "<linux/a.h>"
    assert include_spelling(tmp_path / "drv/b.h", tmp_path / "drv/c.h", search) == '"b.h"'
    assert include_spelling(tmp_path / "elsewhere.h", tmp_path / "drv/c.h", search) is None


@pytest.mark.parametrize("flag", ["-DCONFIG_FEATURE"])
def test_no_stub_when_the_condition_holds(tmp_path: Path, flag: str) -> None:
    # With the option on the prototypes are seen; an error about something else gets no stub.
    write_tree(tmp_path, {"include/deep.h": DEEP_FUNCTIONS,
                          "t.h": G.format(g="T_H", body="#include <deep.h>\nstruct u { mystery_t m; };")})
    _, result = run(tmp_path, settings_for(tmp_path, "gcc", flag))
    assert not notes_of(result, "fix")


def test_typedef_stub_is_a_copy(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "include/kvm_types.h": G.format(g="KT_H", body="#ifdef CONFIG_KVM\ntypedef unsigned long gfn_t;\n#endif"),
        "t.h": G.format(g="T_H", body="#include <kvm_types.h>\nstruct range {\n\tgfn_t start;\n};"),
    })
    settings = settings_for(tmp_path, compiler)
    report, result = run(tmp_path, settings)
    assert (first_error(result).category, first_error(result).symbol) == ("unknown-type", "gfn_t")
    stub = notes_of(result, "fix")[0]
    assert "+#else\n+typedef unsigned long gfn_t;\n #endif" in (stub.fix_diff or "")
    assert fixes_pass(report, settings, tmp_path)


def test_unusable_cache_dir_still_explains(tmp_path: Path) -> None:
    from conftest import hdrtest

    write_tree(tmp_path / "tree", {
        "t.h": "#ifndef T_H\n#define T_H\n#ifdef CONFIG_X\nstruct x { int a; };\n#endif\nstruct y { struct x x; };\n"
               "#endif\n",
    })
    (tmp_path / "blocker").write_text("a file where the cache directory should be")
    run = hdrtest("check", "--cache-dir", str(tmp_path / "blocker" / "cache"), "--variants", "none", "t.h",
                  cwd=tmp_path / "tree")
    assert run.returncode == 1, run.stderr
    assert "only when" in run.stdout and "CONFIG_X" in run.stdout


def test_missing_include_search_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hdrtest.explain import diagnostic as explain

    write_tree(tmp_path, {f"d{i}/f{i}.h": "" for i in range(6)} | {"zz/wanted.h": ""})
    monkeypatch.setattr(explain, "_NAMES", {})
    assert explain._files_named(tmp_path, "wanted.h") == ([tmp_path / "zz/wanted.h"], True)
    monkeypatch.setattr(explain, "_NAMES", {})
    monkeypatch.setattr(explain, "_NAMES_LIMIT", 3)
    named, complete = explain._files_named(tmp_path, "wanted.h")
    assert not complete and named == []


def test_error_directive_is_explained_as_deliberate(tmp_path: Path, compiler: str) -> None:
    from conftest import hdrtest as run_hdrtest
    from conftest import write_tree as write

    write(tmp_path, {"patchkey.h": "#ifndef _LINUX_PATCHKEY_H_INDIRECT\n#error \"patchkey.h included directly\"\n#endif\n"})
    run = run_hdrtest("check", "--cc", compiler, "--format", "json", "patchkey.h", cwd=tmp_path)
    assert run.returncode == 1
    diag = run.json()["results"][0]["diagnostics"][0]
    assert diag["category"] == "error-directive"
    assert (diag["diagnosis"]["kind"], diag["diagnosis"]["file"], diag["diagnosis"]["line"]) == \
        ("error-directive", "patchkey.h", 2)
    # Its rendering tells the user how to exclude a header that is not meant to stand alone.
    assert [n["kind"] for n in diag["notes"]] == ["fix"] and "hdrtest: skip" in diag["notes"][0]["message"]


def test_the_header_the_tree_includes_is_suggested_over_the_defining_one(tmp_path: Path, compiler: str) -> None:
    # The kernel's u8: defined in asm-generic/int-ll64.h, which files get through <linux/types.h>;
    # also in a user-space branch of an unrelated header and in another subsystem's own types.
    write_tree(tmp_path, {
        "include/asm-generic/int-ll64.h": G.format(g="INT_LL64_H", body="typedef unsigned char u8;"),
        "include/asm/types.h": G.format(g="ASM_TYPES_H", body="#include <asm-generic/int-ll64.h>"),
        "include/linux/types.h": G.format(g="LINUX_TYPES_H", body="#ifdef __KERNEL__\n#include <asm/types.h>\n"
                                                                   "#endif"),
        "include/raid/pq.h": G.format(g="PQ_H", body="#ifndef __KERNEL__\ntypedef unsigned char u8;\n#endif"),
        "include/acpi/ty.h": G.format(g="TY_H", body="typedef unsigned char u8;"),
        "include/linux/a.h": "#include <linux/types.h>\n",
        "include/linux/b.h": "#include <linux/types.h>\n",
        "include/linux/t.h": G.format(g="T_H", body="struct user { u8 v; };"),
    })
    settings = settings_for(tmp_path, compiler, "-D__KERNEL__")
    report, result = run(tmp_path, settings, "include/linux/t.h")
    [fix] = notes_of(result, "include")
    assert fix.message == "fix: add '#include <linux/types.h>' to include/linux/t.h"
    assert "<linux/types.h>, included by 2 file(s) next to it, brings it in" in texts(result)
    assert "pq.h" not in texts(result)  # a guard in a file this header does not read is not the cause
    assert fixes_pass(report, settings, tmp_path, "include/linux/t.h")


def test_a_standard_type_is_included_from_its_standard_header(tmp_path: Path, compiler: str) -> None:
    # Other libraries on the include path typedef size_t too (libpng does): <stddef.h> is the answer.
    write_tree(tmp_path, {
        "include/png.h": G.format(g="PNG_H", body="typedef unsigned long size_t;"),
        "t.h": G.format(g="T_H", body="struct user { size_t n; };"),
    })
    settings = settings_for(tmp_path, compiler)
    report, result = run(tmp_path, settings)
    [fix] = notes_of(result, "include")
    assert fix.message == "fix: add '#include <stddef.h>' to t.h"
    assert "\u2018size_t\u2019 comes from the standard header <stddef.h>" in texts(result)
    assert fixes_pass(report, settings, tmp_path)
