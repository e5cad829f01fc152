"""The symbol index, on a small tree that reproduces Linux's kvm_page_track.h / gvt.h case."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from hdrtest.analysis import facts
from hdrtest.scan.attributes import blank_attributes
from hdrtest.scan.cindex import Definition, index_file
from hdrtest.scan.formula import TRUE, Defined, Not, evaluate, to_c
from hdrtest.scan.scancache import ScanCache
from hdrtest.scan.symbols import SymbolIndex
from hdrtest.scan.uses import tag_use_sites

WT = Defined("CONFIG_KVM_EXTERNAL_WRITE_TRACKING")

KVM_TYPES = """\
#ifndef __KVM_TYPES_H__
#define __KVM_TYPES_H__
struct kvm;
struct srcu_struct { int idx; };
struct hlist_head { struct hlist_node *first; };
struct hlist_node { struct hlist_node *next, **pprev; };
typedef unsigned long long gpa_t;
typedef unsigned char u8;
#endif
"""

KVM_HOST = """\
#ifndef __KVM_HOST_H
#define __KVM_HOST_H
#include <linux/kvm_types.h>
struct kvm_page_track_notifier_node;
struct kvm { int nr_memslots; };
#endif
"""

# The header as it was before the fix: the #else branch has only function stubs.
KVM_PAGE_TRACK = """\
/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_KVM_PAGE_TRACK_H
#define _ASM_X86_KVM_PAGE_TRACK_H

#include <linux/kvm_types.h>

#ifdef CONFIG_KVM_EXTERNAL_WRITE_TRACKING
struct kvm_page_track_notifier_head {
	struct srcu_struct track_srcu;
	struct hlist_head track_notifier_list;
};

struct kvm_page_track_notifier_node {
	struct hlist_node node;

	/* Called when the guest writes a tracked page. */
	void (*track_write)(gpa_t gpa, const u8 *new, int bytes,
			    struct kvm_page_track_notifier_node *node);
};

int kvm_page_track_register_notifier(struct kvm *kvm,
				     struct kvm_page_track_notifier_node *n);
void kvm_page_track_unregister_notifier(struct kvm *kvm,
					struct kvm_page_track_notifier_node *n);
#else
static inline int kvm_page_track_register_notifier(struct kvm *kvm,
						   struct kvm_page_track_notifier_node *n)
{
	return 0;
}

static inline void kvm_page_track_unregister_notifier(struct kvm *kvm,
						      struct kvm_page_track_notifier_node *n) {}
#endif /* CONFIG_KVM_EXTERNAL_WRITE_TRACKING */

#endif
"""

GVT = """\
#ifndef _GVT_H_
#define _GVT_H_
#include <linux/kvm_host.h>
#include <asm/kvm_page_track.h>

