/* SPDX-License-Identifier: MIT */
/*
 * A miniature of drivers/gpu/drm/i915/gvt/gvt.h: the vGPU embeds a page-track
 * notifier node by value, so the type must be complete wherever gvt.h is compiled.
 */
#ifndef _GVT_H_
#define _GVT_H_

#include <linux/types.h>
#include <asm/kvm_page_track.h>

struct intel_gvt;

struct intel_vgpu {
	struct intel_gvt *gvt;
	int id;
	bool active;

	struct kvm *kvm;
	struct kvm_page_track_notifier_node track_node;
	struct list_head dmabuf_obj_list_head;
};

struct intel_gvt {
	struct intel_vgpu *vgpus[8];
	u32 num_vgpus;
};

int intel_gvt_page_track_add(struct intel_vgpu *info, u64 gfn);

#endif /* _GVT_H_ */
