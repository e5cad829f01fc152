"""What a header refers to: identifiers and struct/union/enum tags."""

from __future__ import annotations

from hdrtest.scan.uses import TagUse, tag_use_sites, used_identifiers

HEADER = b"""\
#ifndef _GVT_H_
#define _GVT_H_
#include <linux/kvm_host.h>   /* not_an_identifier_from_a_comment */
#include "gvt/trace.h"
// line_comment_word
#ifdef CONFIG_DRM_I915_GVT
#define GVT_MAX(a, b) ((a) > (b) ? (a) : (b))
#endif
static const char banner[] = "string_word";
struct intel_vgpu {
\tstruct kvm_page_track_notifier_node track_node;
\tstruct kvm *kvm;
\tunion vgpu_state __attribute__((aligned(8))) state;
\tenum intel_gvt_plane plane;
\tstruct intel_vgpu_mmio { int n; } mmio[2];
\tu32 flags;
\tunsigned long hz = 0x1fULL + 10UL;
};
static inline bool intel_vgpu_active(struct intel_vgpu *v) { return v->flags & BIT(0); }
"""


def test_used_identifiers_skip_comments_strings_headers_and_keywords() -> None:
    ids = used_identifiers(HEADER)
    assert {
        "_GVT_H_",
        "CONFIG_DRM_I915_GVT",
        "GVT_MAX",
        "kvm_page_track_notifier_node",
        "kvm",
        "u32",
        "bool",
        "BIT",
        "intel_vgpu_active",
        "banner",
    } <= ids
    for absent in (
        "not_an_identifier_from_a_comment",
        "line_comment_word",
        "string_word",
        "linux",
        "kvm_host",
        "h",
        "trace",
        "include",
        "ifdef",
        "define",
        "endif",
        "struct",
        "static",
        "unsigned",
        "return",
        "__attribute__",
        "ULL",
        "UL",
        "x1fULL",
    ):
        assert absent not in ids, absent


def test_tag_uses_know_tags_by_kind() -> None:
    tags = {(t.kind, t.name) for t in tag_use_sites(HEADER)}
    assert {
        ("struct", "intel_vgpu"),
        ("struct", "kvm_page_track_notifier_node"),
        ("struct", "kvm"),
        ("union", "vgpu_state"),
        ("enum", "intel_gvt_plane"),
        ("struct", "intel_vgpu_mmio"),
    } <= tags
    assert ("struct", "u32") not in tags


def test_tag_use_sites_tell_value_from_pointer_and_definition() -> None:
    sites = {(t.name, t.line): t for t in tag_use_sites(HEADER)}
    assert sites[("kvm_page_track_notifier_node", 11)] == TagUse(
        "struct", "kvm_page_track_notifier_node", 11, defines=False, by_value=True
    )
    assert sites[("kvm", 12)].by_value is False  # a pointer needs no complete type
    assert sites[("vgpu_state", 13)].by_value is True
    assert sites[("intel_vgpu", 10)].defines is True
    assert sites[("intel_vgpu_mmio", 15)].defines and sites[("intel_vgpu_mmio", 15)].by_value  # an array
    assert sites[("intel_vgpu", 19)].by_value is False