struct intel_vgpu {
	int id;
	struct kvm_page_track_notifier_node track_node;
	struct kvm *kvm;
};
#endif
"""


@pytest.fixture
def kvm_tree(tmp_path: Path) -> Path:
    files = {
        "include/linux/kvm_types.h": KVM_TYPES,
        "include/linux/kvm_host.h": KVM_HOST,
        "arch/x86/include/asm/kvm_page_track.h": KVM_PAGE_TRACK,
        "drivers/gpu/drm/i915/gvt/gvt.h": GVT,
    }
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def all_headers(root: Path) -> list[Path]:
    return sorted(root.rglob("*.h"))


def line_of(text: str, needle: str) -> int:
    return next(i + 1 for i, line in enumerate(text.split("\n")) if needle in line)


def test_kvm_page_track_definitions(kvm_tree: Path) -> None:
    index = SymbolIndex.build(all_headers(kvm_tree))
    track = str(kvm_tree / "arch/x86/include/asm/kvm_page_track.h")
    host = str(kvm_tree / "include/linux/kvm_host.h")

    structs = index.lookup("kvm_page_track_notifier_node", kinds=["struct"])
    complete = [d for d in structs if d.complete]
    forward = [d for d in structs if not d.complete]
    assert [(d.file, d.line, d.condition) for d in complete] == [
        (track, line_of(KVM_PAGE_TRACK, "struct kvm_page_track_notifier_node {"), WT)
    ]
    assert [(d.file, d.line, d.condition) for d in forward] == [
        (host, line_of(KVM_HOST, "struct kvm_page_track_notifier_node;"), TRUE)
    ]
    assert to_c(complete[0].condition) == "defined(CONFIG_KVM_EXTERNAL_WRITE_TRACKING)"
    assert {"hlist_node", "gpa_t", "u8"} <= complete[0].uses  # what following relevance needs
    assert complete[0].end_line == complete[0].line + 6

    register = index.lookup("kvm_page_track_register_notifier")
    by_kind = {d.kind: d for d in register}
    assert set(by_kind) == {"function-decl", "function"}
    decl, stub = by_kind["function-decl"], by_kind["function"]
    assert (decl.complete, decl.condition) == (False, WT)
    assert (stub.complete, stub.condition) == (True, Not(WT))
    assert stub.line == line_of(KVM_PAGE_TRACK, "static inline int kvm_page_track_register_notifier")
    assert stub.signature == (
        "static inline int kvm_page_track_register_notifier(struct kvm *kvm, struct kvm_page_track_notifier_node *n)"
    )
    assert stub.return_type == "int" and decl.return_type == "int"
    assert decl.signature == (
        "int kvm_page_track_register_notifier(struct kvm *kvm, struct kvm_page_track_notifier_node *n)"
    )
    unreg = index.lookup("kvm_page_track_unregister_notifier", kinds="function")
    assert [(d.condition, d.return_type) for d in unreg] == [(Not(WT), "void")]

    guard = index.lookup("_ASM_X86_KVM_PAGE_TRACK_H")
    assert [(d.kind, d.condition, d.line) for d in guard] == [("macro", TRUE, 3)]
    typedefs = index.lookup("gpa_t", kinds=["typedef"])
    assert typedefs and typedefs[0].signature == "typedef unsigned long long gpa_t;"


def test_index_conditions_predict_the_compiler(kvm_tree: Path) -> None:
    """gvt.h compiles alone exactly when the index says the struct is complete."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    gvt = kvm_tree / "drivers/gpu/drm/i915/gvt/gvt.h"
    index = SymbolIndex.build(all_headers(kvm_tree))
    uses = [t for t in tag_use_sites(gvt.read_bytes()) if t.name == "kvm_page_track_notifier_node"]
    assert uses and uses[0].by_value and uses[0].kind == "struct"
    complete = [d for d in index.lookup("kvm_page_track_notifier_node", ["struct"]) if d.complete]
    for config in ({}, {"CONFIG_KVM_EXTERNAL_WRITE_TRACKING": "1"}):
        cmd = ["gcc", "-fsyntax-only", "-I", "include", "-I", "arch/x86/include"]
        cmd += [f"-D{k}={v}" for k, v in config.items()] + ["-x", "c", os.devnull, "-include", str(gvt)]
        proc = subprocess.run(cmd, cwd=kvm_tree, capture_output=True, text=True)
        predicted = any(evaluate(d.condition, config) for d in complete)
        assert (proc.returncode == 0) == predicted, proc.stderr
        if not predicted:
            assert "incomplete type" in proc.stderr


def test_the_fix_makes_both_branches_complete(kvm_tree: Path) -> None:
    track = kvm_tree / "arch/x86/include/asm/kvm_page_track.h"
    fixed = KVM_PAGE_TRACK.replace("#else\n", "#else\nstruct kvm_page_track_notifier_node {};\n")
    defs = index_file(str(track), fixed.encode())
    complete = [d for d in defs if d.name == "kvm_page_track_notifier_node" and d.complete]
    assert [d.condition for d in complete] == [WT, Not(WT)]


