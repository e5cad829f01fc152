"""Variants that flip an option Kbuild's Makefiles turn into compile flags: a failure there is not established."""

from __future__ import annotations

from pathlib import Path

from conftest import hdrtest, write_tree

from hdrtest.kbuild_flags import flag_lines, flag_options

MAKEFILE = """\
ifdef CONFIG_TRACER
  ifdef CONFIG_HAVE_FENTRY
    CC_FLAGS_USING += -DUSING_FENTRY
  endif
KBUILD_CFLAGS += $(CC_FLAGS_USING)
endif
drivers-$(CONFIG_PM) += arch/x86/power/
stackp-flags-$(CONFIG_STACKPROTECTOR) := -fstack-protector
ifeq ($(CONFIG_SMP),y)
obj-y += smp.o
else ifdef CONFIG_UP_ONLY
KBUILD_CPPFLAGS += -DUP
endif
"""


def test_flag_lines_are_the_options_that_govern_flag_assignments() -> None:
    lines = {line.where: line for line in flag_lines(MAKEFILE, "Makefile")}
    assert lines["Makefile:3"].options == {"CONFIG_TRACER", "CONFIG_HAVE_FENTRY"}
    assert lines["Makefile:8"].options == {"CONFIG_STACKPROTECTOR"}
    # The else-chain of an ifeq on SMP sets flags: both conditions govern it.
    assert lines["Makefile:12"].options == {"CONFIG_UP_ONLY", "CONFIG_SMP"}
    # A directory list is not a flag.
    assert not any("CONFIG_PM" in line.options for line in lines.values())
    # Conditionals are evaluated where they are simple: the fentry flag needs both options set.
    assert lines["Makefile:3"].applies({"CONFIG_TRACER": "y", "CONFIG_HAVE_FENTRY": "y"})
    assert not lines["Makefile:3"].applies({"CONFIG_TRACER": "n", "CONFIG_HAVE_FENTRY": "y"})


def test_an_option_in_a_branch_that_never_applies_changes_no_flag() -> None:
    text = "ifeq ($(CONFIG_X86_32),y)\n  ifeq ($(CONFIG_SMP),y)\n    KBUILD_CFLAGS += -mguard=fs\n  else\n" \
           "    KBUILD_CFLAGS += -mguard=global\n  endif\nendif\n"
    lines = flag_lines(text, "arch/x86/Makefile")
    on_64 = {"CONFIG_SMP": "y"}
    assert [line.applies(on_64) or line.applies({"CONFIG_SMP": "n"}) for line in lines] == [False, False]
    assert [line.applies({"CONFIG_X86_32": "y", "CONFIG_SMP": "n"}) for line in lines] == [False, True]


def test_flag_options_are_those_a_flip_changes_flags_for_in_this_configuration() -> None:
    # The closure analysis plans no flip of these (arch/x86/Makefile: ifdef CONFIG_MITIGATION_RETPOLINE).
    text = ("ifdef CONFIG_RETPOLINE\n  KBUILD_CFLAGS += -mindirect-branch=thunk-extern\nendif\n"
            "ifeq ($(CONFIG_X86_32),y)\n  ifeq ($(CONFIG_SMP),y)\n    KBUILD_CFLAGS += -mguard=fs\n  endif\nendif\n")
    lines = flag_lines(text, "arch/x86/Makefile")
    # Retpoline on or off: its flip adds or drops the flag.  SMP on 64-bit: no flip of SMP alone changes one
    # (flipping X86_32 does, with SMP on).
    assert flag_options(lines, {"CONFIG_RETPOLINE": "y", "CONFIG_SMP": "y"}) == {"CONFIG_RETPOLINE", "CONFIG_X86_32"}
    assert flag_options(lines, {"CONFIG_SMP": "n"}) == {"CONFIG_RETPOLINE"}
    assert flag_options(lines, {"CONFIG_X86_32": "y", "CONFIG_SMP": "y"}) == {"CONFIG_RETPOLINE", "CONFIG_SMP",
                                                                              "CONFIG_X86_32"}


def test_a_variant_failing_for_a_flag_the_makefile_adds_is_not_verified(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "Makefile": "ifdef CONFIG_TRACER\nKBUILD_CFLAGS += -DUSING_FENTRY\nendif\n",
        "kernel/bounds.c": "int bounds;\n",
        "include/generated/bounds.h": "#define NR_PAGEFLAGS 1\n",
        "include/trace.h": "#ifdef CONFIG_TRACER\n#ifndef USING_FENTRY\n#error needs -DUSING_FENTRY\n#endif\n#endif\n"
                           "int traced;\n",
        "include/plain.h": "#ifdef CONFIG_OTHER\n#error really broken\n#endif\nint plain;\n",
        "include/main.c": '#include "trace.h"\n#include "plain.h"\n',
    })
    (tmp_path / "compile_commands.json").write_text(
        '[{"directory": ".", "file": "include/main.c", "arguments": ["cc", "-c", "include/main.c"]}]')
    run = hdrtest("check", "--format", "json", "include", cwd=tmp_path)
    data = run.json()
    by = {(r["header"], r["variant"]["name"]): r for r in data["results"]}
    traced = by[("include/trace.h", "CONFIG_TRACER=y")]
    assert traced["status"] == "unverified", traced
    assert "CONFIG_TRACER changes the flags Kbuild compiles with (Makefile:2)" in traced["diagnostics"][0]["message"]
    # An option no Makefile line makes flags of keeps its failure.
    assert by[("include/plain.h", "CONFIG_OTHER=y")]["status"] == "fail"
    assert run.returncode == 1
