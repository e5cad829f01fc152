// SPDX-License-Identifier: MIT
#include "gvt.h"

static void kvmgt_page_track_write(u64 gpa, const u8 *val, int len,
				   struct kvm_page_track_notifier_node *node)
{
	(void)gpa; (void)val; (void)len; (void)node;
}

int intel_gvt_page_track_add(struct intel_vgpu *info, u64 gfn)
{
	info->track_node.track_write = kvmgt_page_track_write;
	return kvm_write_track_add_gfn(info->kvm, gfn);
}
