"""Regenerating Kbuild's configuration-derived headers (bounds.h, asm-offsets.h, timeconst.h) per variant."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import hdrtest, tree_hashes, write_tree

from hdrtest import kbuild
from hdrtest.compile import CompileOptions, compile_job
from hdrtest.kconfig.values import combine
from hdrtest.models import Job, OptionSetting, Status, Variant
from hdrtest.store.namespaces import GENERATED

# The marker idea Linux's include/linux/kbuild.h uses: the compiler prints the constant
# into the assembly, where a text filter picks it up.
KBUILD_H = r"""
#ifndef TOY_KBUILD_H
#define TOY_KBUILD_H
#define DEFINE(sym, val) asm volatile("\n.ascii \"->" #sym " %0 " #val "\"" : : "i" (val))
#define BLANK() asm volatile("\n.ascii \"->\"" : : )
#define OFFSET(sym, str, mem) DEFINE(sym, __builtin_offsetof(struct str, mem))
#define COMMENT(x) asm volatile("\n.ascii \"->#" x "\"")
#endif
"""


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # compile_job keeps variant headers under XDG_CACHE_HOME; keep them out of the user's cache.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


# --------------------------------------------------------------------------- sed-offsets


def test_sed_offsets_on_real_assembly(tmp_path: Path, compiler: str) -> None:
    source = tmp_path / "offsets.c"
    source.write_text(KBUILD_H + r"""
struct pair { char tag; long value; int tail[3]; };
int main(void)
{
    COMMENT("layout of struct pair");
    OFFSET(PAIR_value, pair, value);
    BLANK();
    DEFINE(PAIR_SIZE, sizeof(struct pair));
    DEFINE(MINUS_THREE, -3);
    return 0;
}
""")
    asm = subprocess.run([compiler, "-O2", "-S", "-o", "-", str(source)], capture_output=True, text=True,
                         check=True).stdout
    header = kbuild.offsets_header(asm, "__PAIR_OFFSETS_H__")
    lines = header.splitlines()
    assert lines[:2] == ["#ifndef __PAIR_OFFSETS_H__", "#define __PAIR_OFFSETS_H__"]
    assert lines[-1] == "#endif"
    body = kbuild.sed_offsets(asm)
    assert body[0] == "/* layout of struct pair */"
    assert body[1].startswith("#define PAIR_value ") and body[1].endswith(
        " /* __builtin_offsetof(struct pair, value) */")
    assert body[2] == ""
    assert body[3].startswith("#define PAIR_SIZE ") and body[3].endswith(" /* sizeof(struct pair) */")
    assert body[4] == "#define MINUS_THREE -3 /* -3 */"
    assert len(body) == 5
    # The values are the compiler's: a program built against the header agrees.
    (tmp_path / "pair_offsets.h").write_text(header)
    check = tmp_path / "check.c"
    check.write_text('#include "pair_offsets.h"\n#include "pair_offsets.h"\n'
                     "struct pair { char tag; long value; int tail[3]; };\n"
                     "_Static_assert(PAIR_value == __builtin_offsetof(struct pair, value), \"offset\");\n"
                     "_Static_assert(PAIR_SIZE == sizeof(struct pair), \"size\");\n")
    done = subprocess.run([compiler, "-fsyntax-only", str(check)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_sed_offsets_rules() -> None:
    asm = "\n".join([
        "\t.text",
        '\t.ascii\t"->ARM_STYLE #12 offsetof(struct a, b)"',  # arm prints immediates with '#'
        '  .ascii "->X86_STYLE $40 sizeof(x)"  # trailing comment',
        '.ascii "->"',
        '.ascii "->#a comment"',
        '.ascii "not a marker"',
        "->RAW 5 raw line",  # not an .ascii line, but sed still takes lines starting with ->
        "\tmovl $1, %eax",
    ])
    assert kbuild.sed_offsets(asm) == [
        "#define ARM_STYLE 12 /* offsetof(struct a, b) */",
        "#define X86_STYLE 40 /* sizeof(x) */",
        "",
        "/* a comment */",
        "#define RAW 5 /* raw line */",
    ]


def test_kbuild_flags_drop_debug_werror_and_module_names() -> None:
    flags = ("-Iinclude", "-g", "-gdwarf-5", "-Werror", "-Werror=vla", "-flto=thin", "-O2",
             '-DKBUILD_MODNAME="kvmgt"', '-DKBUILD_BASENAME="gvt"', "-D__KBUILD_MODNAME=kmod_kvmgt",
             '-DKBUILD_MODFILE="drivers/x"', "-DI915")
    assert kbuild.kbuild_flags(flags, "asm-offsets") == [
        "-Iinclude", "-O2", "-DI915", '-DKBUILD_BASENAME="asm_offsets"', '-DKBUILD_MODNAME="asm_offsets"',
        "-D__KBUILD_MODNAME=kmod_asm_offsets"]


# --------------------------------------------------------------------------- a toy kernel tree

TOY = {
    "include/linux/kbuild.h": KBUILD_H,
    "include/linux/lock.h": """
