"""Kbuild's own compile command for a variant configuration, from a dry run of make (``kbuild_command``)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from hdrtest.check import check
from hdrtest.compdb import origin_unit
from hdrtest.kbuild_command import Command, Deriver, Underived, compile_command, is_rederived, overrides
from hdrtest.models import Job, OptionSetting, Status, Variant
from hdrtest.settings import Settings

needs_make = pytest.mark.skipif(shutil.which("make") is None or shutil.which("gcc") is None,
                                reason="needs make and gcc")

# The shape of Kbuild 6.12's printed recipe for one object (if_changed_rule cc_o_c), shortened.
RECIPE = ("set -e;  echo '  CC      drivers/x/a.o';   trap 'rm -f drivers/x/a.o; trap - HUP; kill -s HUP $$' HUP;  "
          "gcc -Wp,-MMD,drivers/x/.a.o.d -nostdinc -I./include -D__KERNEL__ -pg -mfentry "
          "-DKBUILD_BASENAME='\"a\"' -DKBUILD_MODNAME='\"x\"' -c -o drivers/x/a.o drivers/x/a.c   ; "
          "./tools/objtool/objtool --hacks=jump_label drivers/x/a.o; "
          "scripts/basic/fixdep drivers/x/.a.o.d drivers/x/a.o 'gcc ...' > drivers/x/.a.o.tmp")


def test_the_compile_is_picked_out_of_a_recipe_with_its_quoting_undone() -> None:
    found = compile_command("make -f ./scripts/Makefile.build obj=drivers/x\n" + RECIPE, "drivers/x/a.o",
                            "drivers/x/a.c")
    assert found == Command("gcc", ("-nostdinc", "-I./include", "-D__KERNEL__", "-pg", "-mfentry",
                                    '-DKBUILD_BASENAME="a"', '-DKBUILD_MODNAME="x"'))
    assert compile_command(RECIPE, "drivers/x/b.o", "drivers/x/b.c") is None


def test_an_option_turned_off_is_an_empty_make_variable() -> None:
    assert overrides([OptionSetting("CONFIG_A", "n"), OptionSetting("CONFIG_B", "m"),
                      OptionSetting("CONFIG_HZ", "300")]) == ["CONFIG_A=", "CONFIG_B=m", "CONFIG_HZ=300"]


def test_the_unit_is_read_back_from_a_flags_origin() -> None:
    assert origin_unit("/t/compile_commands.json: drivers/x/a.c (includes it)") == "drivers/x/a.c"
    assert origin_unit("/t/compile_commands.json: lib/b.c (nearest kernel unit; none includes it)") == "lib/b.c"
    assert origin_unit("--cflags") is None
    assert origin_unit("/t/db.json: a.c (includes it); its flags re-derived by Kbuild for this variant") is None


MAKEFILE = """\
include include/config/auto.conf
CFLAGS := -O2 -Iinclude
ifdef CONFIG_TRACE
CFLAGS += -DTRACING -pg
endif
ccflags-$(CONFIG_EXTRA) += -DEXTRA
%.o: %.c FORCE
\tgcc $(CFLAGS) $(ccflags-y) $(KCFLAGS) -c -o $@ $<
FORCE:
.PHONY: FORCE
"""


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "include" / "config").mkdir(parents=True)
    (root / "drv").mkdir()
    (root / "Makefile").write_text(MAKEFILE)
    (root / "include" / "config" / "auto.conf").write_text("CONFIG_TRACE=y\n")
    (root / "drv" / "a.c").write_text("int a;\n")
    return root


def _job(root: Path, flags: tuple[str, ...], *settings: OptionSetting) -> Job:
    return Job(header=root / "drv" / "a.h", display="drv/a.h", language="c", compiler="gcc", flags=flags,
               directory=root, variant=Variant(name="v", changes=settings[:1], implied=settings[1:]),
               flags_origin=f"{root}/compile_commands.json: drv/a.c (includes it)")


def _listing(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))} | {str(root): root.stat().st_mtime_ns}


@needs_make
def test_a_dry_run_gives_the_variants_flags_and_writes_nothing(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    built = ("-O2", "-Iinclude", "-DTRACING", "-pg")
    before = _listing(root)
    deriver = Deriver(root)
    off = deriver.command(_job(root, built, OptionSetting("CONFIG_TRACE", "n"), OptionSetting("CONFIG_EXTRA", "y")))
    assert off == Command("gcc", ("-O2", "-Iinclude", "-DEXTRA"))
    assert _listing(root) == before


@needs_make
def test_flags_the_dry_run_does_not_reproduce_are_not_re_derived(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    # The database holds -Werror from the user's KCFLAGS at build time; this environment has none.
    found = Deriver(root).command(_job(root, ("-O2", "-Iinclude", "-DTRACING", "-pg", "-Werror"),
                                       OptionSetting("CONFIG_TRACE", "n")))
    assert isinstance(found, Underived)
    assert "does not give the compile database's flags (they differ in -Werror)" in found.reason


@needs_make
def test_a_derivation_is_kept_until_a_makefile_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tree(tmp_path)
    cache = tmp_path / "cache"
    job = _job(root, ("-O2", "-Iinclude", "-DTRACING", "-pg"), OptionSetting("CONFIG_TRACE", "n"))
    made = Deriver(root, cache).command(job)
    assert made == Command("gcc", ("-O2", "-Iinclude"))
    # No make on PATH: a second run can only answer from the cache.
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert Deriver(root, cache).command(job) == made
    time.sleep(0.01)
    (root / "Makefile").write_text(MAKEFILE.replace("-O2", "-O1"))
    os.utime(root / "Makefile", ns=(time.time_ns(), time.time_ns()))
    again = Deriver(root, cache).command(job)
    assert isinstance(again, Underived) and "make could not be run" in again.reason


@pytest.mark.linux
@pytest.mark.slow
def test_linux_a_flag_changing_variant_is_judged_under_the_flags_kbuild_gives_it(tmp_path: Path) -> None:
    """include/linux/ftrace.h with CONFIG_FUNCTION_TRACER=y fails at asm/ftrace.h's ``#error`` under the baseline's
    flags (no -mfentry); under Kbuild's own command for that configuration it passes, and nothing is written."""
    tree = os.environ.get("HDRTEST_LINUX_TREE")
    if not tree or not (Path(tree) / "compile_commands.json").is_file() or not (
            Path(tree) / "include" / "generated" / "autoconf.h").is_file():
        pytest.skip("HDRTEST_LINUX_TREE does not point at a prepared Linux tree with compile_commands.json")
    root = Path(tree)
    marker = tmp_path / "marker"
    marker.write_text("")
    report = check(Settings(root=root, cache_dir=str(tmp_path / "cache"), closure_analysis=False),
                   [str(root / "include" / "linux" / "ftrace.h")])
    traced = [r for r in report.results if any(str(c) == "CONFIG_FUNCTION_TRACER=y" for c in r.job.variant.changes)]
    if not traced:
        pytest.skip("the tree's configuration plans no CONFIG_FUNCTION_TRACER=y variant for ftrace.h")
    for result in traced:
        assert result.status is Status.PASS, result.raw_output
        assert is_rederived(result.job) and "-mfentry" in result.job.flags
    newer = [p for p in (root / "include", root / "drivers" / "gpu" / "drm" / "i915", root)
             if p.stat().st_mtime_ns > marker.stat().st_mtime_ns]
    assert newer == []
