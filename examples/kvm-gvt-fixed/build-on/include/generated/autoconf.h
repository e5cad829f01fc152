/* Generated from .config (kvmgt on), as Kconfig's syncconfig would. */
#define CONFIG_KVM 1
#define CONFIG_KVM_EXTERNAL_WRITE_TRACKING 1
#define CONFIG_DRM_I915 1
#define CONFIG_DRM_I915_GVT 1
#define CONFIG_DRM_I915_GVT_KVMGT 1