#ifndef TOY_LOCK_H
#define TOY_LOCK_H
#ifdef CONFIG_TOY_DEBUG
typedef struct { int v; void *owner; long stamp[4]; } toy_lock_t;
#else
typedef struct { int v; } toy_lock_t;
#endif
#endif
""",
    # Like mm_types.h: a layout from the generated header, checked against the real one.
    "include/linux/page.h": """
#ifndef TOY_PAGE_H
#define TOY_PAGE_H
#include <generated/bounds.h>
#include <linux/lock.h>
struct page { char lock_room[TOY_LOCK_SIZE]; unsigned long flags; };
_Static_assert(sizeof(toy_lock_t) == TOY_LOCK_SIZE, "generated/bounds.h does not fit");
#endif
""",
    "include/linux/user.h": """
#ifndef TOY_USER_H
#define TOY_USER_H
#include <linux/page.h>
#include <asm/asm-offsets.h>
_Static_assert(__builtin_offsetof(struct page, flags) == PAGE_flags, "asm-offsets.h does not fit");
#endif
""",
    "arch/toy/include/asm/asm-offsets.h": "#include <generated/asm-offsets.h>\n",
    "kernel/bounds.c": """
#define __GENERATING_BOUNDS_H
#include <linux/kbuild.h>
#include <linux/lock.h>
#ifdef CONFIG_TOY_BROKEN
#error "this configuration does not build"
#endif
int main(void)
{
    DEFINE(TOY_LOCK_SIZE, sizeof(toy_lock_t));
    return 0;
}
""",
    "arch/toy/kernel/asm-offsets.c": """