def test_kernel_style_code_is_indexed_robustly(tmp_path: Path) -> None:
    text = b"""\
struct packed_thing {
\tint a;
\tstruct inner_tag { int q; } in;
} __packed;
struct __packed prefix_packed { int x; };
struct aligned_thing { long b; } __aligned(8);
static inline void __init setup_thing(struct packed_thing *t) { }
static inline __must_check int must(void) { return 0; }
extern int __printf(2, 3) log_it(int level, const char *fmt, ...);
static __always_inline unsigned long __ffs(unsigned long word) { return word; }
DECLARE_PER_CPU(int, cpu_var);
TRACE_EVENT(x, TP_STRUCT__entry(__field(int, v)), TP_fast_assign(__entry->v = v;), TP_printk("%d", 1))
int after_garbage(void);
typedef int (*cb_t)(struct cb_arg *);
typedef struct fwd fwd_t;
enum colour { RED = 1 << 0, GREEN = BIT(1) };
extern struct kvm *global_kvm;
int counter = 3;
void (*hook)(int);
const char **names(void);
#if 0
struct dead { int x; };
#endif
#ifdef __cplusplus
extern "C" { int in_c_linkage(void); }
#endif
"""
    defs = index_file("/abs/k.h", text)
    got = {(d.name, d.kind, d.complete) for d in defs}
    expected = {
        ("packed_thing", "struct", True),
        ("inner_tag", "struct", True),  # nested tags are file-scope in C
        ("prefix_packed", "struct", True),
        ("aligned_thing", "struct", True),
        ("setup_thing", "function", True),
        ("must", "function", True),
        ("log_it", "function-decl", False),
        ("__ffs", "function", True),
        ("after_garbage", "function-decl", False),
        ("cb_t", "typedef", True),
        ("fwd", "struct", False),
        ("fwd_t", "typedef", True),
        ("colour", "enum", True),
        ("RED", "enumerator", True),
        ("GREEN", "enumerator", True),
        ("kvm", "struct", False),
        ("global_kvm", "variable", False),
        ("counter", "variable", True),
        ("hook", "variable", True),
        ("names", "function-decl", False),
        ("in_c_linkage", "function-decl", False),
    }
    assert expected <= got
    names = {d.name for d in defs}
    assert not {"dead", "__packed", "__aligned", "__init"} & names  # dead code, attributes
    by_name = {d.name: d for d in defs}
    assert by_name["must"].return_type == "int"
    assert by_name["must"].signature == "static inline __must_check int must(void)"  # original text
    assert by_name["__ffs"].return_type == "unsigned long"
    assert by_name["names"].return_type == "const char **"
    assert by_name["setup_thing"].line == 7 and by_name["after_garbage"].line == 13
    assert "BIT" in by_name["GREEN"].uses
    assert by_name["in_c_linkage"].condition == Defined("__cplusplus")
    assert all(d.file == "/abs/k.h" for d in defs)


def test_blank_attributes_keeps_offsets() -> None:
    src = b"struct s { int a; } __attribute__((aligned(8),\n packed));\nint __must_check f(void);\n"
    out = blank_attributes(src)
    assert len(out) == len(src) and out.count(b"\n") == src.count(b"\n")
    assert b"__attribute__" not in out and b"__must_check" not in out
    assert out.startswith(b"struct s { int a; } ") and b"int " in out and b"f(void);" in out
    assert blank_attributes(b"__u32 x; int __user_thing;") == b"__u32 x; int __user_thing;"


def test_macros_are_definitions_with_uses(tmp_path: Path) -> None:
    text = (
        b"#define OBJ (BASE + 1)\n"
        b"#ifdef CONFIG_A\n"
        b"#define FN(x, y) helper((x), OTHER, y) /* comment NOTUSED */\n"
        b"#endif\n"
    )
    defs = {d.name: d for d in index_file("/m.h", text)}
    assert defs["OBJ"].uses == frozenset({"BASE"}) and defs["OBJ"].signature == "#define OBJ"
    fn = defs["FN"]
    assert fn.kind == "macro" and fn.condition == Defined("CONFIG_A")
    assert fn.uses == frozenset({"helper", "OTHER"})  # params and comments left out
    assert fn.signature == "#define FN(x, y)"
    assert fn.body == "helper((x), OTHER, y)"


