"""Triage: does a failing configuration break a real build, or only the header test?"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import write_tree

from hdrtest import compdb
from hdrtest.check import check
from hdrtest.graph.reads import kbuild_cmd_deps
from hdrtest.models import OptionSetting, Variant
from hdrtest.scan.formula import evaluate, to_c
from hdrtest.settings import Settings
from hdrtest.triage import (
    HEADER_TEST_ONLY,
    REAL_BUILD,
    Kbuild,
    UnitGraphs,
    parse_rules,
    triage,
    unit_condition,
)

KBUILD = {
    "drivers/Makefile": "obj-$(CONFIG_DRM)\t+= drm/\nobj-y += misc/\n",
    "drivers/drm/Makefile": (
        "# a comment: obj-$(CONFIG_NOPE) += core.o\n"
        "i915-y := core.o\n"
        "i915-$(CONFIG_GVT) += intel_gvt.o\n"
        "include $(src)/gvt/Makefile\n"
        "obj-$(CONFIG_I915) += i915.o\n"
        "obj-$(CONFIG_KVMGT) += kvmgt.o\n"
        "ccflags-y += -Iinclude\n"
    ),
    "drivers/drm/gvt/Makefile": "kvmgt-$(CONFIG_GVT) += \\\n\tgvt/a.o \\\n\tgvt/b.o\n",
    "drivers/drm/gvt/gvt.h": "struct gvt { int n; };\n",
    "drivers/drm/gvt/a.c": '#include "gvt.h"\n',
    "drivers/drm/gvt/b.c": '#include "local.h"\n',
    "drivers/drm/gvt/local.h": '#include "gvt.h"\n',
    "drivers/drm/core.c": "#include <linux/types.h>\n",
    "drivers/drm/intel_gvt.c": "int x;\n",
    "drivers/drm/tools/helper.c": "int y;\n",
    "drivers/misc/m.c": '#include "../drm/gvt/gvt.h"\n',
}

ON: dict[str, str | None] = {"CONFIG_DRM": "1", "CONFIG_I915": "1", "CONFIG_GVT": "1", "CONFIG_KVMGT": "1"}


def _without(*names: str) -> dict[str, str | None]:
    return {k: v for k, v in ON.items() if k not in names}


def test_parse_rules_joins_continuations_and_skips_comments(tmp_path: Path) -> None:
    write_tree(tmp_path, KBUILD)
    rules = parse_rules(tmp_path / "drivers/drm/gvt/Makefile")
    assert [(r.target, r.tokens, r.line) for r in rules] == [("kvmgt", ("gvt/a.o", "gvt/b.o"), 1)]
    drm = parse_rules(tmp_path / "drivers/drm/Makefile")
    assert [r.target for r in drm] == ["i915", "i915", "obj", "obj"]  # no comment, no ccflags


def test_unit_conditions_follow_composites_and_directories(tmp_path: Path) -> None:
    write_tree(tmp_path, KBUILD)
    kb = Kbuild(tmp_path)
    gvt_a = unit_condition(tmp_path / "drivers/drm/gvt/a.c", kb)
    assert gvt_a is not None
    assert evaluate(gvt_a, ON) is True
    assert evaluate(gvt_a, _without("CONFIG_KVMGT")) is False
    assert evaluate(gvt_a, _without("CONFIG_GVT")) is False
    assert evaluate(gvt_a, _without("CONFIG_DRM")) is False
    assert evaluate(gvt_a, {**_without("CONFIG_KVMGT"), "CONFIG_KVMGT_MODULE": "1"}) is True
    core = unit_condition(tmp_path / "drivers/drm/core.c", kb)
    assert core is not None and evaluate(core, _without("CONFIG_GVT", "CONFIG_KVMGT")) is True
    assert evaluate(core, _without("CONFIG_I915")) is False
    helper = unit_condition(tmp_path / "drivers/drm/tools/helper.c", kb)  # no rule: built with its directory
    assert helper is not None and to_c(helper) == "defined(CONFIG_DRM) || defined(CONFIG_DRM_MODULE)"
    misc = unit_condition(tmp_path / "drivers/misc/m.c", kb)
    assert misc is not None and evaluate(misc, {}) is True


def test_outside_kbuild_units_are_always_built(tmp_path: Path) -> None:
    write_tree(tmp_path, {"src/main.c": "int main(void) { return 0; }\n"})
    assert unit_condition(tmp_path / "src/main.c", Kbuild(tmp_path)) is None


def _database(root: Path, units: list[str]) -> list[compdb.Entry]:
    entries = [{"directory": str(root), "file": unit, "arguments": ["cc", "-Iinclude", "-c", unit]} for unit in units]
    (root / "compile_commands.json").write_text(json.dumps(entries))
    return compdb.load(root / "compile_commands.json")


def test_including_units_follow_headers(tmp_path: Path) -> None:
    write_tree(tmp_path, KBUILD)
    entries = _database(tmp_path, ["drivers/drm/gvt/a.c", "drivers/drm/gvt/b.c", "drivers/drm/core.c",
                                   "drivers/misc/m.c"])
    found = sorted(e.file.relative_to(tmp_path).as_posix()
                   for e in UnitGraphs(entries).including(tmp_path / "drivers/drm/gvt/gvt.h"))
    assert found == ["drivers/drm/gvt/a.c", "drivers/drm/gvt/b.c", "drivers/misc/m.c"]


def test_header_test_only_names_the_options(tmp_path: Path) -> None:
    write_tree(tmp_path, KBUILD)
    entries = _database(tmp_path, ["drivers/drm/gvt/a.c", "drivers/drm/gvt/b.c", "drivers/drm/core.c"])
    header = tmp_path / "drivers/drm/gvt/gvt.h"
    verdict = triage(header, entries, _without("CONFIG_KVMGT"), tmp_path)
    assert verdict.label == HEADER_TEST_ONLY
    assert verdict.message.startswith("header-test-only (no translation unit that includes it is built when "
                                      "CONFIG_KVMGT is off; 2 including unit(s)")
    both = triage(header, entries, _without("CONFIG_KVMGT", "CONFIG_GVT"), tmp_path, preferred=["CONFIG_KVMGT"])
    assert "when CONFIG_KVMGT and CONFIG_GVT are off" in both.message
    real = triage(header, entries, ON, tmp_path)
    # A unit counts once its compile is known to read the header: a.c's -M run settles the verdict, and no
    # further -M run is spent on b.c ...
    assert real.label == REAL_BUILD and real.built == ("drivers/drm/gvt/a.c",)
    # ... but a dependency file beside b.c (what the build read) is cheap to consult.
    (tmp_path / "drivers/drm/gvt/b.d").write_text(f"b.o: {tmp_path}/drivers/drm/gvt/b.c "
                                                   f"{tmp_path}/drivers/drm/gvt/local.h {header}\n")
    real = triage(header, entries, ON, tmp_path)
    assert real.label == REAL_BUILD and real.built == ("drivers/drm/gvt/a.c", "drivers/drm/gvt/b.c")


def test_a_unit_built_in_every_configuration_makes_it_real(tmp_path: Path) -> None:
    write_tree(tmp_path, KBUILD)
    entries = _database(tmp_path, ["drivers/drm/gvt/a.c", "drivers/misc/m.c"])
    verdict = triage(tmp_path / "drivers/drm/gvt/gvt.h", entries, {}, tmp_path)
    assert verdict.label == REAL_BUILD and verdict.built == ("drivers/misc/m.c",)


def test_no_including_unit_is_unknown(tmp_path: Path) -> None:
    write_tree(tmp_path, KBUILD)
    entries = _database(tmp_path, ["drivers/drm/core.c"])
    verdict = triage(tmp_path / "drivers/drm/gvt/gvt.h", entries, ON, tmp_path)
    assert verdict.label is None and "no translation unit in the compile database includes it" in verdict.message


def api_tree(tmp_path: Path, compiler: str) -> None:
    """A header missing an include, and a unit in the compile database that includes it."""
    write_tree(tmp_path, {
        "include/api.h": "#ifndef API_H\n#define API_H\nstruct api { size_t n; };\n#endif\n",
        "src/main.c": '#include <stddef.h>\n#include "api.h"\nint main(void) { return 0; }\n',
    })
    entries = [{"directory": str(tmp_path), "file": "src/main.c",
                "arguments": [compiler, "-Iinclude", "-c", "src/main.c"]}]
    (tmp_path / "compile_commands.json").write_text(json.dumps(entries))


def test_check_triages_a_real_build_failure(tmp_path: Path, compiler: str) -> None:
    api_tree(tmp_path, compiler)
    settings = Settings(root=tmp_path, compile_commands=str(tmp_path / "compile_commands.json"), jobs=1,
                        variants="none", no_cache=True)
    report = check(settings, [str(tmp_path / "include/api.h")])
    [result] = report.failures
    assert result.triage == REAL_BUILD
    notes = [n for d in result.diagnostics for n in d.notes if n.kind == "triage"]
    assert len(notes) == 1 and "src/main.c" in notes[0].message


def test_a_cached_failure_comes_back_explained_and_triaged(tmp_path: Path, compiler: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from hdrtest.explain import report as explain
    from hdrtest.store.commands import open_cache

    api_tree(tmp_path, compiler)
    settings = Settings(root=tmp_path, compile_commands=str(tmp_path / "compile_commands.json"), jobs=1,
                        variants="none", cache_dir=str(tmp_path / "cache"))
    time.sleep(0.12)  # past the racy window: results reading fresh files are not stored (changes.RACY_NS)
    cache = open_cache(settings)
    assert cache is not None
    with cache:
        [first] = check(settings, [str(tmp_path / "include/api.h")], cache=cache).failures
    assert not first.cached and first.triage == REAL_BUILD

    def not_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached, explained result was explained again")

    monkeypatch.setattr(explain, "explain_diagnostic", not_again)
    monkeypatch.setattr(explain, "_triage", not_again)
    cache = open_cache(settings)
    assert cache is not None
    with cache:
        [again] = check(settings, [str(tmp_path / "include/api.h")], cache=cache).failures
    assert again.cached
    assert again.triage == REAL_BUILD
    assert [n for d in again.diagnostics for n in d.notes] == [n for d in first.diagnostics for n in d.notes]
    assert any(n.kind == "triage" for d in again.diagnostics for n in d.notes)
    cache = open_cache(settings)
    assert cache is not None
    with cache:  # no explanation asked for (hdrtest fix explains on its own): none shown
        [plain] = check(settings, [str(tmp_path / "include/api.h")], cache=cache, explain=False).failures
    assert plain.cached and plain.triage is None and not [n for d in plain.diagnostics for n in d.notes]


def test_unit_graphs_are_built_once_for_many_headers(tmp_path: Path) -> None:
    from hdrtest.triage import UnitGraphs

    write_tree(tmp_path, KBUILD)
    entries = [compdb.Entry(file=tmp_path / f, directory=tmp_path, compiler="cc", flags=("-c",))
               for f in ("drivers/drm/gvt/a.c", "drivers/drm/gvt/b.c", "drivers/misc/m.c")]
    graphs = UnitGraphs(entries)
    gvt = {e.file.name for e in graphs.including(tmp_path / "drivers/drm/gvt/gvt.h")}
    scanned = graphs.scanned
    local = {e.file.name for e in graphs.including(tmp_path / "drivers/drm/gvt/local.h")}
    assert gvt == {"a.c", "b.c", "m.c"} and local == {"b.c"}
    assert scanned > 0 and graphs.scanned == scanned  # the second question scanned nothing


# ---------------------------------------------------------------------------
# Item 11: "real build" only when a built unit's compile reads the header


CURL = {
    "lib/config-win32.h": "#ifndef CONFIG_WIN32_H\n#define CONFIG_WIN32_H\nstruct w { HANDLE h; };\n#endif\n",
    "lib/setup.h": "#ifndef SETUP_H\n#define SETUP_H\n#ifdef _WIN32\n#include \"config-win32.h\"\n#endif\n"
                   "#include \"broken.h\"\n#endif\n",
    "lib/broken.h": "#ifndef BROKEN_H\n#define BROKEN_H\nstruct b { size_t n; };\n#endif\n",
    "lib/easy.c": "#include <stddef.h>\n#include \"setup.h\"\nint easy;\n",
}


def test_a_header_included_only_under_a_false_condition_is_not_a_real_build_break(tmp_path: Path) -> None:
    """curl's lib/config-win32.h: included only under #ifdef _WIN32, so no Linux compile reads it."""
    write_tree(tmp_path, CURL)
    entries = _database(tmp_path, ["lib/easy.c"])
    graphs = UnitGraphs(entries)
    win32 = triage(tmp_path / "lib/config-win32.h", entries, {}, tmp_path, graphs=graphs)
    assert win32.label == HEADER_TEST_ONLY and win32.built == ()
    assert "1 built unit(s) do not read it in this configuration, e.g. lib/easy.c" in win32.message
    broken = triage(tmp_path / "lib/broken.h", entries, {}, tmp_path, graphs=graphs)
    assert broken.label == REAL_BUILD and broken.built == ("lib/easy.c",)
    assert graphs.reads.runs == 1  # one -M run of easy.c answers for both headers


