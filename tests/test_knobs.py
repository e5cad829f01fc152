"""Outside Kconfig, only macros the code tests as switches are flipped, to the values it tests."""

from __future__ import annotations

from pathlib import Path

from conftest import hdrtest, write_tree

from hdrtest.analysis.knobs import MacroTests, file_facts, knob_table
from hdrtest.check import baseline_jobs, flag_source, plan_all_variants
from hdrtest.discover import discover
from hdrtest.scan.directives import scan_directives
from hdrtest.scan.options import OptionFilter
from hdrtest.settings import Settings

# A miniature of fmt's configuration style: user hooks with defaults, a computed version macro,
# a switch tested by #ifdef and a level tested by value.
CORE = """#ifndef CORE_H
#define CORE_H
#ifndef FMTX_THROW
#  define FMTX_THROW(x) do { (void)(x); } while (0)
#endif
#ifndef FMTX_EXTERN
#  define FMTX_EXTERN extern
#endif
#if defined(__GNUC__)
#  define FMTX_GCC_VERSION 1200
#else
#  define FMTX_GCC_VERSION 0
#endif
#if FMTX_GCC_VERSION >= 900
FMTX_EXTERN int fmtx_modern;
#endif
#ifdef FMTX_TRACE
static inline void fmtx_trace(void) { FMTX_TRACE(0); }
#endif
#ifdef FMTX_LEGACY
int fmtx_legacy;
#endif
#if FMTX_LEVEL == 2
struct fmtx_missing level_two;
#endif
static inline void fmtx_fail(int e) { FMTX_THROW(e); }
#endif
"""


def variants_of(data: dict, header: str) -> dict[str, str]:  # type: ignore[type-arg]
    return {r["variant"]["name"]: r["status"] for r in data["results"] if r["header"] == header}


def test_hooks_and_computed_macros_are_not_flipped_and_values_come_from_the_tests(tmp_path: Path,
                                                                                 compiler: str) -> None:
    write_tree(tmp_path, {"core.h": CORE, "user.h": '#include "core.h"\nint fmtx_user;\n'})
    run = hdrtest("check", "--cc", compiler, "--option-pattern", "FMTX_[A-Z0-9_]+", "--format", "json", ".",
                  cwd=tmp_path)
    data = run.json()
    core = variants_of(data, "core.h")
    # Only the two switches: FMTX_THROW/FMTX_TRACE are function-like, FMTX_EXTERN a hook the code
    # expands, FMTX_GCC_VERSION computed by the header in every configuration.
    assert set(core) == {"baseline", "FMTX_LEGACY=y", "FMTX_LEVEL=2"}, core
    assert core["FMTX_LEGACY=y"] == "pass"
    # The level the code tests is the one tried, and it is a real breakage.
    assert core["FMTX_LEVEL=2"] == "fail"
    assert run.returncode == 1


def test_a_defined_switch_is_undefined_and_set_to_zero(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {"opt.h": "#ifndef OPT_FAST\n#define OPT_FAST 1\n#endif\n"
                                   "#if OPT_FAST\nint fast;\n#else\nstruct slow_missing s;\n#endif\n"})
    run = hdrtest("check", "--cc", compiler, "--cflags=-DOPT_FAST=1", "--option-pattern", "OPT_[A-Z]+",
                  "--format", "json", ".", cwd=tmp_path)
    statuses = variants_of(run.json(), "opt.h")
    # Undefined brings the default (1) back, so it passes; 0 is what breaks.
    assert statuses["OPT_FAST=0"] == "fail"
    assert statuses["OPT_FAST=n"] == "pass"
    assert run.returncode == 1


def test_knob_table_decisions() -> None:
    # Inside the include guard, as in a real header: outside it every definition is conditional.
    text = CORE.removesuffix("#endif\n") + "int use(void) { return FMTX_HOOKED; }\n#ifdef FMTX_HOOKED\n#endif\n#endif\n"
    facts = file_facts(scan_directives(text, "core.h"), text)
    table = knob_table([facts], OptionFilter.from_args(["FMTX_[A-Z0-9_]+"]))
    assert set(table.knobs) == {"FMTX_LEGACY", "FMTX_LEVEL"}
    assert table.knobs["FMTX_LEVEL"] == MacroTests(values={2})
    assert table.targets("FMTX_LEVEL", None) == ["2"]
    assert table.targets("FMTX_LEVEL", "2") == []
    assert table.targets("FMTX_LEGACY", None) == ["y"]
    assert table.targets("FMTX_LEGACY", "1") == ["n"]


def _planning(root: Path, pattern: str | None) -> object:
    settings = Settings(root=root, cflags=("-std=c11",), jobs=1, no_cache=True, option_pattern=pattern)
    headers, _ = discover([root], settings)
    return plan_all_variants(settings, flag_source(settings), baseline_jobs(headers, settings, flag_source(settings)))


def test_no_tested_option_skips_the_symbol_index(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.h": "#ifdef HAVE_THING\nint thing;\n#endif\nint a;\n", "b.h": '#include "a.h"\n'})
    quiet = _planning(tmp_path, None)  # the default pattern (CONFIG_*) matches nothing here
    assert quiet.jobs == [] and not quiet.context.index_built  # type: ignore[attr-defined]
    loud = _planning(tmp_path, "HAVE_[A-Z]+")
    assert loud.jobs and loud.context.index_built  # type: ignore[attr-defined]
