"""Which translation unit lends a header its flags: one that includes it, else one of the same kind.

A kernel build's compile database also lists host programs (``arch/x86/tools/relocs_*.c``,
``scripts/**``): no ``-nostdinc``, no ``-D__KERNEL__``, no kernel include paths.  Their flags
made kernel headers fail with "No such file or directory" on includes a kernel build finds.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import hdrtest, write_tree

KERNEL_FLAGS = "-nostdinc -Iarch/toy/include -Iinclude -D__KERNEL__"
HOST_FLAGS = "-Wall -O2 -Itools/include"

TREE = {
    "include/linux/kvm_types.h": "#ifndef KVM_TYPES_H\n#define KVM_TYPES_H\ntypedef unsigned long gfn_t;\n#endif\n",
    # Included by the kernel unit below.
    "arch/toy/include/asm/kvm_page_track.h":
        "#ifndef PAGE_TRACK_H\n#define PAGE_TRACK_H\n#include <linux/kvm_types.h>\n"
        "struct kvm_page_track_notifier_node { gfn_t gfn; };\n#endif\n",
    # Included by no unit at all.
    "arch/toy/include/asm/kvm_mmu.h":
        "#ifndef MMU_H\n#define MMU_H\n#include <linux/kvm_types.h>\nstatic inline gfn_t first(void) { return 0; }\n#endif\n",
    "drivers/gvt/kvmgt.c": "#include <asm/kvm_page_track.h>\n",
    "arch/toy/tools/relocs_32.c": "int main(void) { return 0; }\n",
    "arch/toy/tools/relocs_64.c": "int main(void) { return 0; }\n",
    "tools/include/tools/le.h": "",
}


def database(root: Path, compiler: str) -> str:
    units = [(f"{compiler} {HOST_FLAGS} -c -o arch/toy/tools/{n}.o arch/toy/tools/{n}.c", f"arch/toy/tools/{n}.c")
             for n in ("relocs_32", "relocs_64")]
    units.append((f"{compiler} {KERNEL_FLAGS} -DMODULE -c -o drivers/gvt/kvmgt.o drivers/gvt/kvmgt.c",
                   "drivers/gvt/kvmgt.c"))
    return json.dumps([{"directory": str(root), "command": cmd, "file": file} for cmd, file in units])


def kernel_tree(tmp_path: Path, compiler: str) -> Path:
    root = write_tree(tmp_path / "linux", TREE)
    write_tree(root, {"compile_commands.json": database(root, compiler)})
    return root


def results(run_stdout: str) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r["header"]: r for r in json.loads(run_stdout)["results"]}


def test_header_takes_flags_of_a_unit_that_includes_it(tmp_path: Path, compiler: str) -> None:
    root = kernel_tree(tmp_path, compiler)
    run = hdrtest("check", "-q", "--format", "json", "--variants", "none", "arch/toy/include/asm", cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    found = results(run.stdout)
    track = found["arch/toy/include/asm/kvm_page_track.h"]
    assert track["status"] == "pass"
    assert track["flags_origin"].endswith("compile_commands.json: drivers/gvt/kvmgt.c (includes it)")
    assert "-D__KERNEL__" in track["command"]
    # No unit includes kvm_mmu.h: the host programs share the most common flags, but a kernel header
    # takes a kernel unit's.
    mmu = found["arch/toy/include/asm/kvm_mmu.h"]
    assert mmu["status"] == "pass", mmu
    assert mmu["flags_origin"].endswith("drivers/gvt/kvmgt.c (nearest kernel unit; none includes it)")


def test_host_program_headers_keep_host_flags(tmp_path: Path, compiler: str) -> None:
    root = kernel_tree(tmp_path, compiler)
    write_tree(root, {"arch/toy/tools/relocs.h": "#include <tools/le.h>\nint relocs(void);\n",
                      "arch/toy/tools/relocs_32.c": '#include "relocs.h"\nint main(void) { return 0; }\n'})
    run = hdrtest("check", "-q", "--format", "json", "--variants", "none", "arch/toy/tools/relocs.h", cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    relocs = results(run.stdout)["arch/toy/tools/relocs.h"]
    assert relocs["flags_origin"].endswith("arch/toy/tools/relocs_32.c (includes it)")
    assert "-D__KERNEL__" not in relocs["command"]


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                   capture_output=True)


def test_changed_since_from_the_root_checks_the_edited_header_with_kernel_flags(tmp_path: Path,
                                                                                compiler: str) -> None:
    root = kernel_tree(tmp_path, compiler)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "tree")
    header = root / "arch/toy/include/asm/kvm_page_track.h"
    header.write_text(header.read_text().replace("gfn_t gfn;", "gfn_t gfn; int flags;"))
    run = hdrtest("check", "-q", "--format", "json", "--variants", "none", "--changed-since", "HEAD", cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    found = results(run.stdout)
    assert set(found) == {"arch/toy/include/asm/kvm_page_track.h"}
    assert found["arch/toy/include/asm/kvm_page_track.h"]["flags_origin"].endswith("drivers/gvt/kvmgt.c (includes it)")


def test_failure_under_borrowed_kernel_flags_is_not_verified(tmp_path: Path, compiler: str) -> None:
    # Like arch/x86/kvm/mmu/spte.h: its directory's Makefile adds -I arch/x86/kvm, and no unit of the
    # database is compiled there, so the borrowed flags cannot find "mmu.h".
    root = kernel_tree(tmp_path, compiler)
    write_tree(root, {"arch/toy/kvm/mmu.h": "int mmu(void);\n",
                      "arch/toy/kvm/mmu/spte.h": '#include "mmu.h"\nint spte(void);\n'})
    run = hdrtest("check", "-q", "--format", "json", "--variants", "none", "arch/toy/kvm/mmu/spte.h", cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    spte = results(run.stdout)["arch/toy/kvm/mmu/spte.h"]
    assert spte["status"] == "unverified"
    [note] = spte["diagnostics"]
    assert (note["severity"], note["category"]) == ("note", "not-verified")
    assert note["message"].startswith("its flags are borrowed from ")
    assert "drivers/gvt/kvmgt.c (nearest kernel unit; none includes it)" in note["message"]
    assert "mmu.h" in note["message"]
    assert json.loads(run.stdout)["summary"]["headers_failed"] == 0