def test_check_labels_curl_like_failures_by_what_the_build_reads(tmp_path: Path) -> None:
    write_tree(tmp_path, CURL)
    _database(tmp_path, ["lib/easy.c"])
    report = check(Settings(root=tmp_path, variants="none", no_cache=True, jobs=2), [str(tmp_path / "lib")])
    labels = {r.job.display: r.triage for r in report.failures}
    assert labels == {"lib/config-win32.h": HEADER_TEST_ONLY, "lib/broken.h": REAL_BUILD, "lib/setup.h": REAL_BUILD}


def test_the_variant_decides_what_the_unit_reads(tmp_path: Path) -> None:
    """The unit includes the header under CONFIG_FOO: read in the baseline (-DCONFIG_FOO), not with FOO off."""
    write_tree(tmp_path, {"inc/foo.h": "struct foo { size_t n; };\n",
                          "src/u.c": "#ifdef CONFIG_FOO\n#include \"../inc/foo.h\"\n#endif\nint u;\n"})
    entries = [{"directory": str(tmp_path), "file": "src/u.c", "arguments": ["cc", "-DCONFIG_FOO", "-c", "src/u.c"]}]
    (tmp_path / "compile_commands.json").write_text(json.dumps(entries))
    units = compdb.load(tmp_path / "compile_commands.json")
    header = tmp_path / "inc/foo.h"
    assert triage(header, units, {"CONFIG_FOO": "1"}, tmp_path).label == REAL_BUILD
    off = Variant(name="foo-off", changes=(OptionSetting("CONFIG_FOO", "n"),), defines=(("CONFIG_FOO", None),))
    verdict = triage(header, units, {}, tmp_path, variant=off)
    assert verdict.label == HEADER_TEST_ONLY and "do not read it" in verdict.message


