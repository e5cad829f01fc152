"""Options a change makes relevant, read from a real git repository in a temporary directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import write_tree

from hdrtest.errors import UsageError
from hdrtest.scan.options import OptionFilter
from hdrtest.touched import touched_options

GUARD = "#ifndef {g}\n#define {g}\n{body}\n#endif\n"


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)


def test_blocks_touched_on_either_side_new_files_and_what_is_left_out(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "edited.h": GUARD.format(g="EDITED_H", body="#ifdef CONFIG_A\nint a;\n#endif\nint plain;"),
        "stub.h": GUARD.format(g="STUB_H", body="#ifdef CONFIG_B\nint b(void);\n#else\nstatic int b(void) { return 0; }\n"
                                               "#endif"),
        "gone.h": "#ifdef CONFIG_G\nint g;\n#endif\n",
        "unbalanced.h": "#ifdef CONFIG_U\nint u;\n#endif\n",
        "guarded.h": GUARD.format(g="GUARDED_H", body="int one;"),
        "notes.txt": "#ifdef CONFIG_TXT\n#endif\n",
    })
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "base")
    edited = tmp_path / "edited.h"
    edited.write_text(edited.read_text().replace("int a;", "int a, a2;"))
    stub = tmp_path / "stub.h"
    stub.write_text(stub.read_text().replace("#else\nstatic int b(void) { return 0; }\n", ""))
    (tmp_path / "gone.h").unlink()
    (tmp_path / "unbalanced.h").write_text("#ifdef CONFIG_U\nint u2;\n")  # unscannable now: only the old side
    guarded = tmp_path / "guarded.h"
    guarded.write_text(guarded.read_text().replace("int one;", "int one, two;"))
    (tmp_path / "notes.txt").write_text("#ifdef CONFIG_TXT\nchanged\n#endif\n")
    write_tree(tmp_path, {"sub/new.h": "int n;\n#if defined(CONFIG_N) && CONFIG_M\nint m;\n#endif\n",
                          "sub/new.txt": "#ifdef CONFIG_TXT2\n#endif\n"})

    found = touched_options(tmp_path, "HEAD", OptionFilter.from_args())
    # Only what lies under the given directory counts.
    assert set(touched_options(tmp_path / "sub", "HEAD", OptionFilter.from_args())) == {tmp_path / "sub/new.h"}
    assert {path.name: set(reasons) for path, reasons in found.items()} == {
        "edited.h": {"CONFIG_A"}, "stub.h": {"CONFIG_B"}, "gone.h": {"CONFIG_G"}, "unbalanced.h": {"CONFIG_U"},
        "new.h": {"CONFIG_N", "CONFIG_M"},
    }
    assert all(path.is_absolute() and path.parent.resolve() in {tmp_path.resolve(), (tmp_path / "sub").resolve()}
               for path in found)
    by_name = {path.name: reasons for path, reasons in found.items()}
    assert by_name["edited.h"]["CONFIG_A"] == "the change touched a block on it at edited.h:4 (now)"
    assert by_name["gone.h"]["CONFIG_G"] == "the change touched a block on it at gone.h:1 (at HEAD)"
    assert by_name["new.h"]["CONFIG_N"] == "sub/new.h is new and tests it at line 2"


def test_a_revision_git_does_not_know_is_a_usage_error(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.h": "int a;\n"})
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "base")
    with pytest.raises(UsageError):
        touched_options(tmp_path, "no-such-branch", OptionFilter.from_args())
