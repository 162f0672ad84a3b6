#include "seqenc/nn/transformer_encoder.h"

#include <cmath>

#include "seqenc/nn/linear.h"

namespace seqenc {

PositionWiseFFNImpl::PositionWiseFFNImpl(int64_t num_hiddens, int64_t ffn_num_hiddens)
    : dense1(register_module("dense1", torch::nn::Linear(num_hiddens, ffn_num_hiddens))),
      dense2(register_module("dense2", torch::nn::Linear(ffn_num_hiddens, num_hiddens))) {}

torch::Tensor PositionWiseFFNImpl::forward(const torch::Tensor& X) {
  return linear(dense2, torch::relu(linear(dense1, X)));
}

std::string PositionWiseFFNImpl::torchscript(const std::string& x, const std::string& path) const {
  const auto hidden = "torch.relu(" + TorchScriptWriter::linear(x, *dense1, path + ".dense1") + ")";
  return TorchScriptWriter::linear(hidden, *dense2, path + ".dense2");
}

AddNormImpl::AddNormImpl(int64_t num_hiddens, double dropout)
    : ln(register_module("ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({num_hiddens})))),
      dropout_(register_module("dropout", Dropout(dropout))) {}

torch::Tensor AddNormImpl::forward(const torch::Tensor& X, const torch::Tensor& Y) { return ln(X + dropout_(Y)); }

TransformerEncoderBlockImpl::TransformerEncoderBlockImpl(const EncoderOptions& o) : pre_norm_(o.pre_norm) {
  const int64_t max_rel = o.pos_encoding == PosEncoding::relative ? o.max_relative_position : 0;
  attention = register_module(
      "attention", MultiHeadAttention(o.num_hiddens, o.num_heads, o.dropout, o.attention_bias, max_rel, o.attention));
  addnorm1 = register_module("addnorm1", AddNorm(o.num_hiddens, o.dropout));
  ffn = register_module("ffn", PositionWiseFFN(o.num_hiddens, o.ffn_num_hiddens));
  addnorm2 = register_module("addnorm2", AddNorm(o.num_hiddens, o.dropout));
  dropout_ = register_module("dropout", Dropout(o.dropout));
}

torch::Tensor TransformerEncoderBlockImpl::forward(const torch::Tensor& X, const torch::Tensor& valid_lens) {
  if (!pre_norm_) {
    auto Y = addnorm1(X, attention(X, X, X, valid_lens));
    return addnorm2(Y, ffn(Y));
  }
  auto h = addnorm1->ln(X);
  auto Y = X + dropout_(attention(h, h, h, valid_lens));
  return Y + dropout_(ffn(addnorm2->ln(Y)));
}

void TransformerEncoderBlockImpl::emit_torchscript(TorchScriptWriter& w, const std::string& path) const {
  const auto ln1 = path + ".addnorm1.ln", ln2 = path + ".addnorm2.ln";
  if (!pre_norm_) {
    attention->emit_torchscript(w, path + ".attention", "X", "lens", "Y");
    w.line("Y = " + TorchScriptWriter::layer_norm("X + Y", *addnorm1->ln, ln1));
    w.line("F = " + ffn->torchscript("Y", path + ".ffn"));
    w.line("X = " + TorchScriptWriter::layer_norm("Y + F", *addnorm2->ln, ln2));
    return;
  }
  w.line("H = " + TorchScriptWriter::layer_norm("X", *addnorm1->ln, ln1));
  attention->emit_torchscript(w, path + ".attention", "H", "lens", "A");
  w.line("Y = X + A");
  w.line("H = " + TorchScriptWriter::layer_norm("Y", *addnorm2->ln, ln2));
  w.line("X = Y + " + ffn->torchscript("H", path + ".ffn"));
}

std::vector<std::string> TransformerEncoderImpl::problems(const EncoderOptions& o) {
  std::vector<std::string> p;
  if (auto problem = head_split_problem(o.num_hiddens, o.num_heads); !problem.empty()) p.push_back(problem);
  if (o.ffn_num_hiddens <= 0) p.push_back("model.ffn_num_hiddens: must be > 0");
  if (o.pos_encoding == PosEncoding::relative && o.max_relative_position <= 0) {
    p.push_back("model.max_relative_position: must be > 0 for relative positions");
  }
  if (o.pos_encoding == PosEncoding::relative && o.attention == AttentionKernel::fused) {
    p.push_back(
        "model.attention: the fused kernel has no relative positions; use auto (which routes them to the "
        "reference path) or reference");
  }
  return p;
}

TransformerEncoderImpl::TransformerEncoderImpl(const EncoderOptions& o) : EncoderImpl(o) {
  require(problems(o), o);
  const double position_dropout = drops_positions() ? o.dropout : 0.0;
  if (o.pos_encoding == PosEncoding::sinusoidal) {
    pos_encoding_ = torch::nn::AnyModule(
        register_module("pos_encoding", PositionalEncoding(o.num_hiddens, position_dropout, o.max_len)));
  } else if (o.pos_encoding == PosEncoding::learned) {
    pos_encoding_ = torch::nn::AnyModule(
        register_module("pos_encoding", LearnedPositionalEncoding(o.num_hiddens, position_dropout, o.max_len)));
  }
  dropout_ = register_module("dropout", Dropout(o.dropout));
  for (int64_t i = 0; i < o.num_layers; ++i) {
    blocks.push_back(register_module("block" + std::to_string(i), TransformerEncoderBlock(o)));
  }
  if (o.scaled_embeddings.value_or(o.recipe == Recipe::standard)) {
    // The book draws embeddings from N(0, 1) and scales them by sqrt(d): each component ~N(0, d), against
    // positional values in [-1, 1], so position is drowned by content. N(0, 1/d) makes the scaled
    // embeddings ~N(0, 1), on the positional encoding's scale (fairseq's initialisation).
    torch::NoGradGuard no_grad;
    embedding->weight.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(o.num_hiddens)));
  }
  if (o.pre_norm) {
    final_norm_ = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.num_hiddens})));
  }
}