def test_a_unit_that_does_not_preprocess_leaves_the_verdict_unknown(tmp_path: Path) -> None:
    write_tree(tmp_path, {"inc/h.h": "struct h { size_t n; };\n",
                          "src/u.c": "#include <no-such-generated-header.h>\n#include \"../inc/h.h\"\n"})
    units = _database(tmp_path, ["src/u.c"])
    verdict = triage(tmp_path / "inc/h.h", units, {}, tmp_path)
    assert verdict.label is None
    assert verdict.message.startswith("whether a real build breaks is unknown: src/u.c may include it, and a -M run")


def test_dependency_files_answer_without_a_preprocessor_run_unless_stale(tmp_path: Path) -> None:
    write_tree(tmp_path, {"inc/h.h": "struct h { size_t n; };\n", "inc/other.h": "int other;\n",
                          "src/u.c": '#include "../inc/h.h"\n#ifdef NEVER\n#include "../inc/other.h"\n#endif\n'})
    units = _database(tmp_path, ["src/u.c"])
    deps = tmp_path / "src/u.d"
    # What the build read (made by hand: other.h, which a -M run with these flags would not list).
    deps.write_text("src/u.o: src/u.c inc/other.h\n")
    fresh = UnitGraphs(units)
    assert triage(tmp_path / "inc/other.h", units, {}, tmp_path, graphs=fresh).label == REAL_BUILD
    assert fresh.reads.runs == 0
    # Absence from a -MMD list is not proof (system headers are left out): a -M run decides.
    assert triage(tmp_path / "inc/h.h", units, {}, tmp_path, graphs=fresh).label == REAL_BUILD
    assert fresh.reads.runs == 1
    old = time.time() - 3600
    os.utime(deps, (old, old))  # older than the source: it describes another text
    stale = UnitGraphs(units)
    assert triage(tmp_path / "inc/other.h", units, {}, tmp_path, graphs=stale).label == HEADER_TEST_ONLY
    assert stale.reads.runs == 1


