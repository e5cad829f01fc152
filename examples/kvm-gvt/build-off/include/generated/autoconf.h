/* Generated from a .config with CONFIG_DRM_I915_GVT_KVMGT off, so nothing selects external write tracking. */
#define CONFIG_KVM 1
#define CONFIG_DRM_I915 1