def test_cache_by_content_hash(kvm_tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    headers = all_headers(kvm_tree)
    cold = SymbolIndex.build(headers, cache_dir=cache)
    assert (cold.stats.parsed, cold.stats.cached) == (len(headers), 0)
    stored = sorted(p for p in cache.rglob("*.pickle"))
    import hashlib

    # One file per content hash, where the symbols namespace keys it.
    assert stored == sorted(cold.cache_path(hashlib.sha256(h.read_bytes()).hexdigest()) for h in headers)
    assert not list(cache.rglob(".tmp-*"))  # atomic writes leave no temporaries

    warm = SymbolIndex.build(headers, cache_dir=cache)
    assert (warm.stats.parsed, warm.stats.cached) == (0, len(headers))
    for name in cold.names():
        assert warm.lookup(name) == cold.lookup(name)

    # Edit one file: only it is parsed again.
    gvt = kvm_tree / "drivers/gpu/drm/i915/gvt/gvt.h"
    gvt.write_text(GVT.replace("int id;", "int id;\n\tstruct new_tag *n;"))
    again = SymbolIndex.build(headers, cache_dir=cache)
    assert (again.stats.parsed, again.stats.cached) == (1, len(headers) - 1)
    assert "new_tag" in again.lookup("intel_vgpu", "struct")[0].uses

    # A damaged cache entry is recomputed, not trusted.
    victim = next(cache.rglob("*.pickle"))
    victim.write_bytes(b"not a pickle")
    repaired = SymbolIndex.build(headers, cache_dir=cache)
    assert repaired.stats.parsed == 1
    assert repaired.lookup("kvm_page_track_notifier_node") == cold.lookup("kvm_page_track_notifier_node")


def test_a_warm_build_reads_only_files_whose_stamp_moved(kvm_tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    headers = all_headers(kvm_tree)
    time.sleep(0.12)  # past the racy window: the stamps taken from now on vouch for the content
    cold = SymbolIndex.build(headers, cache_dir=cache)
    assert cold.stats.read == len(headers)
    warm = SymbolIndex.build(headers, cache_dir=cache)
    assert (warm.stats.read, warm.stats.cached) == (0, len(headers))
    assert {n: warm.lookup(n) for n in cold.names()} == {n: cold.lookup(n) for n in cold.names()}

    track = kvm_tree / "arch/x86/include/asm/kvm_page_track.h"
    track.write_text(track.read_text())  # the same text saved again: read, not parsed
    (kvm_tree / "drivers/gpu/drm/i915/gvt/gvt.h").write_text(GVT.replace("int id;", "int id;\n\tstruct new_tag *n;"))
    time.sleep(0.12)
    again = SymbolIndex.build(headers, cache_dir=cache)
    assert (again.stats.read, again.stats.parsed) == (2, 1)
    assert "new_tag" in again.lookup("intel_vgpu", "struct")[0].uses
    assert SymbolIndex.build(headers, cache_dir=cache).stats.read == 0


def test_facts_made_in_the_index_workers_are_the_serial_ones(kvm_tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    headers = all_headers(kvm_tree)
    time.sleep(0.12)  # past the racy window (graph.store.RACY_NS): a fresh file's worker read cannot be trusted
    index = SymbolIndex.build(headers, cache, jobs=2, companion=facts.FactsMaker(cache))
    assert (index.stats.parsed, index.stats.read) == (len(headers), len(headers) * 2)  # hashed, then parsed
    scans = ScanCache()
    for header in headers:
        data = header.read_bytes()
        _, scan, _ = scans.scan(str(header), data)
        digest = index.digest(header)
        assert digest is not None
        assert facts.load_uses(cache, digest) == facts.file_uses(data, scan, index.definitions_in(header))
    gvt = index.digest(kvm_tree / "drivers/gpu/drm/i915/gvt/gvt.h")
    assert gvt is not None
    assert ("kvm_page_track_notifier_node", "complete:struct") in {(u.name, u.need) for u in facts.load_uses(cache, gvt) or []}


def test_a_cached_file_without_stored_stamps_is_read_once(kvm_tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    headers = all_headers(kvm_tree)
    time.sleep(0.12)  # past the racy window: the hashing read's stamp vouches for the content
    SymbolIndex.build(headers, cache, jobs=2)
    # Another set of files has no stored stamps: each is read to find its digest, and that read is the only one.
    subset = SymbolIndex.build(headers[1:], cache, jobs=2)
    assert (subset.stats.read, subset.stats.cached) == (len(headers) - 1, len(headers) - 1)


def test_same_content_at_two_paths(tmp_path: Path) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "same.h").write_text("struct twin { int x; };\n")
    index = SymbolIndex.build([tmp_path / "a/same.h", tmp_path / "b/same.h"])
    assert index.stats.parsed == 1 and index.stats.cached == 1
    assert sorted(d.file for d in index.lookup("twin")) == [str(tmp_path / "a/same.h"), str(tmp_path / "b/same.h")]


def test_index_updates_and_skips_unreadable(kvm_tree: Path, tmp_path: Path) -> None:
    index = SymbolIndex()
    added = index.add_files([*all_headers(kvm_tree), tmp_path / "missing.h", kvm_tree / "include"])
    assert added == 4
    assert set(index.errors) == {str(tmp_path / "missing.h"), str(kvm_tree / "include")}
    assert len(index.files()) == 4
    host = kvm_tree / "include/linux/kvm_host.h"
    host.write_text("struct replaced { int r; };\n")
    index.add_files([host])
    assert index.lookup("kvm") == [d for d in index.lookup("kvm") if d.file != str(host)]
    assert [d.file for d in index.lookup("replaced")] == [str(host)]
    index.remove_file(host)
    assert index.lookup("replaced") == [] and "replaced" not in index
    restored = pickle.loads(pickle.dumps(index))
    assert restored.lookup("kvm_page_track_register_notifier") == index.lookup("kvm_page_track_register_notifier")
    assert isinstance(restored.lookup("gpa_t")[0], Definition)
    d = restored.lookup("gpa_t")[0]
    assert pickle.loads(pickle.dumps(d)) == d and hash(d) == hash(pickle.loads(pickle.dumps(d)))


def test_parallel_build_equals_serial(kvm_tree: Path, tmp_path: Path) -> None:
    for i in range(8):
        (kvm_tree / f"extra{i}.h").write_text(f"struct extra{i} {{ int v; }};\nint f{i}(void);\n")
    headers = all_headers(kvm_tree)
    serial = SymbolIndex.build(headers)
    parallel = SymbolIndex.build(headers, cache_dir=tmp_path / "c", jobs=2)
    assert parallel.stats.parsed == len(headers)
    assert sorted(parallel.names()) == sorted(serial.names())
    for name in serial.names():
        assert parallel.lookup(name) == serial.lookup(name)


@pytest.mark.slow
def test_real_system_headers_cold_and_warm(tmp_path: Path) -> None:
    root = Path("/usr/include/linux")
    if not root.is_dir():
        pytest.skip("no /usr/include/linux")
    headers = sorted(root.rglob("*.h"))
    cold = SymbolIndex.build(headers, cache_dir=tmp_path)
    warm = SymbolIndex.build(headers, cache_dir=tmp_path)
    assert warm.stats.parsed == 0 and warm.stats.cached == len(cold.files()) == len(headers)
    assert len(warm) == len(cold) > 10000
    # The uapi struct everyone knows is found complete, in the right file.
    (stat,) = [d for d in warm.lookup("statx", "struct") if d.complete]
    assert stat.file == str(root / "stat.h")


@pytest.mark.slow
@pytest.mark.linux
def test_linux_gvt_closure_index(tmp_path: Path) -> None:
    from test_scan_includes import compile_closure, linux_gvt_command

    from hdrtest.graph.includes import IncludeGraph
    from hdrtest.graph.resolve import SearchPath

    directory, flags = linux_gvt_command()
    gvt = directory / "drivers/gpu/drm/i915/gvt/gvt.h"
    search = SearchPath.from_flags(flags, directory)
    closure = compile_closure(IncludeGraph.build([gvt], search), search, gvt)
    index = SymbolIndex.build(closure, cache_dir=tmp_path, jobs=2)
    assert len(index.files()) == len(closure) and not index.errors
    complete = [d for d in index.lookup("kvm_page_track_notifier_node", "struct") if d.complete]
    assert any(d.condition == WT and d.file.endswith("asm/kvm_page_track.h") for d in complete)
    uses = [t for t in tag_use_sites(gvt.read_bytes()) if t.name == "kvm_page_track_notifier_node"]
    assert uses and uses[0].by_value
    # A few definitions every kernel header depends on.
    assert [d for d in index.lookup("list_head", "struct") if d.complete]
    assert any(d.kind == "typedef" for d in index.lookup("u32"))
    assert any(d.kind == "macro" for d in index.lookup("IS_ENABLED"))
    warm = SymbolIndex.build(closure, cache_dir=tmp_path)
    assert warm.stats.parsed == 0
