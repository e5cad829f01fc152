/* SPDX-License-Identifier: MIT */
#ifndef _GVT_TRACE_H_
#define _GVT_TRACE_H_

#include <linux/types.h>

struct intel_vgpu;

void trace_inject_msi(int id, u32 address, u32 data);
void trace_spt_change(int id, const char *action, void *spt, unsigned long gfn, int type);

#endif /* _GVT_TRACE_H_ */
