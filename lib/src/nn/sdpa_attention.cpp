#include "seqenc/nn/sdpa_attention.h"

#include <torch/torch.h>

#include "seqenc/compat.h"
#include "seqenc/nn/attention.h"

namespace seqenc {

bool sdpa_available() { return compat::has_fused_sdpa; }

torch::Tensor sdpa_attention(const torch::Tensor& queries, const torch::Tensor& keys, const torch::Tensor& values,
                             const torch::Tensor& valid_lens, double dropout) {
  if (!valid_lens.defined()) return compat::scaled_dot_product_attention(queries, keys, values, {}, dropout);
  const int64_t batch = queries.size(0), num_queries = queries.size(1), num_keys = keys.size(1);
  auto keep = valid_key_mask(valid_lens, batch, num_queries, num_keys, queries.device());  // (B, q or 1, k)
  const auto lens = valid_lens.to(queries.device(), torch::kLong).view({batch, -1});       // (B, q or 1)
  const auto empty = lens.le(0);
  if (!empty.any().item<bool>()) return compat::scaled_dot_product_attention(queries, keys, values, keep, dropout);
  keep = keep.logical_or(empty.unsqueeze(-1));
  const auto zeroed = queries * empty.logical_not().unsqueeze(-1).to(queries.scalar_type());
  return compat::scaled_dot_product_attention(zeroed, keys, values, keep, dropout);
}

}  // namespace seqenc
