// The one place where LibTorch 1.13 and 2.x differ for seqenc.
#pragma once
#include <torch/version.h>

#if TORCH_VERSION_MAJOR >= 2
// 2.x ships a fused scaled_dot_product_attention (flash / memory-efficient kernels).
#define SEQENC_HAS_FUSED_SDPA 1
#else
#define SEQENC_HAS_FUSED_SDPA 0
#endif

namespace seqenc::compat {
inline constexpr int torch_major = TORCH_VERSION_MAJOR;
inline constexpr int torch_minor = TORCH_VERSION_MINOR;
inline constexpr bool has_fused_sdpa = SEQENC_HAS_FUSED_SDPA != 0;
}  // namespace seqenc::compat
