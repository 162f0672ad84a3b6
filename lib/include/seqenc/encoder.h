// The contract every sequence encoder follows, and the registry that builds
// encoders by name (as OpenNMT's encoders are chosen).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>

namespace seqenc {

// Everything needed to build any encoder; each encoder reads what it uses.
struct EncoderOptions {
  std::string name = "transformer";  // transformer | cnn | rnn (see encoder_names())
  int64_t vocab_size = 0;
  int64_t num_hiddens = 64;
  int64_t num_layers = 2;
  double dropout = 0.1;
  bool causal = false;  // output t depends on inputs <= t only (language modelling)
  int64_t max_len = 1000;
  // transformer
  int64_t num_heads = 4;
  int64_t ffn_num_hiddens = 128;
  std::string pos_encoding = "sinusoidal";  // sinusoidal | learned | relative | none
  int64_t max_relative_position = 16;       // clipping distance for pos_encoding: relative
  bool attention_bias = false;
  bool pre_norm = false;
  // cnn
  int64_t kernel_size = 3;  // odd
  bool dilated = false;     // dilation 1, 2, 4, ... per layer
  std::string activation = "relu";  // relu | gelu
  // rnn
  std::string cell = "gru";  // gru | lstm
  bool bidirectional = false;
};

// The section's comparison, for one encoder at sequence length n.
struct EncoderCost {
  double flops = 0;              // forward FLOPs per sequence: 2 x multiply-adds of products/convolutions
  int64_t sequential_steps = 0;  // operations that must run one after another
  int64_t reach_before = 0;      // how many earlier positions output t can depend on
  int64_t reach_after = 0;       // how many later positions output t can depend on
  int64_t max_path_length = 0;   // layer/step hops from position 0 to position n - 1
  bool connects_all = false;     // output n - 1 depends on input 0 with this many layers
};

// (tokens or embeddings, valid_lens) -> states. Outputs at valid positions, and
// anything pooled from them, never depend on padded positions; padded output
// positions are zero.
class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(EncoderOptions options);
  ~EncoderImpl() override = default;

  // tokens int64 (B, n), valid_lens int64 (B,) -> (B, n, num_hiddens).
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& valid_lens);
  // Token ids -> input embeddings (B, n, num_hiddens), scaled as the encoder needs.
  virtual torch::Tensor embed(const torch::Tensor& tokens);
  // Input embeddings -> states; the half of forward() that gradients are measured through.
  virtual torch::Tensor encode(const torch::Tensor& embeddings, const torch::Tensor& valid_lens) = 0;

  virtual EncoderCost cost(int64_t n) const = 0;
  int64_t num_parameters() const;
  const EncoderOptions& options() const { return options_; }

  torch::nn::Embedding embedding{nullptr};

 protected:
  EncoderOptions options_;
};

using EncoderFactory = std::function<std::shared_ptr<EncoderImpl>(const EncoderOptions&)>;

// Builds options.name; an unknown name throws std::invalid_argument listing the known ones.
std::shared_ptr<EncoderImpl> make_encoder(const EncoderOptions& options);
std::vector<std::string> encoder_names();
// Adds an encoder to the registry (the built-in ones are registered already).
void register_encoder(const std::string& name, EncoderFactory factory);

// (B, n) bool mask of valid positions.
torch::Tensor valid_positions(const torch::Tensor& valid_lens, int64_t n);
// Zeroes padded positions of (B, n, d) states.
torch::Tensor zero_padding(const torch::Tensor& states, const torch::Tensor& valid_lens);

}  // namespace seqenc
