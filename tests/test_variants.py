"""Configuration variants: found unprompted, Kconfig-valid, change-driven."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import EXAMPLES, hdrtest, tree_hashes, write_tree

GVT = "drivers/gpu/drm/i915/gvt/gvt.h"


def by_variant(data: dict, header: str) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r["variant"]["name"]: r for r in data["results"] if r["header"] == header}


def test_kvm_gvt_failure_is_found_without_naming_the_option(compiler: str) -> None:
    run = hdrtest("check", "--cc", compiler, "-p", "examples/kvm-gvt/build-on", "--format", "json",
                  "examples/kvm-gvt", cwd=EXAMPLES.parent)
    assert run.returncode == 1, run.stderr
    data = run.json()
    results = by_variant(data, GVT)
    assert results["baseline"]["status"] == "pass"
    failing = [r for r in results.values() if r["status"] == "fail"]
    assert len(failing) == 1
    variant = failing[0]["variant"]
    # The hidden option cannot be turned off directly: Kconfig turns off the option that selects it.
    assert [c["option"] + "=" + c["value"] for c in variant["changes"]] == ["CONFIG_DRM_I915_GVT_KVMGT=n"]
    implied = {c["option"]: c["value"] for c in variant["implied"]}
    assert implied["CONFIG_KVM_EXTERNAL_WRITE_TRACKING"] == "n"
    assert implied["CONFIG_DRM_I915_GVT"] == "n"
    assert any("incomplete type" in d["message"] for d in failing[0]["diagnostics"])
    why = data["relevant_options"][GVT]["CONFIG_KVM_EXTERNAL_WRITE_TRACKING"]
    assert "kvm_page_track_notifier_node" in why and "kvm_page_track.h" in why
    assert "# CONFIG_DRM_I915_GVT_KVMGT is not set" in variant["config_lines"]
    # Other headers have nothing guarded to flip
    assert set(by_variant(data, "drivers/gpu/drm/i915/gvt/trace.h")) == {"baseline"}


def test_kvm_gvt_text_report_names_the_minimal_configuration() -> None:
    run = hdrtest("check", "-p", "examples/kvm-gvt/build-on", "examples/kvm-gvt", cwd=EXAMPLES.parent)
    assert run.returncode == 1
    assert (f"FAIL {GVT} [c] in CONFIG_DRM_I915_GVT_KVMGT=n (which also sets "
            in run.stdout)
    assert "CONFIG_KVM_EXTERNAL_WRITE_TRACKING=n" in run.stdout
    assert "the baseline configuration passes" in run.stdout
    assert "or set in .config: # CONFIG_DRM_I915_GVT_KVMGT is not set" in run.stdout


@pytest.mark.parametrize("config", ["build-on", "build-off"])
def test_fixed_tree_passes_every_variant(config: str) -> None:
    run = hdrtest("check", "-p", f"examples/kvm-gvt-fixed/{config}", "--format", "json", "examples/kvm-gvt-fixed",
                  cwd=EXAMPLES.parent)
    assert run.returncode == 0, run.stdout
    data = run.json()
    assert data["summary"]["variants_planned"] > data["summary"]["headers_checked"]


def test_baseline_failure_is_reported_as_such() -> None:
    run = hdrtest("check", "--format", "json", "examples/kvm-gvt", cwd=EXAMPLES.parent)
    assert run.returncode == 1
    results = by_variant(run.json(), GVT)
    assert results["baseline"]["status"] == "fail"


def test_plain_macros_without_kconfig(tmp_path: Path, compiler: str) -> None:
    write_tree(tmp_path, {
        "feature.h": "#ifndef FEATURE_H\n#define FEATURE_H\n#ifdef HAVE_ZLIB\ntypedef struct { int level; } zopts_t;\n"
                     "#endif\n#endif\n",
        "user.h": '#include "feature.h"\nstruct conf { zopts_t z; };\n',
        "other.h": "int other;\n",
    })
    run = hdrtest("check", "--cc", compiler, "--cflags=-DHAVE_ZLIB=1", "--option-pattern", "HAVE_[A-Z]+",
                  "--format", "json", ".", cwd=tmp_path)
    assert run.returncode == 1
    results = by_variant(run.json(), "user.h")
    assert results["baseline"]["status"] == "pass"
    assert results["HAVE_ZLIB=n"]["status"] == "fail"
    assert results["HAVE_ZLIB=n"]["relevance"]["HAVE_ZLIB"].startswith("it guards typedef 'zopts_t'")
    # Without the option pattern, HAVE_ZLIB is not a configuration option: nothing to flip.
    plain = hdrtest("check", "--cc", compiler, "--cflags=-DHAVE_ZLIB=1", "--format", "json", ".", cwd=tmp_path)
    assert plain.returncode == 0
    assert hdrtest("check", "--cc", compiler, "--cflags=-DHAVE_ZLIB=1", "--option", "HAVE_ZLIB",
                   ".", cwd=tmp_path).returncode == 1


def test_covered_names_are_not_flipped(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "lock.h": "#ifdef CONFIG_DEBUG_LOCK\nstruct lock { int owner; int count; };\n#else\nstruct lock { int count; };\n"
                  "#endif\n",
        "user.h": '#include "lock.h"\nstruct thing { struct lock l; };\n',
    })
    run = hdrtest("check", "--format", "json", "user.h", cwd=tmp_path)
    assert run.returncode == 0
    assert run.json()["relevant_options"] == {}
    assert run.json()["summary"]["variants_planned"] == 1


def test_pairwise_and_random_strategies(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "multi.h": "#ifdef CONFIG_A\nint a;\n#endif\n#ifdef CONFIG_B\nint b;\n#endif\n#ifdef CONFIG_C\nint c;\n#endif\n",
    })
    default = hdrtest("check", "--format", "json", "multi.h", cwd=tmp_path).json()
    assert set(by_variant(default, "multi.h")) == {"baseline", "CONFIG_A=y", "CONFIG_B=y", "CONFIG_C=y"}
    pairwise = hdrtest("check", "--variants", "pairwise", "--format", "json", "multi.h", cwd=tmp_path).json()
    assert "CONFIG_A=y,CONFIG_B=y" in by_variant(pairwise, "multi.h")
    assert len(by_variant(pairwise, "multi.h")) == 1 + 3 + 3
    first = hdrtest("check", "--variants", "random:3", "--seed", "7", "--format", "json", "multi.h", cwd=tmp_path)
    again = hdrtest("check", "--variants", "random:3", "--seed", "7", "--format", "json", "multi.h", cwd=tmp_path)
    assert set(by_variant(first.json(), "multi.h")) == set(by_variant(again.json(), "multi.h"))
    none = hdrtest("check", "--variants", "none", "--format", "json", "multi.h", cwd=tmp_path).json()
    assert set(by_variant(none, "multi.h")) == {"baseline"}


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)


def _commit_with_config_x(root: Path) -> None:
    """A compile database whose flags turn CONFIG_X on, and the tree committed as the base of a change."""
    (root / "compile_commands.json").write_text(
        '[{"directory": ".", "file": "main.c", "arguments": ["cc", "-Werror=implicit-function-declaration", '
        '"-DCONFIG_X=1", "-c", "main.c"]}]')
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "base")


def test_changed_since_flips_options_of_touched_blocks(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "deep.h": "#ifndef DEEP_H\n#define DEEP_H\n#ifdef CONFIG_X\nint x_get(void);\n#else\n"
                  "static inline int x_get(void) { return 0; }\n#endif\n#endif\n",
        "middle.h": '#ifndef MIDDLE_H\n#define MIDDLE_H\n#include "deep.h"\n'
                    "static inline int middle_value(void) { return x_get() + 1; }\n#endif\n",
        "top.h": '#ifndef TOP_H\n#define TOP_H\n#include "middle.h"\nstruct top { int v; };\n#endif\n',
        "unrelated.h": "#ifndef UNRELATED_H\n#define UNRELATED_H\nint unrelated;\n#endif\n",
    })
    _commit_with_config_x(tmp_path)
    clean = hdrtest("check", "--changed-since", "HEAD", "--format", "json", "top.h", cwd=tmp_path)
    assert clean.returncode == 0
    # Remove the #else stub: top.h never names x_get, yet it breaks when CONFIG_X is off.
    deep = tmp_path / "deep.h"
    deep.write_text(deep.read_text().replace("#else\nstatic inline int x_get(void) { return 0; }\n", ""))
    before = tree_hashes(tmp_path)
    run = hdrtest("check", "--changed-since", "HEAD", "--format", "json", "top.h", cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    results = by_variant(run.json(), "top.h")
    assert results["baseline"]["status"] == "pass"
    assert results["CONFIG_X=n"]["status"] == "fail"
    assert "the change touched a block on it at deep.h" in run.json()["relevant_options"]["top.h"]["CONFIG_X"]
    assert tree_hashes(tmp_path) == before


def test_variants_do_not_write_into_the_tree(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(EXAMPLES / "kvm-gvt", tree)
    before = tree_hashes(tree)
    hdrtest("check", "-p", "build-on", "--variants", "pairwise", ".", cwd=tree)
    assert tree_hashes(tree) == before


def test_variants_that_turn_off_the_headers_own_directory_are_not_tested(tmp_path: Path) -> None:
    """The kernel header-tests a directory only when Kbuild builds it: such variants are noise."""
    write_tree(tmp_path, {
        "Makefile": "obj-$(CONFIG_FOO) += foo/\nobj-y += bar/\n",
        "include/foo_api.h": "#ifndef FOO_API_H\n#define FOO_API_H\n#ifdef CONFIG_FOO\nstruct foo_ops { int (*run)(void); };\n"
                             "#endif\n#endif\n",
        "foo/Makefile": "obj-y += foo_core.o\n",
        "foo/foo.h": '#include <foo_api.h>\nstruct foo_dev { struct foo_ops ops; };\n',
        "bar/Makefile": "obj-y += bar_core.o\n",
        "bar/bar.h": '#include <foo_api.h>\nstruct bar_dev { struct foo_ops ops; };\n',
    })
    run = hdrtest("check", "--cflags=-Iinclude -DCONFIG_FOO=1", "--format", "json", "foo", "bar", cwd=tmp_path)
    data = run.json()
    assert set(by_variant(data, "foo/foo.h")) == {"baseline"}
    assert by_variant(data, "bar/bar.h")["CONFIG_FOO=n"]["status"] == "fail"
    assert run.returncode == 1
    text = hdrtest("check", "--cflags=-Iinclude -DCONFIG_FOO=1", "foo", cwd=tmp_path)
    assert text.returncode == 0
    assert "CONFIG_FOO=n: not tested, Kbuild does not build foo/ in it" in text.stdout


def test_a_failing_kconfig_evaluation_costs_the_variant_not_the_run() -> None:
    from hdrtest import kconfig
    from hdrtest.variants import Flipper

    class Broken:
        def baseline(self) -> dict[str, str]:
            return {"CONFIG_A": "y"}

        def flip(self, option: str, value: str) -> kconfig.Resolution | None:
            raise kconfig.KconfigError("scripts/kconfig/conf failed: timed out after 300 seconds")

        def symbol_type(self, option: str) -> str | None:
            return "bool"

        def known(self, option: str) -> bool:
            return True

    flipper = Flipper(Broken())
    assert flipper.resolve("CONFIG_A", "n") is None
    assert "timed out" in flipper.failures[("CONFIG_A", "n")]


def test_changed_since_flips_only_what_the_change_touched(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "deep.h": "#ifndef DEEP_H\n#define DEEP_H\n#ifdef CONFIG_X\nint x_get(void);\n#else\n"
                  "static inline int x_get(void) { return 0; }\n#endif\n#endif\n",
        "top.h": '#ifndef TOP_H\n#define TOP_H\n#include "deep.h"\n#ifdef CONFIG_OWN\nint own;\n#endif\n'
                 "static inline int top_value(void) { return x_get(); }\n#endif\n",
    })
    _commit_with_config_x(tmp_path)
    deep = tmp_path / "deep.h"
    deep.write_text(deep.read_text().replace("#ifdef CONFIG_X\nint x_get(void);", "#ifdef CONFIG_X\nint x_get(void); "))
    focused = hdrtest("check", "--changed-since", "HEAD", "--format", "json", "top.h", cwd=tmp_path)
    assert focused.returncode == 0, focused.stdout + focused.stderr
    # top.h's own CONFIG_OWN was what it is before the change: only the touched CONFIG_X is flipped.
    assert set(by_variant(focused.json(), "top.h")) == {"baseline", "CONFIG_X=n"}
    assert any("only the options the change touched" in n for n in focused.json().get("notes", []))
    every = hdrtest("check", "--changed-since", "HEAD", "--variants", "default", "--format", "json", "top.h",
                    cwd=tmp_path)
    assert {"CONFIG_X=n", "CONFIG_OWN=y"} <= set(by_variant(every.json(), "top.h"))
    plain = hdrtest("check", "--variants", "changed", "top.h", cwd=tmp_path)
    assert plain.returncode == 2 and "--changed-since" in plain.stderr


def test_no_variant_is_compiled_when_the_baseline_fails_with_borrowed_flags(tmp_path: Path) -> None:
    # A kernel-looking database whose only unit neither includes the header nor sits beside it: the flags
    # are borrowed, the baseline fails with them, so no variant could be verified and none is compiled.
    write_tree(tmp_path, {
        "drivers/a/a.c": "int a;\n",
        "drivers/b/needs.h": "#ifdef CONFIG_B\nint b;\n#endif\nstruct missing_in_borrowed_flags m;\n",
    })
    (tmp_path / "compile_commands.json").write_text(
        '[{"directory": ".", "file": "drivers/a/a.c", "arguments": ["cc", "-D__KERNEL__", "-nostdinc", '
        '"-c", "drivers/a/a.c"]}]')
    run = hdrtest("check", "--format", "json", "drivers/b/needs.h", cwd=tmp_path)
    data = run.json()
    results = by_variant(data, "drivers/b/needs.h")
    assert results["baseline"]["status"] == "unverified"
    assert results["CONFIG_B=y"]["status"] == "unverified"
    assert "not compiled" in results["CONFIG_B=y"]["diagnostics"][0]["message"]
    assert results["CONFIG_B=y"]["command"] == []
    assert data["summary"]["variants_compiled"] == 1
