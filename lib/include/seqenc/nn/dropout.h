// Dropout with a cheaper CPU mask. LibTorch 1.13's CPU bernoulli_ draws one
// generator value per element; this draws 16 random bits per element, three
// elements to one 64-bit draw, which halves the cost of dropout on attention
// weights (the largest tensors of a transformer step). Same contract as
// torch::nn::Dropout: zero with probability p, scale the rest by 1 / (1 - p).
#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

namespace seqenc {

torch::Tensor fast_dropout(const torch::Tensor& x, double p, bool training);

class DropoutImpl : public torch::nn::Cloneable<DropoutImpl> {
 public:
  explicit DropoutImpl(double p = 0.5);
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x) { return fast_dropout(x, p_, is_training()); }
  double p() const { return p_; }

 private:
  double p_;
};
TORCH_MODULE(Dropout);

}  // namespace seqenc