// P lies in [-1, 1]; scaling keeps embeddings from being drowned by it.
double TransformerEncoderImpl::embedding_scale() const { return std::sqrt(static_cast<double>(options_.num_hiddens)); }

torch::Tensor TransformerEncoderImpl::encode(const torch::Tensor& embeddings, const torch::Tensor& valid_lens) {
  const int64_t n = embeddings.size(1);
  check_sequence_length(n, options_.max_len);
  torch::Tensor X;
  if (pos_encoding_.is_empty()) {
    X = dropout_(embeddings);
  } else {
    X = pos_encoding_.forward(drops_positions() ? embeddings : dropout_(embeddings));
  }
  auto lens = options_.causal ? causal_valid_lens(valid_lens.to(X.device()), n) : valid_lens.to(X.device());
  for (auto& block : blocks) X = block(X, lens);
  if (options_.pre_norm) X = final_norm_(X);
  return zero_padding(X, valid_lens);
}

double TransformerEncoderImpl::forward_flops(int64_t n, int64_t valid_len) const {
  const double d = static_cast<double>(options_.num_hiddens), f = static_cast<double>(options_.ffn_num_hiddens);
  const double nn = static_cast<double>(n), L = static_cast<double>(std::clamp<int64_t>(valid_len, 0, n));
  // Query-key pairs attention computes: every query row (padding too) over its kept keys.
  const double pairs = options_.causal ? L * (L + 1) / 2 + (nn - L) * L : nn * L;
  double per_layer = 4 * 2 * nn * d * d                                                  // W_q, W_k, W_v, W_o
                     + 2 * 2 * pairs * d                                                 // Q K^T and weights x V
                     + 2 * 2 * nn * d * f;                                               // position-wise FFN
  if (options_.pos_encoding == PosEncoding::relative) per_layer += 2 * 2 * pairs * d;  // q . a^K and w . a^V
  return per_layer * static_cast<double>(options_.num_layers);
}

