// LibTorch 2.x's own fused scaled_dot_product_attention (its flash CPU kernel where that applies), with the book's
// masked_softmax semantics: a third path beside the fused kernel and the reference (model.attention: sdpa).
#pragma once
#include <torch/types.h>

namespace seqenc {

// Whether this LibTorch has scaled_dot_product_attention (2.x).
bool sdpa_available();

// queries (B, q, d), keys (B, k, d), values (B, k, dv); valid_lens undefined, (B,) or (B, q) as masked_softmax
// takes them. Keys past a row's valid length take no part; a row of valid length 0 is uniform over all keys, as
// the book's replaced scores make it: its query is zeroed (all its scores equal, no gradient to the query or the
// keys) and every key kept. dropout: on the weights, from LibTorch's generator.
torch::Tensor sdpa_attention(const torch::Tensor& queries, const torch::Tensor& keys, const torch::Tensor& values,
                             const torch::Tensor& valid_lens, double dropout);

}  // namespace seqenc
