// The attention core of D2L 11.3-11.6: masked softmax, scaled dot-product
// attention and multi-head attention, with the book's valid_lens semantics.
#pragma once
#include <string>

#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "seqenc/nn/dropout.h"
#include "seqenc/nn/encoder.h"
#include "seqenc/nn/torchscript.h"

namespace seqenc {

// "" if num_hiddens splits into num_heads equal heads, else "model.key: problem".
std::string head_split_problem(int64_t num_hiddens, int64_t num_heads);

// Value given to masked scores before the softmax. Finite on purpose (the
// book's choice): a row whose valid length is 0 becomes uniform, not NaN.
inline constexpr double kMaskedScore = -1e6;

// Softmax over the last axis of X (batch, queries, keys), ignoring key
// positions at or beyond the valid length. valid_lens may be undefined (no
// mask), 1-D (batch,) shared by all queries, or 2-D (batch, queries).
torch::Tensor masked_softmax(const torch::Tensor& X, const torch::Tensor& valid_lens);

// Boolean (batch, queries, keys) mask of the positions masked_softmax keeps.
torch::Tensor valid_key_mask(const torch::Tensor& valid_lens, int64_t batch, int64_t num_queries, int64_t num_keys,
                             const torch::Device& device);

// Causal valid_lens: query t of example b sees keys [0, min(t + 1, valid_lens[b])).
torch::Tensor causal_valid_lens(const torch::Tensor& valid_lens, int64_t num_queries);

// Scaled dot-product attention softmax(Q K^T / sqrt(d)) V with dropout on the
// weights. This is the single place attention is computed: by the fused kernel
// (nn/fused_attention.h) where it applies, else by the reference path, which
// also keeps the weights. `auto` takes the fused kernel unless weights are
// being recorded, relative positions are used or the tensors are not on the CPU.
class DotProductAttentionImpl : public torch::nn::Module {
 public:
  explicit DotProductAttentionImpl(double dropout = 0.0, AttentionKernel kernel = AttentionKernel::automatic);
  // queries (B, q, d), keys (B, k, d), values (B, k, v). rel_keys and
  // rel_values, when defined, are (q, k, d) relative-position tables
  // (Shaw et al. 2018) added to the keys in the scores and to the values.
  torch::Tensor forward(const torch::Tensor& queries, const torch::Tensor& keys, const torch::Tensor& values,
                        const torch::Tensor& valid_lens = {}, const torch::Tensor& rel_keys = {},
                        const torch::Tensor& rel_values = {});

  // Weights of the last forward pass, before dropout, detached (B, q, k); undefined when the fused kernel ran.
  const torch::Tensor& attention_weights() const { return attention_weights_; }
  // Keep the weights of every forward pass (forces the reference path; analyze's attention maps use it).
  void record_weights(bool record) { record_weights_ = record; }
  // The kernel forward() runs on these queries (and relative tables): fused, sdpa or reference.
  AttentionKernel kernel_for(const torch::Tensor& queries, bool relative) const;
  bool uses_fused(const torch::Tensor& queries, bool relative) const {
    return kernel_for(queries, relative) == AttentionKernel::fused;
  }

 private:
  Dropout dropout_{nullptr};
  AttentionKernel kernel_;
  bool record_weights_ = false;
  torch::Tensor attention_weights_;
};
TORCH_MODULE(DotProductAttention);

// Multi-head attention with the book's head split: (B, n, num_hiddens) ->
// (B * num_heads, n, num_hiddens / num_heads), valid_lens repeated per head.
// max_relative_position > 0 adds learned relative position representations
// for clipped offsets in [-max, max] (Shaw et al. 2018; the section's exercise 3).
class MultiHeadAttentionImpl : public torch::nn::Module {
 public:
  MultiHeadAttentionImpl(int64_t num_hiddens, int64_t num_heads, double dropout, bool bias = false,
                         int64_t max_relative_position = 0, AttentionKernel kernel = AttentionKernel::automatic);

  torch::Tensor forward(const torch::Tensor& queries, const torch::Tensor& keys, const torch::Tensor& values,
                        const torch::Tensor& valid_lens = {});

  // Weights of the last forward pass, (B, num_heads, q, k); kept only by the reference path (see record_weights).
  torch::Tensor attention_weights() const;
  void record_weights(bool record) { attention_->record_weights(record); }
  bool uses_fused(const torch::Tensor& queries) const {
    return attention_->uses_fused(queries, max_relative_position_ > 0);
  }
  AttentionKernel kernel_for(const torch::Tensor& queries) const {
    return attention_->kernel_for(queries, max_relative_position_ > 0);
  }

  // TorchScript for out = this(x, x, x, lens), parameters under module path `path`.
  void emit_torchscript(TorchScriptWriter& w, const std::string& path, const std::string& x, const std::string& lens,
                        const std::string& out) const;

  int64_t num_hiddens() const { return num_hiddens_; }
  int64_t num_heads() const { return num_heads_; }
  int64_t max_relative_position() const { return max_relative_position_; }

  torch::nn::Linear W_q{nullptr}, W_k{nullptr}, W_v{nullptr}, W_o{nullptr};
  torch::nn::Embedding rel_keys{nullptr}, rel_values{nullptr};

 private:
  torch::Tensor transpose_qkv(const torch::Tensor& X) const;
  torch::Tensor transpose_output(const torch::Tensor& X) const;
  torch::Tensor relative_table(const torch::nn::Embedding& table, int64_t nq, int64_t nk) const;

  int64_t num_hiddens_, num_heads_, max_relative_position_;
  DotProductAttention attention_{nullptr};
};
TORCH_MODULE(MultiHeadAttention);

}  // namespace seqenc
