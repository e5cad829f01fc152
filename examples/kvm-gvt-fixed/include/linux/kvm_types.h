#ifndef __KVM_TYPES_H__
#define __KVM_TYPES_H__

#include <linux/types.h>

struct kvm;
struct kvm_memory_slot;

#endif /* __KVM_TYPES_H__ */
