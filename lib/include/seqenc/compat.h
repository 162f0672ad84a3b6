// The one place where LibTorch 1.13 and 2.x differ for seqenc.
#pragma once
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR >= 2
// 2.x ships a fused scaled_dot_product_attention (flash / memory-efficient kernels).
#define SEQENC_HAS_FUSED_SDPA 1
#else
#define SEQENC_HAS_FUSED_SDPA 0
#endif

// 2.4 made autocast's state per device type (set_autocast_enabled(kCPU, ...)) and deprecated the CPU-named calls.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define SEQENC_AUTOCAST_BY_DEVICE 1
#else
#define SEQENC_AUTOCAST_BY_DEVICE 0
#endif

namespace seqenc::compat {
inline constexpr int torch_major = TORCH_VERSION_MAJOR;
inline constexpr int torch_minor = TORCH_VERSION_MINOR;
inline constexpr bool has_fused_sdpa = SEQENC_HAS_FUSED_SDPA != 0;

// CPU autocast: whether it is on for this thread, its lower-precision dtype, and switching both.
inline bool cpu_autocast_enabled() {
#if SEQENC_AUTOCAST_BY_DEVICE
  return at::autocast::is_autocast_enabled(at::kCPU);
#else
  return at::autocast::is_cpu_enabled();
#endif
}
inline at::ScalarType cpu_autocast_dtype() {
#if SEQENC_AUTOCAST_BY_DEVICE
  return at::autocast::get_autocast_dtype(at::kCPU);
#else
  return at::autocast::get_autocast_cpu_dtype();
#endif
}
inline void set_cpu_autocast(bool enabled, at::ScalarType dtype) {
#if SEQENC_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(at::kCPU, enabled);
  at::autocast::set_autocast_dtype(at::kCPU, dtype);
#else
  at::autocast::set_cpu_enabled(enabled);
  at::autocast::set_autocast_cpu_dtype(dtype);
#endif
}
}  // namespace seqenc::compat
