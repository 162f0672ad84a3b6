// The book's transformer encoder (D2L 11.7) on the attention core, with the
// positional encodings of 11.6 and its exercises.
#pragma once
#include <string>
#include <vector>

#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "seqenc/nn/attention.h"
#include "seqenc/nn/encoder.h"
#include "seqenc/nn/positional_encoding.h"

namespace seqenc {

// Linear(d -> ffn) + ReLU + Linear(ffn -> d).
class PositionWiseFFNImpl : public torch::nn::Module {
 public:
  PositionWiseFFNImpl(int64_t num_hiddens, int64_t ffn_num_hiddens);
  torch::Tensor forward(const torch::Tensor& X);
  // TorchScript expression of forward(x), parameters under module path `path`.
  std::string torchscript(const std::string& x, const std::string& path) const;
  torch::nn::Linear dense1{nullptr}, dense2{nullptr};
};
TORCH_MODULE(PositionWiseFFN);

// LayerNorm(X + Dropout(Y)), the book's post-norm residual.
class AddNormImpl : public torch::nn::Module {
 public:
  AddNormImpl(int64_t num_hiddens, double dropout);
  torch::Tensor forward(const torch::Tensor& X, const torch::Tensor& Y);
  torch::nn::LayerNorm ln{nullptr};

 private:
  Dropout dropout_{nullptr};
};
TORCH_MODULE(AddNorm);

// MultiHeadAttention + AddNorm + PositionWiseFFN + AddNorm (post-norm), or the
// pre-norm arrangement X + Dropout(f(LayerNorm(X))).
class TransformerEncoderBlockImpl : public torch::nn::Module {
 public:
  TransformerEncoderBlockImpl(const EncoderOptions& options);
  torch::Tensor forward(const torch::Tensor& X, const torch::Tensor& valid_lens);
  // X = this(X, lens) in TorchScript, parameters under module path `path`.
  void emit_torchscript(TorchScriptWriter& w, const std::string& path) const;
  MultiHeadAttention attention{nullptr};
  AddNorm addnorm1{nullptr}, addnorm2{nullptr};
  PositionWiseFFN ffn{nullptr};

 private:
  bool pre_norm_;
  Dropout dropout_{nullptr};
};
TORCH_MODULE(TransformerEncoderBlock);

class TransformerEncoderImpl : public EncoderImpl {
 public:
  explicit TransformerEncoderImpl(const EncoderOptions& options);
  static std::vector<std::string> problems(const EncoderOptions& options);
  static EncoderFacts facts();
  double embedding_scale() const override;  // sqrt(num_hiddens), the book's
  torch::Tensor encode(const torch::Tensor& embeddings, const torch::Tensor& valid_lens) override;
  void emit_torchscript(TorchScriptWriter& w, const std::string& path) const override;
  EncoderCost cost(int64_t n) const override;
  double forward_flops(int64_t n, int64_t valid_len) const override;
  // Per block, (B, num_heads, n, n) weights of the last forward pass; record them first (fused attention keeps none).
  std::vector<torch::Tensor> attention_weights() const override;
  void record_attention_weights(bool record) override;
  std::string attention_kernel(const torch::Device& device) const override;
  // Whether attention on queries like these (device, dtype) runs the fused kernel.
  bool uses_fused_attention(const torch::Tensor& queries) const;

  std::vector<TransformerEncoderBlock> blocks;

 private:
  // The book drops out X + P; the default recipe only X, so that position always arrives.
  bool drops_positions() const { return options().drop_positions.value_or(options().recipe == Recipe::book); }
  torch::nn::AnyModule pos_encoding_;  // empty for none and relative
  Dropout dropout_{nullptr};
  torch::nn::LayerNorm final_norm_{nullptr};  // pre-norm only
};

}  // namespace seqenc
