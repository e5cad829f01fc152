"""Variants that flip an option Kbuild's Makefiles turn into compile flags: a failure there is not established."""

from __future__ import annotations

from pathlib import Path

from conftest import hdrtest, write_tree

from hdrtest.kbuild_flags import FlagRule, Unestablished, flag_lines
from hdrtest.models import OptionSetting, Variant

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


def _flip(option: str, value: str, *implied: tuple[str, str]) -> Variant:
    return Variant(name=f"{option}={value}", changes=(OptionSetting(option, value),),
                   implied=tuple(OptionSetting(n, v) for n, v in implied))


def test_the_rule_reads_a_flags_assignment_that_applies_in_the_baseline_or_in_the_variant() -> None:
    # arch/x86/Makefile's shape: ifdef CONFIG_MITIGATION_RETPOLINE, and a flag only 32-bit SMP builds get.
    text = ("ifdef CONFIG_RETPOLINE\n  KBUILD_CFLAGS += -mindirect-branch=thunk-extern\nendif\n"
            "ifeq ($(CONFIG_X86_32),y)\n  ifeq ($(CONFIG_SMP),y)\n    KBUILD_CFLAGS += -mguard=fs\n  endif\nendif\n")
    lines = flag_lines(text, "arch/x86/Makefile")

    def hit(baseline: dict[str, str]) -> set[str]:
        rule = FlagRule(lines, baseline)
        return {o for o in ("CONFIG_RETPOLINE", "CONFIG_X86_32", "CONFIG_SMP", "CONFIG_OTHER")
                if rule.check(_flip(o, "n" if baseline.get(o, "n") != "n" else "y")) is not None}

    # Retpoline on or off: its flip adds or drops the flag.  SMP on 64-bit: no flip of SMP alone changes one
    # (flipping X86_32 does, with SMP on).
    assert hit({"CONFIG_RETPOLINE": "y", "CONFIG_SMP": "y"}) == {"CONFIG_RETPOLINE", "CONFIG_X86_32"}
    assert hit({"CONFIG_SMP": "n"}) == {"CONFIG_RETPOLINE"}
    assert hit({"CONFIG_X86_32": "y", "CONFIG_SMP": "y"}) == {"CONFIG_RETPOLINE", "CONFIG_SMP", "CONFIG_X86_32"}
    # What the flip resolves to counts, not its name: OTHER that Kconfig only has with retpoline on.
    reason = FlagRule(lines, {}).check(_flip("CONFIG_OTHER", "y", ("CONFIG_RETPOLINE", "y")))
    assert reason == Unestablished(("CONFIG_RETPOLINE",), "arch/x86/Makefile:2")
    # The word size comes first, with every word-size option the variant changes, in a Linux tree only.
    sized = _flip("CONFIG_X86_32", "y", ("CONFIG_64BIT", "n"))
    assert FlagRule(lines, {}, word_size=True).check(sized) == Unestablished(("CONFIG_X86_32", "CONFIG_64BIT"))
    assert FlagRule(lines, {"CONFIG_SMP": "y"}).check(sized) == Unestablished(("CONFIG_X86_32",),
                                                                             "arch/x86/Makefile:6")


