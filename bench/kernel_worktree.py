"""A private git worktree of a prepared kernel tree, with the build outputs a header check needs.

Shared by the benchmarks that time a change to the kernel (bench_kconfig's changed-since run, bench_series):
the worktree gets the tree's configuration, generated headers, Kconfig build state and a compile database that
points at the worktree, so the user's tree is never modified.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Build outputs copied into the worktree (git does not track them).
_GENERATED_DIRS = (".config", "include/generated", "include/config", "arch/x86/include/generated")
_BUILD_FILES = ("scripts/kconfig/conf", "scripts/kconfig/lexer.lex.c", "scripts/kconfig/parser.tab.c",
                "scripts/kconfig/parser.tab.h", "scripts/basic/fixdep", "scripts/mod/devicetable-offsets.h")
STUBBED_HEADER = "arch/x86/include/asm/kvm_page_track.h"


@contextmanager
def kernel_worktree(root: Path, where: Path, revision: str = "HEAD") -> Iterator[Path]:
    """A detached worktree of ``root`` at ``revision`` in ``where``, with the build outputs; removed afterwards."""
    subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(where), revision], check=True,
                   capture_output=True)
    try:
        for rel in _GENERATED_DIRS:
            src = root / rel
            if src.is_dir():
                shutil.copytree(src, where / rel, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(src, where / rel)
        for rel in _BUILD_FILES:
            if (root / rel).exists():
                shutil.copy2(root / rel, where / rel)
        text = (root / "compile_commands.json").read_text().replace(str(root), str(where))
        (where / "compile_commands.json").write_text(text)
        yield where
    finally:
        subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(where)], check=False,
                       capture_output=True)


def remove_else_stub(tree: Path) -> None:
    """Remove the ``#else`` branch of kvm_page_track.h: the KVM patch that broke gvt.h, uncommitted."""
    header = tree / STUBBED_HEADER
    source = header.read_text()
    start = source.index("#else")
    end = source.index("#endif", start)
    header.write_text(source[:start] + source[end:])
