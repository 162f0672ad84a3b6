// The contract every sequence encoder follows, and the registry that builds
// encoders by name (as OpenNMT's encoders are chosen).
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>

#include "seqenc/choices.h"
#include "seqenc/error.h"

namespace seqenc {

class TorchScriptWriter;

enum class PosEncoding { sinusoidal, learned, relative, none };
enum class Activation { relu, gelu };
enum class Cell { gru, lstm };
// Which kernel computes attention: the fused memory-linear one (nn/fused_attention.h), the reference
// (the book's masked_softmax path, which keeps the weights), LibTorch 2.x's scaled_dot_product_attention
// (nn/sdpa_attention.h), or the one chosen for this machine (auto).
enum class AttentionKernel { automatic, fused, reference, sdpa };
// How an encoder is initialised and trained by default. book: the section's model exactly. default: what the
// measurements in docs/recipes.md chose, for each encoder.
enum class Recipe { standard, book };
SEQENC_CHOICES(Recipe, {Recipe::standard, "default"}, {Recipe::book, "book"});
SEQENC_CHOICES(PosEncoding, {PosEncoding::sinusoidal, "sinusoidal"}, {PosEncoding::learned, "learned"},
               {PosEncoding::relative, "relative"}, {PosEncoding::none, "none"});
SEQENC_CHOICES(Activation, {Activation::relu, "relu"}, {Activation::gelu, "gelu"});
SEQENC_CHOICES(Cell, {Cell::gru, "gru"}, {Cell::lstm, "lstm"});
SEQENC_CHOICES(AttentionKernel, {AttentionKernel::automatic, "auto"}, {AttentionKernel::fused, "fused"},
               {AttentionKernel::reference, "reference"}, {AttentionKernel::sdpa, "sdpa"});

// Everything needed to build any encoder; each encoder reads what it uses.
// The fields are the config's model.* keys.
struct EncoderOptions {
  std::string name = "transformer";  // a registered encoder (see encoder_names())
  int64_t vocab_size = 0;
  int64_t num_hiddens = 64;
  int64_t num_layers = 2;
  double dropout = 0.1;
  bool causal = false;  // output t depends on inputs <= t only (language modelling)
  int64_t max_len = 1000;
  // transformer
  int64_t num_heads = 4;
  int64_t ffn_num_hiddens = 128;
  PosEncoding pos_encoding = PosEncoding::sinusoidal;
  int64_t max_relative_position = 16;  // clipping distance for pos_encoding: relative
  bool attention_bias = false;
  bool pre_norm = false;
  AttentionKernel attention = AttentionKernel::automatic;
  Recipe recipe = Recipe::standard;
  // What the recipe decides (nullopt: auto), unless set alone (model.scaled_embeddings, model.drop_positions).
  std::optional<bool> scaled_embeddings, drop_positions;
  // cnn
  int64_t kernel_size = 3;  // odd
  bool dilated = false;     // dilation 1, 2, 4, ... per layer
  Activation activation = Activation::relu;
  // rnn
  Cell cell = Cell::gru;
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
  // Throws ModelError listing the problems every encoder shares; a derived
  // encoder's constructor checks its own with require(problems(options), options).
  explicit EncoderImpl(EncoderOptions options);
  ~EncoderImpl() override = default;

  // tokens int64 (B, n), valid_lens int64 (B,) -> (B, n, num_hiddens).
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& valid_lens);
  // Token ids -> input embeddings (B, n, num_hiddens), scaled by embedding_scale().
  torch::Tensor embed(const torch::Tensor& tokens);
  // Input embeddings -> states; the half of forward() that gradients are measured through.
  virtual torch::Tensor encode(const torch::Tensor& embeddings, const torch::Tensor& valid_lens) = 0;
  // What embed() multiplies token embeddings by (1 unless an encoder needs otherwise).
  virtual double embedding_scale() const { return 1.0; }

