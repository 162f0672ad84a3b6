// A fused, memory-linear CPU kernel for the book's scaled dot-product
// attention, forward and backward (FlashAttention-2 style): queries x keys in
// tiles small enough for L2, an online softmax, the forward keeping only the
// output and each row's softmax statistics (its log-sum-exp, as max and sum),
// the backward recomputing each tile's weights. No n x n tensor is ever stored.
//
// Semantics are the book's masked_softmax exactly: key j of query row i is
// kept when j < valid_lens[b, i]; masked scores are *replaced* (so a row of
// valid length 0 is uniform over all keys, padding included). Dropout on the
// weights runs inside the kernel from a counter-based generator keyed by
// (seed, row, column), so the backward regenerates the same mask whatever the
// tiling or thread order.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "seqenc/choices.h"

namespace seqenc {

// The vector instructions of the kernel's row work (softmax, dropout, rounding): the best this CPU runs, or a lower
// level, so that tests run each fallback on a machine that has them all. avx512 needs AVX-512 F, BW, DQ and VL.
enum class KernelSimd { best, scalar, avx2, avx512 };
SEQENC_CHOICES(KernelSimd, {KernelSimd::best, "best"}, {KernelSimd::scalar, "scalar"}, {KernelSimd::avx2, "avx2"},
               {KernelSimd::avx512, "avx512"});

struct FusedAttentionOptions {
  double dropout = 0;  // probability of zeroing a weight (kept ones scaled by 1 / (1 - p))
  // Seed of the dropout mask; < 0 draws one from the default CPU generator
  // (so torch::manual_seed makes runs reproducible, and a checkpoint's RNG state resumes them).
  int64_t seed = -1;
  KernelSimd simd = KernelSimd::best;  // a level this CPU lacks is a ModelError
};

// queries (BH, q, d), keys (BH, k, d), values (BH, k, dv), float, double or
// bfloat16 on the CPU; valid_lens undefined (no mask), (BH,) or (BH, q).
// Differentiable in queries, keys and values. Returns (BH, q, dv) of their
// dtype. bf16 inputs, or float ones inside a bf16 PrecisionScope
// (nn/precision.h), multiply in bf16 and accumulate in fp32; the softmax,
// its statistics and the output are fp32.
torch::Tensor fused_attention(const torch::Tensor& queries, const torch::Tensor& keys, const torch::Tensor& values,
                              const torch::Tensor& valid_lens, const FusedAttentionOptions& options = {});

// Whether the fused kernel takes these inputs (CPU, float, double or bfloat16); otherwise use the reference path.
bool fused_attention_supports(const torch::Tensor& queries);

// The SIMD levels this CPU runs, lowest first (scalar always), and the one KernelSimd::best picks.
std::vector<KernelSimd> fused_attention_simd_levels();
KernelSimd fused_attention_best_simd();

// The dropout mask the kernel applies for `seed`: (BH, q, k) of 0 and 1 / (1 - p). For tests.
torch::Tensor fused_attention_dropout_mask(int64_t seed, int64_t batch_heads, int64_t num_queries, int64_t num_keys,
                                           double dropout);

}  // namespace seqenc