def test_a_variant_failing_for_a_flag_the_makefile_adds_is_judged_under_the_flags_make_gives_it(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        # Kbuild's shape: options become flags, the object rule compiles with them (and KCFLAGS).
        "Makefile": "ifdef CONFIG_TRACER\nKBUILD_CFLAGS += -DUSING_FENTRY\nendif\n"
                    "ifdef CONFIG_ODD\nKBUILD_CFLAGS += -DODD_FLAG\n$(error no build has CONFIG_ODD)\nendif\n"
                    "%.o: %.c\n\tcc $(KBUILD_CFLAGS) $(KCFLAGS) -c -o $@ $<\n",
        "kernel/bounds.c": "int bounds;\n",
        "include/generated/bounds.h": "#define NR_PAGEFLAGS 1\n",
        "include/trace.h": "#ifdef CONFIG_TRACER\n#ifndef USING_FENTRY\n#error needs -DUSING_FENTRY\n#endif\n#endif\n"
                           "int traced;\n",
        "include/odd.h": "#ifdef CONFIG_ODD\n#ifndef ODD_FLAG\n#error needs -DODD_FLAG\n#endif\n#endif\nint odd;\n",
        "include/plain.h": "#ifdef CONFIG_OTHER\n#error really broken\n#endif\nint plain;\n",
        "include/main.c": '#include "trace.h"\n#include "odd.h"\n#include "plain.h"\n',
    })
    (tmp_path / "compile_commands.json").write_text(
        '[{"directory": ".", "file": "include/main.c", "arguments": ["cc", "-c", "include/main.c"]}]')
    before = sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    run = hdrtest("check", "--format", "json", "include", cwd=tmp_path)
    data = run.json()
    by = {(r["header"], r["variant"]["name"]): r for r in data["results"]}
    # Under the flags the Makefile gives the unit with CONFIG_TRACER on, the header passes.
    traced = by[("include/trace.h", "CONFIG_TRACER=y")]
    assert traced["status"] == "pass", traced
    assert traced["flags_origin"].endswith("flags re-derived by Kbuild's dry run for this variant")
    assert "-DUSING_FENTRY" in traced["command"]
    # No flags to be had for CONFIG_ODD: its failure is not established.
    odd = by[("include/odd.h", "CONFIG_ODD=y")]
    assert odd["status"] == "unverified", odd
    message = odd["diagnostics"][0]["message"]
    assert "CONFIG_ODD changes the flags Kbuild compiles with (Makefile:5), which Kbuild's dry run could not give" \
        in message and "no build has CONFIG_ODD" in message
    # An option no Makefile line makes flags of keeps its failure.
    assert by[("include/plain.h", "CONFIG_OTHER=y")]["status"] == "fail"
    assert run.returncode == 1
    assert sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*")) == before


def test_a_closure_option_whose_flip_resolves_through_a_flag_option_is_not_planned(tmp_path: Path) -> None:
    # DYN's name is on no Makefile line, but Kconfig only turns it on with TRACER, whose flags a variant lacks:
    # the shape of Linux's CONFIG_DYNAMIC_FTRACE, which resolves through CONFIG_FUNCTION_TRACER.  It comes first
    # in the closure, before as many other fragile options as the cap on closure-wide flips takes.
    others = [f"O{i}" for i in range(12)]  # variants.Strategy.max_closure_options
    stub = "#ifndef CONFIG_{0}\nstruct s_{0} {{ int v; }};\n#endif\n"
    write_tree(tmp_path, {
        "Kconfig": 'config TRACER\n\tbool "tracer"\n\nconfig DYN\n\tbool "dyn"\n\tdepends on TRACER\n\n'
                   + "".join(f'config {o}\n\tbool "{o}"\n\n' for o in others),
        ".config": "".join(f"# CONFIG_{o} is not set\n" for o in ["TRACER", "DYN", *others]),
        "hdrtest.toml": 'kconfig = "Kconfig"\n',
        "Makefile": "ifdef CONFIG_TRACER\nKBUILD_CFLAGS += -DUSING_FENTRY\nendif\n",
        "kernel/bounds.c": "int bounds;\n",
        "include/generated/bounds.h": "#define NR_PAGEFLAGS 1\n",
        "include/guards.h": "#ifndef GUARDS_H\n#define GUARDS_H\n" + "".join(stub.format(o) for o in ["DYN", *others])
                            + "#endif\n",
        "include/deep.h": '#ifndef DEEP_H\n#define DEEP_H\n#include "guards.h"\nstruct deep {\n'
                          + "".join(f"\tstruct s_{o} f_{o};\n" for o in ["DYN", *others]) + "};\n#endif\n",
        "include/top.h": '#include "deep.h"\nint top;\n',
    })
    run = hdrtest("check", "--format", "json", "include/top.h", cwd=tmp_path)
    data = run.json()
    # Every other option is planned (this toy tree cannot make its generated headers, so they end not verified):
    # DYN took no room under the cap, and is never planned.
    assert {r["variant"]["name"] for r in data["results"]} == {"baseline", *(f"CONFIG_{o}=y" for o in others)}
    assert set(data["relevant_options"]["include/top.h"]) == {f"CONFIG_{o}" for o in others}
    notes = "\n".join(data.get("notes", []))
    assert "more relevant option(s) not flipped" not in notes, notes
    assert "closure analysis: 1 fragile option(s) not flipped because" in notes, notes
    assert "CONFIG_DYN (via CONFIG_TRACER)" in notes, notes