#include <linux/kbuild.h>
#include <linux/page.h>
int main(void)
{
    OFFSET(PAGE_flags, page, flags);
    BLANK();
    DEFINE(PAGE_SIZEOF, sizeof(struct page));
    return 0;
}
""",
    "include/generated/autoconf.h": "#define CONFIG_TOY_HZ_BASE 1\n",
}

DEBUG = (("CONFIG_TOY_DEBUG", "1"),)


def toy_job(root: Path, compiler: str, header: str = "include/linux/user.h") -> Job:
    flags = ("-Iarch/toy/include", "-Iinclude", "-include", "include/generated/autoconf.h")
    return Job(header=root / header, display=header, language="c", compiler=compiler, flags=flags,
               directory=root)


def toy_tree(tmp_path: Path, compiler: str) -> Path:
    """The toy tree after its 'make prepare': generated headers for the baseline configuration."""
    root = write_tree(tmp_path / "linux", TOY)
    # The forced blocks make the tree's own files no-ops, but the preprocessor must still find
    # them: as in a real tree, something has to be there before the first regeneration.
    write_tree(root, {"include/generated/bounds.h": "", "include/generated/asm-offsets.h": ""})
    made = kbuild.regenerate(root, toy_job(root, compiler), ())
    assert made.problem is None, made.problem
    for name, text in made.headers:
        (root / "include" / "generated" / name).write_text(text)
    return root


def variant(defines: tuple[tuple[str, str | None], ...], text: str = "") -> Variant:
    changes = tuple(OptionSetting(n, "y" if v else "n") for n, v in defines)
    return Variant(name=",".join(map(str, changes)), changes=changes, defines=defines, prelude_text=text)


def test_baseline_configuration_adds_nothing(tmp_path: Path, compiler: str) -> None:
    root = toy_tree(tmp_path, compiler)
    made = kbuild.regenerate(root, toy_job(root, compiler), ())
    assert made.problem is None
    assert made.text == ""  # nothing differs from the tree's headers
    assert [name for name, _ in made.headers] == ["bounds.h", "asm-offsets.h"]


def test_variant_sees_headers_made_for_it(tmp_path: Path, compiler: str) -> None:
    root = toy_tree(tmp_path, compiler)
    before = tree_hashes(root)
    job = toy_job(root, compiler)
    options = CompileOptions(root=root)

    stale = compile_job(replace(job, variant=variant(DEBUG)), options)
    assert stale.status is Status.FAIL
    assert "does not fit" in stale.raw_output

    text = kbuild.regenerate(root, job, DEBUG).text
    assert "#ifndef __LINUX_BOUNDS_H__" in text and "#ifndef __ASM_OFFSETS_H__" in text
    assert "include/generated/bounds.h regenerated" in text
    fresh = compile_job(replace(job, variant=variant(DEBUG, text)), options)
    assert fresh.status is Status.PASS, fresh.raw_output
    # The baseline is untouched by the variant's text and still passes on the tree's files.
    assert compile_job(job, options).status is Status.PASS
    assert tree_hashes(root) == before  # nothing written into the tree


def test_failures_are_reported_not_raised(tmp_path: Path, compiler: str) -> None:
    root = toy_tree(tmp_path, compiler)
    job = toy_job(root, compiler)
    broken = kbuild.regenerate(root, job, (("CONFIG_TOY_BROKEN", "1"),))
    assert broken.text == "" and broken.problem is not None
    assert "kernel/bounds.c does not compile" in broken.problem
    assert "this configuration does not build" in broken.problem

    (root / "arch" / "toy" / "kernel" / "asm-offsets.c").unlink()
    missing = kbuild.regenerate(root, job, DEBUG)
    assert missing.problem == "arch/toy/kernel/asm-offsets.c not found"
    assert missing.text == ""

    no_arch = replace(job, flags=("-Iinclude",))
    assert "SRCARCH" in (kbuild.regenerate(root, no_arch, DEBUG).problem or "")


def test_fill_preludes_sets_text_and_notes(tmp_path: Path, compiler: str) -> None:
    root = toy_tree(tmp_path, compiler)
    job = toy_job(root, compiler)
    plain = Variant(name="nothing")
    wanted = [variant(DEBUG), variant((("CONFIG_TOY_BROKEN", "1"),)), plain]
    filled, unmade, failing = kbuild.fill_preludes(root, job, wanted, workers=2)
    assert "__LINUX_BOUNDS_H__" in filled[0].prelude_text
    assert filled[1].prelude_text == "" and filled[2] == plain
    # The broken variant cannot be checked: its reason is returned by name, for a not-verified result.
    assert unmade == {} and list(failing) == ["CONFIG_TOY_BROKEN=y"]
    failure = failing["CONFIG_TOY_BROKEN=y"]
    assert failure.reason.startswith("include/generated headers (bounds.h, asm-offsets.h) could not be made")
    assert "kernel/bounds.c does not compile" in failure.reason
    # The record says where the unit's first error is, for prepare_failed to compare.
    assert failure.file is not None and Path(failure.file).resolve() == (root / "kernel/bounds.c").resolve()
    assert failure.line == 6 and "this configuration does not build" in failure.message


def test_a_header_failure_stands_only_at_the_prepare_units_located_error(tmp_path: Path, compiler: str) -> None:
    root = toy_tree(tmp_path, compiler)
    job = replace(toy_job(root, compiler), variant=variant(DEBUG))
    stale = compile_job(job, CompileOptions(root=root))
    [error] = [d for d in stale.diagnostics if d.is_error]
    assert error.abs_file is not None
    at_error = kbuild.PrepareFailure(error.abs_file, error.line, error.message, "bounds.c fails")
    stands = kbuild.prepare_failed(stale, at_error)
    assert stands.status is Status.FAIL
    assert [d.message for d in stands.diagnostics if d.category == "prepare-fails"] == [
        "bounds.c fails; Kbuild's prepare step fails in this configuration with an error this header shows too"]
    # The same text, but the unit's first error named no place (a command-line error): not established.
    unplaced = replace(at_error, file=None, line=0)
    assert kbuild.prepare_failed(stale, unplaced).status is Status.UNVERIFIED
    elsewhere = replace(at_error, line=error.line + 1, message="something else")
    unverified = kbuild.prepare_failed(stale, elsewhere)
    assert unverified.status is Status.UNVERIFIED and unverified.command == stale.command
    assert [(d.category, d.message) for d in unverified.diagnostics] == [("not-verified", "bounds.c fails")]
    assert kbuild.prepare_failed(compile_job(toy_job(root, compiler), CompileOptions(root=root)),
                                 at_error).status is Status.UNVERIFIED  # a pass proves nothing either


def test_disk_cache_is_reused_and_checked_against_sources(tmp_path: Path, compiler: str) -> None:
    root = toy_tree(tmp_path, compiler)
    job = toy_job(root, compiler)
    cache = tmp_path / "cache"
    first = kbuild.regenerate(root, job, DEBUG, cache_dir=cache)
    stored = list(GENERATED.directory(cache).rglob("*.json"))
    assert len(stored) == 1
    record = json.loads(stored[0].read_text())
    assert str(root / "include" / "linux" / "lock.h") in record["witnesses"]

    # A new process (empty memory) answers from disk: prove it by marking the stored text.
    record["headers"][0][1] = record["headers"][0][1].replace("#define TOY_LOCK_SIZE", "#define TOY_LOCK_SIZE /*disk*/")
    stored[0].write_text(json.dumps(record))
    kbuild._memory.clear()  # as a new process starts
    assert "/*disk*/" in kbuild.regenerate(root, job, DEBUG, cache_dir=cache).text

    # A header the compile read changes: the stored entry no longer counts.
    lock = root / "include" / "linux" / "lock.h"
    lock.write_text(lock.read_text().replace("long stamp[4];", "long stamp[9];"))
    kbuild._memory.clear()  # as a new process starts
    again = kbuild.regenerate(root, job, DEBUG, cache_dir=cache)
    assert "/*disk*/" not in again.text
    assert again.text != first.text  # the new layout, not the old one


TOY_BC = r"""
hz = read()
print "/* toy timeconst for HZ == ", hz, " */\n"
print "#ifndef KERNEL_TIMECONST_H\n#define KERNEL_TIMECONST_H\n\n"
print "#include <linux/param.h>\n\n"
print "#if HZ != ", hz, "\n#error \qwrong HZ\q\n#endif\n\n"
print "#define TOY_TICK_NSEC ", 1000000000 / hz, "\n"
print "\n#endif\n"
halt
"""


@pytest.mark.skipif(shutil.which("bc") is None, reason="needs bc")
def test_timeconst_follows_config_hz(tmp_path: Path, compiler: str, monkeypatch: pytest.MonkeyPatch) -> None:
    root = toy_tree(tmp_path, compiler)
    write_tree(root, {"kernel/time/timeconst.bc": TOY_BC})
    job = toy_job(root, compiler)
    made = kbuild.regenerate(root, job, (("CONFIG_HZ", "250"),))
    assert made.problem is None and made.text.count(" regenerated for this variant ") == 1
    assert "include/generated/timeconst.h regenerated" in made.text
    assert "#if HZ != 250" in dict(made.headers)["timeconst.h"]
    # Forced in first, the block must neither include headers for the header under test nor test HZ.
    assert "#define TOY_TICK_NSEC 4000000" in made.text
    assert "#include" not in made.text and "#if HZ" not in made.text and "#error" not in made.text

    # Without bc the rest still works and nothing fails.
    kbuild._memory.clear()  # as a new process starts
    bindir = tmp_path / "bin"
    bindir.mkdir()
    real = shutil.which(compiler)
    assert real is not None
    os.symlink(real, bindir / compiler)
    monkeypatch.setenv("PATH", str(bindir))
    without = kbuild.regenerate(root, replace(job, compiler=real), (("CONFIG_HZ", "300"),))
    assert without.problem is None and [n for n, _ in without.headers] == ["bounds.h", "asm-offsets.h"]


# --------------------------------------------------------------------------- Linux

SCHEDULER_H = "drivers/gpu/drm/i915/gvt/scheduler.h"


def linux_tree() -> Path:
    value = os.environ.get("HDRTEST_LINUX_TREE")
    if not value or not (Path(value) / "include" / "generated" / "bounds.h").is_file() \
            or not (Path(value) / "compile_commands.json").is_file():
        pytest.skip("HDRTEST_LINUX_TREE does not point at a prepared Linux tree with compile_commands.json")
    root = Path(value)
    if not (root / SCHEDULER_H).is_file():
        pytest.skip(f"no {SCHEDULER_H} in the tree")
    return root


def stamps(root: Path) -> dict[str, float]:
    """Modification times where Kbuild writes its own versions of these files."""
    out: dict[str, float] = {}
    for sub in ("include/generated", "kernel", "arch/x86/kernel"):
        for path in (root / sub).iterdir():
            out[str(path)] = path.stat().st_mtime
    return out


@pytest.mark.linux
@pytest.mark.slow
def test_linux_scheduler_h_lockdep_variant(tmp_path: Path) -> None:
    from hdrtest.discover import discover
    from hdrtest.kconfig import KernelConfBackend, detect
    from hdrtest.plan import baseline_jobs, flag_source
    from hdrtest.settings import Settings

    root = linux_tree()
    before = stamps(root)
    settings = Settings(root=root)
    headers, _ = discover([root / SCHEDULER_H], settings)
    job = baseline_jobs(headers, settings, flag_source(settings))[0]

    # For the tree's own configuration the result is what `make prepare` wrote, byte for byte.
    same = kbuild.regenerate(root, job, ())
    assert same.problem is None and same.text == ""
    for name, text in same.headers:
        assert text == (root / "include" / "generated" / name).read_text(), name

    backend = detect(root, None, None, tmp_path / "kconfig")
    assert isinstance(backend, KernelConfBackend)
    lockdep = backend.flip("CONFIG_DEBUG_LOCK_ALLOC", "y")
    if lockdep is None or not lockdep.achieved or not lockdep.defines:
        pytest.skip("the tree's configuration cannot turn DEBUG_LOCK_ALLOC on, or has it on already")
    stale = replace(job, variant=combine([lockdep], "", "CONFIG_DEBUG_LOCK_ALLOC=y"))
    options = CompileOptions(root=root)
    wrong = compile_job(stale, options)
    assert wrong.status is Status.FAIL
    assert any("static assertion failed" in d.message for d in wrong.diagnostics)

    made = kbuild.regenerate(root, job, lockdep.defines, cache_dir=tmp_path / "generated")
    assert made.problem is None
    assert "include/generated/bounds.h regenerated" in made.text  # spinlock_t grows with lockdep: SPINLOCK_SIZE changes
    right = compile_job(replace(stale, variant=replace(stale.variant, prelude_text=made.text)), options)
    assert right.status is Status.PASS, right.raw_output
    assert stamps(root) == before


@pytest.mark.linux
@pytest.mark.slow
def test_linux_check_scheduler_h_end_to_end(tmp_path: Path) -> None:
    root = linux_tree()
    run = hdrtest("check", "-q", "--format", "json", SCHEDULER_H, cwd=root,
                  env={"XDG_CACHE_HOME": str(tmp_path / "xdg")}, timeout=900)
    assert run.returncode in (0, 1), run.stderr
    results = {r["variant"]["name"]: r for r in run.json()["results"]}
    assert results["baseline"]["status"] == "pass"
    if "CONFIG_DEBUG_LOCK_ALLOC=y" not in results:
        pytest.skip("DEBUG_LOCK_ALLOC was not planned for scheduler.h in this tree")
    assert results["CONFIG_DEBUG_LOCK_ALLOC=y"]["status"] == "pass", results["CONFIG_DEBUG_LOCK_ALLOC=y"]
    for result in results.values():
        for diag in result.get("diagnostics", []):
            assert "static assertion failed" not in diag["message"], result["variant"]["name"]


# --------------------------------------------------------------------------- module flags, unverified variants

# Like x86's asm/tlbflush.h: a definition asm-offsets.c needs, hidden from modules.
MODULE_HIDDEN = {
    "arch/toy/include/asm/tlb.h": """