EncoderCost TransformerEncoderImpl::cost(int64_t n) const {
  const double d = static_cast<double>(options_.num_hiddens), f = static_cast<double>(options_.ffn_num_hiddens);
  const double nn = static_cast<double>(n);
  double per_layer = 4 * 2 * nn * d * d                                                  // W_q, W_k, W_v, W_o
                     + 2 * 2 * nn * nn * d                                               // Q K^T and weights x V
                     + 2 * 2 * nn * d * f;                                               // position-wise FFN
  if (options_.pos_encoding == PosEncoding::relative) per_layer += 2 * 2 * nn * nn * d;  // q . a^K and w . a^V
  EncoderCost c;
  c.flops = per_layer * static_cast<double>(options_.num_layers);
  c.sequential_steps = options_.num_layers;
  c.reach_before = n - 1;
  c.reach_after = options_.causal ? 0 : n - 1;
  c.max_path_length = n > 1 ? 1 : 0;
  c.connects_all = true;
  return c;
}

void TransformerEncoderImpl::emit_torchscript(TorchScriptWriter& w, const std::string& path) const {
  const auto& o = options_;
  if (o.pos_encoding == PosEncoding::sinusoidal) {
    w.line("X = X + " + TorchScriptWriter::attr(path + ".pos_encoding", "P") + "[:, :n, :].to(X.dtype)");
  } else if (o.pos_encoding == PosEncoding::learned) {
    w.line("X = X + torch.embedding(" + TorchScriptWriter::attr(path + ".pos_encoding.table", "weight") +
           ", positions).unsqueeze(0)");
  }
  if (o.causal) {
    w.line("lens = torch.minimum(torch.arange(1, n + 1, device=tokens.device).unsqueeze(0), valid_lens.unsqueeze(1))");
  } else {
    w.line("lens = valid_lens");
  }
  for (size_t i = 0; i < blocks.size(); ++i) blocks[i]->emit_torchscript(w, path + ".block" + std::to_string(i));
  if (o.pre_norm) w.line("X = " + TorchScriptWriter::layer_norm("X", *final_norm_, path + ".final_norm"));
  w.line("X = X * valid.unsqueeze(-1).to(X.dtype)");
}

void TransformerEncoderImpl::record_attention_weights(bool record) {
  for (auto& block : blocks) block->attention->record_weights(record);
}

bool TransformerEncoderImpl::uses_fused_attention(const torch::Tensor& queries) const {
  return blocks.front()->attention->uses_fused(queries);
}

std::string TransformerEncoderImpl::attention_kernel(const torch::Device& device) const {
  return uses_fused_attention(torch::empty({0}, torch::device(device))) ? "fused" : "reference";
}

EncoderFacts TransformerEncoderImpl::facts() {
  EncoderFacts f;
  f.exponent_n = "2 (O(n²d))";
  f.exponent_d = "1 (O(n²d)), 2 from the projections (O(nd²))";
  f.sequential_operations = "O(1)";
  f.max_path_length = "O(1)";
  f.in_default_comparison = true;
  f.path_variants = {{"transformer", [](EncoderOptions&) {}}};
  // Measured in docs/recipes.md: with the book's settings a transformer learns local structure too slowly to
  // show it in the budget a CNN needs; a larger step and no dropout do, on local and long-range tasks alike.
  f.recipe_settings = {{"train.lr", "0.003"}, {"model.dropout", "0"}};
  f.default_recipe_summary = "token embeddings N(0, 1/d), positions never dropped";
  f.book_recipe_summary = "the section's model";
  return f;
}

std::vector<torch::Tensor> TransformerEncoderImpl::attention_weights() const {
  std::vector<torch::Tensor> weights;
  for (const auto& block : blocks) weights.push_back(block->attention->attention_weights());
  return weights;
}

}  // namespace seqenc
