"""Suggested edits: merging, diffs, stubs, applying inside the tree only, and `hdrtest fix`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, hdrtest, tree_hashes, write_tree

from hdrtest.check import check
from hdrtest.errors import UsageError
from hdrtest.explain.stubs import declaration_text, function_stub, macro_stub, split_function, struct_stub
from hdrtest.fixes import Edit, FileChange, apply_and_verify, changes, render_diff, split_inside, write_changes
from hdrtest.settings import Settings

GVT = "drivers/gpu/drm/i915/gvt/gvt.h"
TRACK = "arch/x86/include/asm/kvm_page_track.h"


def test_edits_at_one_place_share_their_prefix(tmp_path: Path) -> None:
    path = tmp_path / "x.h"
    path.write_text("#ifdef A\nint a(void);\n#endif\n")
    edits = [Edit(path, 3, ("int a(void) { return 0; }",), group="g", prefix=("#else",)),
             Edit(path, 3, ("struct s {};",), group="g", prefix=("#else",)),
             Edit(path, 3, ("struct s {};",), group="g", prefix=("#else",))]
    [change] = changes(edits)
    assert change.new == "#ifdef A\nint a(void);\n#else\nint a(void) { return 0; }\nstruct s {};\n#endif\n"
    assert render_diff(edits, tmp_path) == (
        "--- a/x.h\n+++ b/x.h\n@@ -1,3 +1,6 @@\n #ifdef A\n int a(void);\n+#else\n"
        "+int a(void) { return 0; }\n+struct s {};\n #endif\n")


def test_insertions_in_several_places_keep_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "x.h"
    path.write_text("a\nb\nc")  # no final newline
    [change] = changes([Edit(path, 4, ("end",)), Edit(path, 1, ("start",)), Edit(path, 2, ("mid",))])
    assert change.new == "start\na\nmid\nb\nc\nend\n"


@pytest.mark.parametrize("ret,params,expected", [
    ("int", "struct kvm *kvm, gfn_t gfn", "static inline int f(struct kvm *kvm, gfn_t gfn) { return 0; }"),
    ("void", "", "static inline void f(void) { }"),
    ("extern struct page *", "int n", "static inline struct page *f(int n) { return NULL; }"),
    ("bool", "void", "static inline bool f(void) { return false; }"),
    ("struct pair", "void", "static inline struct pair f(void) { return (struct pair){ 0 }; }"),
])
def test_function_stub(ret: str, params: str, expected: str) -> None:
    assert function_stub("f", ret, params) == expected


def test_macro_and_struct_stubs() -> None:
    assert macro_stub("N", None, "64") == "#define N 0"
    assert macro_stub("FLAG", None, "") == "#define FLAG"
    assert macro_stub("clear", ["b"], "do { memset(b, 0, 8); } while (0)") == "#define clear(b) do { } while (0)"
    assert macro_stub("get", ["a", "b"], "((a) + (b))") == "#define get(a, b) (0)"
    assert struct_stub("union", "u") == "union u {};"


def test_declaration_text_and_split_function() -> None:
    lines = ["int __must_check kvm_add(struct kvm *kvm, /* the gfn */", "\t\tgfn_t gfn);", "int other;"]
    text = declaration_text(lines, 1)
    assert text == "int __must_check kvm_add(struct kvm *kvm, gfn_t gfn)"
    assert split_function(text, "kvm_add") == ("int __must_check", "struct kvm *kvm, gfn_t gfn")
    assert split_function("void (*cb)(int)", "missing") is None


def test_nothing_outside_the_tree_is_written(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    outside = tmp_path / "elsewhere.h"
    write_tree(tmp_path, {"tree/in.h": "x\n", "elsewhere.h": "y\n"})
    edits = [Edit(root / "in.h", 1, ("a",)), Edit(outside, 1, ("b",))]
    ok, out = split_inside(edits, root)
    assert [e.file for e in ok] == [root / "in.h"] and [e.file for e in out] == [outside]
    with pytest.raises(UsageError):
        write_changes([FileChange(outside, "y\n", "b\ny\n")], root)
    assert outside.read_text() == "y\n"
    # A symbolic link inside the tree that points out of it does not count as inside.
    (root / "link.h").symlink_to(outside)
    assert split_inside([Edit(root / "link.h", 1, ("c",))], root)[0] == []


def test_hard_linked_copies_are_not_written_through(tmp_path: Path) -> None:
    write_tree(tmp_path, {"tree/x.h": "one\n"})
    os.link(tmp_path / "tree/x.h", tmp_path / "original.h")
    write_changes(changes([Edit(tmp_path / "tree/x.h", 1, ("zero",))]), tmp_path / "tree")
    assert (tmp_path / "tree/x.h").read_text() == "zero\none\n"
    assert (tmp_path / "original.h").read_text() == "one\n"


def test_an_edit_that_does_not_help_is_reverted(tmp_path: Path, compiler: str) -> None:
    body = "#ifndef T_H\n#define T_H\nstruct u { mystery_t m; };\n#endif\n"
    write_tree(tmp_path, {"t.h": body})
    settings = Settings(root=tmp_path, cc=compiler, jobs=1, variants="none", no_cache=True)
    outcome = apply_and_verify([Edit(tmp_path / "t.h", 3, ("/* not a fix */",))], tmp_path,
                               lambda: check(settings, [str(tmp_path / "t.h")], explain=False))
    assert outcome.files == ["t.h"] and outcome.passed is False  # written, re-checked, failed
    assert "still fails" in outcome.message
    assert (tmp_path / "t.h").read_text() == body


# ---------------------------------------------------------------------------
# The command line


def test_fix_apply_on_kvm_gvt_then_every_check_passes(tmp_path: Path, compiler: str) -> None:
    root = tmp_path / "kvm-gvt"
    shutil.copytree(EXAMPLES / "kvm-gvt", root)
    before = tree_hashes(root)
    shown = hdrtest("fix", "--cc", compiler, "-q", GVT, cwd=root)
    assert shown.returncode == 1, shown.stderr
    assert shown.stdout.startswith(f"--- a/{TRACK}\n+++ b/{TRACK}\n")
    assert "+#else\n+struct kvm_page_track_notifier_node {};\n #endif /* CONFIG_KVM_EXTERNAL_WRITE_TRACKING */" \
        in shown.stdout
    assert tree_hashes(root) == before  # showing writes nothing
    applied = hdrtest("fix", "--cc", compiler, "-q", GVT, "--apply", cwd=root)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "the re-check passes" in applied.stderr
    changed = {k for k in tree_hashes(root) if tree_hashes(root)[k] != before.get(k)}
    assert changed == {TRACK}
    for extra in ([], ["-p", "build-on"], ["-p", "build-off"]):
        after = hdrtest("check", "--cc", compiler, "-q", *extra, cwd=root)
        assert after.returncode == 0, after.stdout
    # Nothing left to fix.
    again = hdrtest("fix", "--cc", compiler, "-q", GVT, cwd=root)
    assert again.returncode == 0 and "nothing to fix" in again.stderr


def test_check_fix_prints_the_diff_after_the_report(tmp_path: Path) -> None:
    root = tmp_path / "kvm-gvt"
    shutil.copytree(EXAMPLES / "kvm-gvt", root)
    run = hdrtest("check", "-q", "--fix", GVT, cwd=root)
    assert run.returncode == 1
    report, _, diff = run.stdout.partition(f"--- a/{TRACK}")
    assert "FAIL drivers/gpu/drm/i915/gvt/gvt.h" in report and "note: fix 1" in report
    assert report.count("note: fix 1") == 1  # explained once, not twice
    assert "+struct kvm_page_track_notifier_node {};" in diff


def test_fix_never_edits_outside_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "vendor/include/dep.h"
    write_tree(tmp_path, {
        "vendor/include/dep.h": "#ifndef DEP_H\n#define DEP_H\n#ifdef CONFIG_DEP\nstruct dep { int a; };\n"
                                "#endif\n#endif\n",
        "tree/hdrtest.toml": f'cflags = ["-I{tmp_path / "vendor/include"}"]\nvariants = "none"\n',
        "tree/t.h": "#ifndef T_H\n#define T_H\n#include <dep.h>\nstruct u { struct dep d; };\n#endif\n",
    })
    before = outside.read_text()
    run = hdrtest("fix", "-q", "t.h", "--apply", cwd=tmp_path / "tree")
    assert run.returncode == 1
    # The edit is refused where it is made: the report's note says so (no edit reaches the diff).
    assert "vendor/include/dep.h is outside the checked tree: hdrtest suggests no edit of it" in run.stdout
    assert "+++ b/" not in run.stdout
    assert outside.read_text() == before


# ---------------------------------------------------------------------------
# --apply is all-or-nothing (item 17)

TYPES_H = "#ifndef TYPES_H\n#define TYPES_H\nstruct pt { int x; };\n#endif\n"


def test_apply_through_an_in_tree_symlink_writes_its_target(tmp_path: Path) -> None:
    """The link stays a link; the header it names gets the edit and passes (it used to stay broken)."""
    write_tree(tmp_path, {
        "hdrtest.toml": 'cflags = ["-Iinc"]\nvariants = "none"\n',
        "inc/types.h": TYPES_H,
        "inc/a.h": "#ifndef A_H\n#define A_H\nstruct a { struct pt p; };\n#endif\n",
    })
    (tmp_path / "alias").mkdir()
    (tmp_path / "alias/a.h").symlink_to("../inc/a.h")
    run = hdrtest("fix", "-q", "--no-cache", "--apply", "alias/a.h", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "alias/a.h").is_symlink() and os.readlink(tmp_path / "alias/a.h") == "../inc/a.h"
    assert "types.h" in (tmp_path / "inc/a.h").read_text()
    assert run.stdout.startswith("--- a/inc/a.h\n")  # the diff names the file it writes
    again = hdrtest("check", "-q", "--no-cache", "--format", "json", "inc/a.h", "alias/a.h", cwd=tmp_path)
    assert again.returncode == 0, again.stdout
    assert {r["status"] for r in again.json()["results"]} == {"pass"}


def _run_with_file_size_limit(limit: int, args: list[str], cwd: Path) -> "subprocess.CompletedProcess[str]":
    """hdrtest with RLIMIT_FSIZE: a write past ``limit`` bytes fails with EFBIG, even for root."""
    launcher = ("import resource, runpy, sys\n"
                f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
                "sys.argv = ['hdrtest', *sys.argv[1:]]\n"
                "runpy.run_module('hdrtest', run_name='__main__', alter_sys=True)\n")
    return subprocess.run([sys.executable, "-c", launcher, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False,
                          env=dict(os.environ, XDG_CACHE_HOME=str(cwd.parent / "cache")))


def test_apply_that_cannot_write_one_file_changes_none(tmp_path: Path) -> None:
    """a.h is writable, z.h is too big to write under the limit: neither changes, no temp file, exit 2."""
    root = tmp_path / "tree"
    write_tree(root, {
        "hdrtest.toml": 'variants = "none"\n',
        "types.h": TYPES_H,
        "a.h": "#ifndef A_H\n#define A_H\nstruct a { struct pt p; };\n#endif\n",
        "z.h": "#ifndef Z_H\n#define Z_H\n/* " + "x" * 12000 + " */\nstruct z { struct pt p; };\n#endif\n",
    })
    shown = hdrtest("fix", "-q", "--no-cache", "a.h", "z.h", cwd=root)
    assert shown.stdout.count("+#include") == 2, shown.stdout  # both files get an edit
    before = tree_hashes(root)
    run = _run_with_file_size_limit(10000, ["fix", "-q", "--no-cache", "--apply", "a.h", "z.h"], root)
    assert run.returncode == 2, run.stderr
    [line] = [text for text in run.stderr.splitlines() if text.startswith("hdrtest: error:")]
    assert "cannot write z.h" in line and "no file was changed" in line
    assert tree_hashes(root) == before  # a.h as it was, no temporary file left


def test_write_changes_restores_what_it_wrote_when_a_later_file_fails(tmp_path: Path) -> None:
    """The rename of the second file fails (its path is now a directory): the first is put back."""
    write_tree(tmp_path, {"a.h": "one\n", "b.h": "two\n"})
    file_changes = changes([Edit(tmp_path / "a.h", 1, ("new a",)), Edit(tmp_path / "b.h", 1, ("new b",))])
    (tmp_path / "b.h").unlink()
    (tmp_path / "b.h").mkdir()
    (tmp_path / "b.h" / "keep").write_text("")
    with pytest.raises(UsageError, match="cannot write b.h"):
        write_changes(file_changes, tmp_path)
    assert (tmp_path / "a.h").read_text() == "one\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h", "b.h"]
