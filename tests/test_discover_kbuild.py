"""Kbuild's own header-test exclusions (``no-header-test`` in a directory's Makefile) are honoured."""

from __future__ import annotations

from pathlib import Path

from conftest import hdrtest, write_tree

from hdrtest.discover import parse_no_header_test

MAKEFILE = """\
obj-y += x.o

# private headers
no-header-test := \\
\tdisplay/private.h \\
\tgen/%

ifeq ($(SRCARCH),sparc)
no-header-test += sparc_only.h
endif
"""

TREE = {
    "Kbuild": "obj-y += drivers/\n",
    "scripts/Makefile.build": "# Kbuild's build rules\n",
    "drivers/x/Makefile": MAKEFILE,
    "drivers/x/display/private.h": '#error "private to x.c"\n',
    "drivers/x/gen/table.h": "struct row { undefined_t v; };\n",
    "drivers/x/sparc_only.h": "struct sparc { int v; };\n",
    "drivers/x/fine.h": "struct fine { int v; };\n",
}


def test_parse_no_header_test_joins_continuations_and_skips_conditionals() -> None:
    found = parse_no_header_test(MAKEFILE)
    assert [(e.pattern, e.line) for e in found] == [("display/private.h", 4), ("gen/*", 4)]
    assert found[0].text == "no-header-test := display/private.h gen/%"


def test_check_skips_what_kbuild_header_test_skips(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", TREE)
    run = hdrtest("check", "--format", "json", "-q", "--variants", "none", "--cflags=-Wall", "drivers/x", cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    data = run.json()
    skipped = {s["header"]: s["reason"] for s in data["skipped"]}
    reason = "Kbuild's header test excludes it: drivers/x/Makefile:4: no-header-test := display/private.h gen/%"
    assert skipped == {"drivers/x/display/private.h": reason, "drivers/x/gen/table.h": reason}
    # Excluded only on another architecture: still checked.
    assert {r["header"] for r in data["results"]} == {"drivers/x/fine.h", "drivers/x/sparc_only.h"}


def test_no_header_test_outside_kbuild_is_ignored(tmp_path: Path) -> None:
    tree = {k: v for k, v in TREE.items() if k != "scripts/Makefile.build"}
    root = write_tree(tmp_path / "tree", tree)
    run = hdrtest("check", "--format", "json", "-q", "--variants", "none", "--cflags=-Wall", "drivers/x", cwd=root)
    assert run.returncode == 1
    assert {r["header"] for r in run.json()["results"] if r["status"] == "fail"} == {
        "drivers/x/display/private.h", "drivers/x/gen/table.h"}


def test_other_architectures_headers_are_skipped(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", {
        **TREE,
        "include/config/auto.conf.cmd": 'ifneq "$(ARCH)" "x86"\ninclude/config/auto.conf: FORCE\nendif\n',
        "arch/x86/kernel/setup.c": "",
        "arch/x86/include/asm/ok.h": "struct ok { int v; };\n",
        "arch/arm64/kernel/setup.c": "",
        "arch/arm64/include/asm/kvm_emulate.h": '#error "arm64 only"\n',
    })
    run = hdrtest("check", "--format", "json", "-q", "--variants", "none", "--cflags=-Wall", "arch", cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    data = run.json()
    assert {r["header"] for r in data["results"]} == {"arch/x86/include/asm/ok.h"}
    # A whole foreign architecture is one line; a header of it named directly is skipped too.
    [skipped] = data["skipped"]
    assert skipped["header"] == "arch/arm64/"
    assert skipped["reason"].startswith("another architecture's: Kbuild builds arch/x86/ in this tree")
    named = hdrtest("check", "--format", "json", "-q", "--variants", "none", "--cflags=-Wall",
                    "arch/arm64/include/asm/kvm_emulate.h", cwd=root)
    assert named.returncode == 0 and named.json()["results"] == []
    assert [s["header"] for s in named.json()["skipped"]] == ["arch/arm64/include/asm/kvm_emulate.h"]


def test_header_in_a_directory_kbuild_does_not_build_is_not_verified(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", {
        **TREE,
        "drivers/Makefile": "obj-$(CONFIG_S390) += s390/\nobj-y += x/\n",
        "drivers/s390/crypto/vfio_ap_private.h": "#include <asm/isc.h>\n",
        "include/generated/autoconf.h": "#define CONFIG_X86 1\n",
    })
    run = hdrtest("check", "--format", "json", "-q", "--variants", "none",
                  "--cflags=-include include/generated/autoconf.h", "drivers/s390", "drivers/x/fine.h", cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    results = {r["header"]: r for r in run.json()["results"]}
    assert results["drivers/x/fine.h"]["status"] == "pass"
    unbuilt = results["drivers/s390/crypto/vfio_ap_private.h"]
    assert unbuilt["status"] == "unverified"
    [note] = unbuilt["diagnostics"]
    assert note["category"] == "not-verified"
    assert note["message"].startswith("Kbuild does not build drivers/s390/crypto/ in this configuration (needs ")
    assert "CONFIG_S390" in note["message"]
