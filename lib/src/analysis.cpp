#include "seqenc/analysis.h"

namespace seqenc {

Reach measure_reach(EncoderImpl& encoder, int64_t n, int64_t position, uint64_t seed) {
  encoder.eval();
  auto gen = at::detail::createCPUGenerator(seed);
  auto X = at::randn({1, n, encoder.options().num_hiddens}, gen).requires_grad_(true);
  auto states = encoder.encode(X, torch::tensor({n}));
  // A random projection: a plain sum of a LayerNorm output is constant, with zero gradient.
  auto direction = at::randn({encoder.options().num_hiddens}, gen);
  (states.select(1, position) * direction).sum().backward();
  auto touched = X.grad().abs().sum(-1).squeeze(0) > 0;  // (n,)
  auto idx = torch::nonzero(touched).flatten();
  Reach r;
  if (idx.numel() == 0) return r;
  r.before = position - idx.min().item<int64_t>();
  r.after = idx.max().item<int64_t>() - position;
  return r;
}

}  // namespace seqenc