#ifndef TOY_TLB_H
#define TOY_TLB_H
#ifndef MODULE
struct toy_tlb_state { long gen; int asid; };
#endif
#endif
""",
    "arch/toy/kernel/asm-offsets.c": """
#include <linux/kbuild.h>
#include <linux/page.h>
#include <asm/tlb.h>
int main(void)
{
    OFFSET(PAGE_flags, page, flags);
    OFFSET(TLB_asid, toy_tlb_state, asid);
    return 0;
}
""",
}


def test_kbuild_flags_drop_module_define() -> None:
    flags = ("-Iinclude", "-DMODULE", "-D", "MODULE", "-DMODULE_X", "-UMODULE", "-DMODULE=1", "-DI915")
    assert kbuild.kbuild_flags(flags, "bounds")[:2] == ["-Iinclude", "-DMODULE_X"]
    assert "-DI915" in kbuild.kbuild_flags(flags, "bounds")
    assert not any(f in ("-DMODULE", "MODULE", "-UMODULE", "-DMODULE=1") for f in kbuild.kbuild_flags(flags, "b"))


def test_module_flags_regenerate_as_built_in(tmp_path: Path, compiler: str) -> None:
    root = toy_tree(tmp_path, compiler)
    write_tree(root, MODULE_HIDDEN)
    # A header whose flags come from a module object: bounds.c and asm-offsets.c are built in all the same.
    job = replace(toy_job(root, compiler), flags=toy_job(root, compiler).flags + ("-DMODULE",))
    made = kbuild.regenerate(root, job, DEBUG)
    assert made.problem is None, made.problem
    assert "#define TLB_asid" in dict(made.headers)["asm-offsets.h"]


TOY_KCONFIG = """
config TOY_DEBUG
	bool "debug lock layout"
