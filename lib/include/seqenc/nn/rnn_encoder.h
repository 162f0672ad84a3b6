// A GRU or LSTM encoder (the section's RNN column), packed by valid length so
// the backward direction starts at each sequence's last valid token.
#pragma once
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/rnn.h>

#include "seqenc/nn/dropout.h"
#include "seqenc/nn/encoder.h"

namespace seqenc {

class RnnEncoderImpl : public EncoderImpl {
 public:
  explicit RnnEncoderImpl(const EncoderOptions& options);
  static std::vector<std::string> problems(const EncoderOptions& options);
  static EncoderFacts facts();
  torch::Tensor encode(const torch::Tensor& embeddings, const torch::Tensor& valid_lens) override;
  void emit_torchscript(TorchScriptWriter& w, const std::string& path) const override;
  EncoderCost cost(int64_t n) const override;

  torch::nn::GRU gru{nullptr};
  torch::nn::LSTM lstm{nullptr};
  torch::nn::Linear projection{nullptr};  // 2 num_hiddens -> num_hiddens when bidirectional

 private:
  Dropout dropout_{nullptr};
};

}  // namespace seqenc
