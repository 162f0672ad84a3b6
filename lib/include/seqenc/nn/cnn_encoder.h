// A stack of 1-D convolutions (the section's CNN column): same-length output,
// residual connections and LayerNorm, optionally dilated or causal.
#pragma once
#include <vector>

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>

#include "seqenc/nn/dropout.h"
#include "seqenc/nn/encoder.h"

namespace seqenc {

class CnnEncoderImpl : public EncoderImpl {
 public:
  explicit CnnEncoderImpl(const EncoderOptions& options);
  static std::vector<std::string> problems(const EncoderOptions& options);
  static EncoderFacts facts();
  torch::Tensor encode(const torch::Tensor& embeddings, const torch::Tensor& valid_lens) override;
  void emit_torchscript(TorchScriptWriter& w, const std::string& path) const override;
  EncoderCost cost(int64_t n) const override;
  int64_t dilation(int64_t layer) const;
  int64_t padding(int64_t layer) const;
  // Positions reached on one side (both sides, or the left when causal) by the whole stack.
  int64_t receptive_radius() const;

  std::vector<torch::nn::Conv1d> convs;
  std::vector<torch::nn::LayerNorm> norms;

 private:
  Dropout dropout_{nullptr};
};

}  // namespace seqenc