config TOY_BROKEN
	bool "a configuration whose bounds.c does not compile"
"""

# The header tests both options itself, so both are flipped; page.h checks the generated sizes.
TOY_CHECKED = {
    "include/linux/feature.h": """
#ifndef TOY_FEATURE_H
#define TOY_FEATURE_H
#include <linux/page.h>
#include <asm/asm-offsets.h>
#if defined(CONFIG_TOY_DEBUG) || defined(CONFIG_TOY_BROKEN)
#define TOY_FEATURE_DEBUG 1
#endif
#endif
""",
    # TOY_BROKEN grows the lock like TOY_DEBUG, and stops bounds.c (see TOY): with the baseline's
    # bounds.h the static assertion in page.h fails, which says nothing about the header.
    "include/linux/lock.h": """
#ifndef TOY_LOCK_H
#define TOY_LOCK_H
#if defined(CONFIG_TOY_DEBUG) || defined(CONFIG_TOY_BROKEN)
typedef struct { int v; void *owner; long stamp[4]; } toy_lock_t;
#else
typedef struct { int v; } toy_lock_t;
#endif
#endif
""",
}


def toy_kconfig_tree(tmp_path: Path, compiler: str) -> Path:
    root = toy_tree(tmp_path, compiler)
    write_tree(root, {**MODULE_HIDDEN, **TOY_CHECKED, "Kconfig": TOY_KCONFIG,
                      ".config": "# CONFIG_TOY_DEBUG is not set\n# CONFIG_TOY_BROKEN is not set\n"})
    # The tree's generated headers must match its own configuration again after the edits above.
    kbuild._memory.clear()  # as a new process starts
    made = kbuild.regenerate(root, toy_job(root, compiler), ())
    assert made.problem is None, made.problem
    for name, text in made.headers:
        (root / "include" / "generated" / name).write_text(text)
    flags = " ".join(toy_job(root, compiler).flags)
    units = [{"directory": str(root), "file": "drivers/toy/main.c",
              "command": f"{compiler} {flags} -DMODULE -c -o drivers/toy/main.o drivers/toy/main.c"}]
    write_tree(root, {"drivers/toy/main.c": "#include <linux/feature.h>\n",
                      "compile_commands.json": json.dumps(units)})
    return root


def test_check_reports_unmade_generated_headers_as_not_verified(tmp_path: Path, compiler: str) -> None:
    root = toy_kconfig_tree(tmp_path, compiler)
    before = tree_hashes(root)
    out = tmp_path / "reports"
    formats = ("text", "sarif", "junit", "html", "codeclimate")
    run = hdrtest("check", "-q", "--format", "json", "include/linux/feature.h", cwd=root,
                  *[f"--report={fmt}={out / fmt}" for fmt in formats],
                  env={"XDG_CACHE_HOME": str(tmp_path / "xdg-run")})
    assert run.returncode == 0, run.stdout + run.stderr
    data = run.json()
    results = {r["variant"]["name"]: r for r in data["results"]}
    assert results["baseline"]["status"] == "pass"
    # The module's -DMODULE does not reach asm-offsets.c: the debug variant gets its own headers and passes.
    assert results["CONFIG_TOY_DEBUG=y"]["status"] == "pass", results["CONFIG_TOY_DEBUG=y"]
    broken = results["CONFIG_TOY_BROKEN=y"]
    assert broken["status"] == "unverified"
    [note] = broken["diagnostics"]
    assert (note["severity"], note["category"]) == ("note", "not-verified")
    assert "kernel/bounds.c does not compile" in note["message"]
    assert data["summary"]["headers_failed"] == 0 and data["summary"]["unverified_results"] == 1
    assert tree_hashes(root) == before

    reports = {fmt: (out / fmt).read_text() for fmt in formats}
    reason = note["message"]
    assert f"NOT VERIFIED include/linux/feature.h [c] in CONFIG_TOY_BROKEN=y: {reason}" in reports["text"]
    assert "0 failed, 1 not verified" in reports["text"]
    sarif_run = json.loads(reports["sarif"])["runs"][0]
    assert sarif_run["results"] == []
    [notification] = sarif_run["invocations"][0]["toolExecutionNotifications"]
    assert notification["level"] == "note" and reason in notification["message"]["text"]
    assert notification["properties"]["status"] == "unverified"
    assert sarif_run["properties"]["unverifiedResults"] == 1
    cases = {c.get("name"): c for c in ET.fromstring(reports["junit"]).iter("testcase")}
    skipped = cases["include/linux/feature.h [CONFIG_TOY_BROKEN=y]"].find("skipped")
    assert skipped is not None and skipped.get("message") == "not verified: " + reason
    assert ET.fromstring(reports["junit"]).get("failures") == "0"
    html = reports["html"]  # the page's data block, as its script reads it
    start = html.index('id="hdrtest-data">') + len('id="hdrtest-data">')
    page = json.loads(html[start:html.index("</script>", start)])
    assert page["summary"]["cells"]["unverified"] == 1
    assert [c["not_verified"] for c in page["cells"] if c["status"] == "unverified"] == [reason]
    assert json.loads(reports["codeclimate"]) == []  # not an issue in the code
