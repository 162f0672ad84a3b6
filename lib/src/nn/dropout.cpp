#include "seqenc/nn/dropout.h"

#include "seqenc/error.h"
#include <cmath>

#include <torch/torch.h>

namespace seqenc {

DropoutImpl::DropoutImpl(double p) : p_(p) {
  if (p < 0 || p >= 1) throw ModelError("dropout probability must be in [0, 1), got " + std::to_string(p));
}

torch::Tensor fast_dropout(const torch::Tensor& x, double p, bool training) {
  if (!training || p == 0 || x.numel() == 0) return x;
  if (!x.is_cpu()) return torch::dropout(x, p, true);  // GPUs have a fast fused kernel
  const int64_t n = x.numel(), words = (n + 2) / 3;
  // 48 random bits per draw, read as three 16-bit lanes (little-endian: the top lane is zero).
  auto bits = torch::randint(0, int64_t{1} << 48, {words}, torch::dtype(torch::kLong));
  auto lanes = bits.view(torch::kInt16).view({words, 4}).narrow(1, 0, 3).reshape({-1}).narrow(0, 0, n);
  const long dropped = std::lround(p * 65536.0);  // of 65536 lane values
  if (dropped >= 65536) return x * 0;
  auto keep = lanes.ge(static_cast<int16_t>(-32768 + dropped)).view(x.sizes());
  // The kept share is exactly (65536 - dropped) / 65536: scaling by its inverse keeps the expectation.
  return x * keep.to(x.scalar_type()) * (65536.0 / static_cast<double>(65536 - dropped));
}

}  // namespace seqenc