def test_kbuild_cmd_files_list_what_the_object_read(tmp_path: Path) -> None:
    text = ("savedcmd_drivers/x/a.o := gcc -c a.c\nsource_drivers/x/a.o := drivers/x/a.c\n"
            "deps_drivers/x/a.o := \\\n  include/linux/kconfig.h \\\n    $(wildcard include/config/FOO) \\\n"
            "  drivers/x/a.h \\\n\ndrivers/x/a.o: $(deps_drivers/x/a.o)\n")
    assert kbuild_cmd_deps(text, tmp_path) == {str(tmp_path / "include/linux/kconfig.h"),
                                               str(tmp_path / "drivers/x/a.h")}


@pytest.mark.linux
def test_gvt_in_a_linux_tree_is_judged_by_what_its_objects_read() -> None:
    """gvt.h: the built gvt objects' .o.cmd files say they read it (no -M run); with GVT off none is built."""
    value = os.environ.get("HDRTEST_LINUX_TREE")
    if not value or not (Path(value) / "compile_commands.json").is_file():
        pytest.skip("HDRTEST_LINUX_TREE does not point at a Linux tree with compile_commands.json")
    root = Path(value)
    header = root / "drivers/gpu/drm/i915/gvt/gvt.h"
    entries = [e for e in compdb.load(root / "compile_commands.json")
               if e.file.parent == header.parent and (e.file.parent / f".{e.file.stem}.o.cmd").is_file()]
    if not entries:
        pytest.skip("no gvt object is built in this tree")
    graphs = UnitGraphs(entries)
    on = {"CONFIG_DRM": "1", "CONFIG_PCI": "1", "CONFIG_DRM_I915": "1", "CONFIG_DRM_I915_GVT": "1",
          "CONFIG_DRM_I915_GVT_KVMGT_MODULE": "1"}
    real = triage(header, entries, on, root, graphs=graphs)
    assert real.label == REAL_BUILD and "its dependency file ." in real.message
    assert graphs.reads.runs == 0
    off = triage(header, entries, {"CONFIG_DRM": "1", "CONFIG_PCI": "1", "CONFIG_DRM_I915": "1"}, root,
                 graphs=graphs, variant=Variant(name="gvt-off", changes=(OptionSetting("CONFIG_DRM_I915_GVT", "n"),),
                                                defines=(("CONFIG_DRM_I915_GVT", None),)))
    assert off.label == HEADER_TEST_ONLY