  // Writes encode() as TorchScript, its parameters under module path `path`: reads X (embedded, scaled) and the frame's
  // variables (see TorchScriptWriter), leaves the states in X. The default
  // throws ModelError: an encoder without it trains but cannot be exported.
  virtual void emit_torchscript(TorchScriptWriter& out, const std::string& path) const;

  virtual EncoderCost cost(int64_t n) const = 0;
  // Forward FLOPs of one sequence of n positions of which the first valid_len are valid, as a model-FLOPs count:
  // what its products and convolutions compute, attention over the keys each query keeps. By default cost(n)'s.
  virtual double forward_flops(int64_t n, int64_t /*valid_len*/) const { return cost(n).flops; }
  // Attention weights per block, (B, num_heads, n, n), of the last forward pass after
  // record_attention_weights(true); empty for an encoder without attention.
  virtual std::vector<torch::Tensor> attention_weights() const { return {}; }
  virtual void record_attention_weights(bool) {}
  // Which kernel computes its attention on `device` ("fused", "reference"); "" for an encoder without attention.
  virtual std::string attention_kernel(const torch::Device&) const { return ""; }
  int64_t num_parameters() const;
  const EncoderOptions& options() const { return options_; }
  // Throws ModelError naming the encoder and every problem, if there are any.
  static void require(const std::vector<std::string>& problems, const EncoderOptions& options);

  torch::nn::Embedding embedding{nullptr};

 protected:
  EncoderOptions options_;
};

using EncoderFactory = std::function<std::shared_ptr<EncoderImpl>(const EncoderOptions&)>;
// Problems of options that only this encoder knows, each "model.key: problem".
using EncoderValidator = std::function<std::vector<std::string>(const EncoderOptions&)>;

// What compare, analyze and the recipes need to know of an encoder, beyond what it computes.
struct EncoderFacts {
  // The section's table for one layer, as the section states it: the exponent of its computation in n and in d,
  // its sequential operations and maximum path length.
  std::string exponent_n = "?", exponent_d = "?", sequential_operations = "?", max_path_length = "?";
  bool in_default_comparison = false;  // trained by compare and analyze unless --encoders says otherwise
  bool attention = false;              // its layers attend: model.attention chooses their kernel
  bool path_in_steps = false;          // its path from the first to the last position runs through recurrent steps
                                       // of one layer (else through layers)
  // The variants analyze measures the path length of: (label, what differs from the base options).
  std::vector<std::pair<std::string, std::function<void(EncoderOptions&)>>> path_variants;
  // model.recipe: default's training settings ("train.lr", "0.003"), applied where the configuration sets none,
  // and one line each on what the default and book recipes build.
  std::vector<std::pair<std::string, std::string>> recipe_settings;
  std::string default_recipe_summary, book_recipe_summary;
};

struct EncoderSpec {
  EncoderFactory factory;
  EncoderValidator validator;
  EncoderFacts facts;
};

// Builds options.name after checking encoder_problems(options); an unknown name throws ModelError listing the known
// ones.
std::shared_ptr<EncoderImpl> make_encoder(const EncoderOptions& options);
std::vector<std::string> encoder_names();  // alphabetical
// The registry's entries in registration order (the built-in table's first).
std::vector<std::pair<std::string, EncoderSpec>> encoder_specs();
// The encoder's facts (defaults for an unknown name).
EncoderFacts encoder_facts(const std::string& name);
// The encoders compare and analyze train by default, in the built-in table's order.
std::vector<std::string> default_comparison();
// Adds an encoder to the registry (the built-in ones are registered already).
void register_encoder(const std::string& name, EncoderFactory factory, EncoderValidator validator = {},
                      EncoderFacts facts = {});

// Every problem of options, each "model.key: problem": the shared checks, then
// those registered for options.name. The one place encoder options are checked.
std::vector<std::string> encoder_problems(const EncoderOptions& options);

// (B, n) bool mask of valid positions.
torch::Tensor valid_positions(const torch::Tensor& valid_lens, int64_t n);
// Zeroes padded positions of (B, n, d) states.
torch::Tensor zero_padding(const torch::Tensor& states, const torch::Tensor& valid_lens);

}  // namespace seqenc
