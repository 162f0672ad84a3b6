#include "seqenc/nn/rnn_encoder.h"

#include <fmt/format.h>

#include "seqenc/nn/linear.h"
#include "seqenc/nn/torchscript.h"
#include "seqenc/strings.h"

namespace seqenc {

EncoderFacts RnnEncoderImpl::facts() {
  EncoderFacts f;
  f.exponent_n = "1 (O(nd²))";
  f.exponent_d = "2";
  f.sequential_operations = "O(n)";
  f.max_path_length = "O(n)";
  f.in_default_comparison = true;
  f.path_in_steps = true;
  f.path_variants = {{"rnn", [](EncoderOptions&) {}}};
  return f;
}

std::vector<std::string> RnnEncoderImpl::problems(const EncoderOptions& o) {
  if (o.causal && o.bidirectional) {
    return {"model.bidirectional: must be false for a causal model (a causal RNN runs unidirectionally)"};
  }
  return {};
}

RnnEncoderImpl::RnnEncoderImpl(const EncoderOptions& o) : EncoderImpl(o) {
  require(problems(o), o);
  const double between_layers = o.num_layers > 1 ? o.dropout : 0.0;
  if (o.cell == Cell::gru) {
    gru = register_module("gru", torch::nn::GRU(torch::nn::GRUOptions(o.num_hiddens, o.num_hiddens)
                                                    .num_layers(o.num_layers)
                                                    .batch_first(true)
                                                    .bidirectional(o.bidirectional)
                                                    .dropout(between_layers)));
  } else {
    lstm = register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(o.num_hiddens, o.num_hiddens)
                                                       .num_layers(o.num_layers)
                                                       .batch_first(true)
                                                       .bidirectional(o.bidirectional)
                                                       .dropout(between_layers)));
  }
  if (o.bidirectional) {
    projection = register_module("projection", torch::nn::Linear(2 * o.num_hiddens, o.num_hiddens));
  }
  dropout_ = register_module("dropout", Dropout(o.dropout));
}

torch::Tensor RnnEncoderImpl::encode(const torch::Tensor& embeddings, const torch::Tensor& valid_lens) {
  namespace rnn = torch::nn::utils::rnn;
  const int64_t n = embeddings.size(1);
  auto X = dropout_(embeddings);
  torch::Tensor states;
  if (!options_.bidirectional) {
    // Left to right, a valid position never sees the padding after it: no packing needed.
    states = gru ? std::get<0>(gru->forward(X)) : std::get<0>(lstm->forward(X));
  } else {
    // The backward direction must start at each sequence's last valid token: pack by length.
    // Packing needs lengths >= 1 on the CPU; an empty sequence's output is masked anyway.
    auto lengths = valid_lens.to(torch::kCPU, torch::kLong).clamp(1, n);
    auto packed = rnn::pack_padded_sequence(X, lengths, /*batch_first=*/true, /*enforce_sorted=*/false);
    auto out = gru ? std::get<0>(gru->forward_with_packed_input(packed))
                   : std::get<0>(lstm->forward_with_packed_input(packed));
    states = linear(projection, std::get<0>(rnn::pad_packed_sequence(out, /*batch_first=*/true, 0.0, n)));
  }
  return zero_padding(dropout_(states), valid_lens);
}

void RnnEncoderImpl::emit_torchscript(TorchScriptWriter& w, const std::string& path) const {
  const auto& o = options_;
  const std::string cell = name_of(o.cell), module = path + "." + cell;
  const int64_t directions = o.bidirectional ? 2 : 1;
  std::vector<std::string> params;
  for (int64_t l = 0; l < o.num_layers; ++l) {
    for (int64_t direction = 0; direction < directions; ++direction) {
      for (const char* weight : {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}) {
        params.push_back(
            TorchScriptWriter::attr(module, fmt::format("{}_l{}{}", weight, l, direction ? "_reverse" : "")));
      }
    }
  }
  w.line(fmt::format("h0 = torch.zeros([{}, B, {}], dtype=X.dtype, device=X.device)", o.num_layers * directions,
                     o.num_hiddens));
  // Inference: no dropout between layers, so the flags say 0.0 and not training.
  const std::string flags = fmt::format("True, {}, 0.0, False, {}", o.num_layers, o.bidirectional ? "True" : "False");
  const std::string hx = o.cell == Cell::gru ? "h0" : "[h0, h0]";
  const std::string outputs = o.cell == Cell::gru ? "S, _" : "S, _, _";
  const std::string weights = "[" + join(params, ", ") + "]";
  if (!o.bidirectional) {
    w.line(outputs + " = torch." + cell + "(X, " + hx + ", " + weights + ", " + flags + ", True)");
    w.line("X = S");
  } else {
    // Pack by length (sorted), as torch::nn::utils::rnn::pack_padded_sequence does.
    w.line("lengths = valid_lens.clamp(1, n)");
    w.line("sorted_lengths, order = torch.sort(lengths, -1, True)");
    w.line("data, batch_sizes = torch._pack_padded_sequence(X.index_select(0, order), sorted_lengths.cpu(), True)");
    w.line(outputs + " = torch." + cell + "(data, batch_sizes, " + hx + ", " + weights + ", " + flags + ")");
    w.line("S, _ = torch._pad_packed_sequence(S, batch_sizes, True, 0.0, n)");
    w.line("restore = torch.empty_like(order).scatter_(0, order, torch.arange(B, device=order.device))");
    w.line("X = " + TorchScriptWriter::linear("S.index_select(0, restore)", *projection, path + ".projection"));
  }
  w.line("X = X * valid.unsqueeze(-1).to(X.dtype)");
}

EncoderCost RnnEncoderImpl::cost(int64_t n) const {
  const double d = static_cast<double>(options_.num_hiddens), nn = static_cast<double>(n);
  const double gates = options_.cell == Cell::lstm ? 4 : 3;
  const double directions = options_.bidirectional ? 2 : 1;
  double flops = 0;
  for (int64_t layer = 0; layer < options_.num_layers; ++layer) {
    const double input = layer == 0 ? d : directions * d;
    flops += directions * 2 * gates * nn * (input * d + d * d);
  }
  if (options_.bidirectional) flops += 2 * nn * 2 * d * d;
  EncoderCost c;
  c.flops = flops;
  c.sequential_steps = n * options_.num_layers;
  c.reach_before = n - 1;
  c.reach_after = options_.bidirectional ? n - 1 : 0;
  c.max_path_length = n - 1;
  c.connects_all = true;
  return c;
}

}  // namespace seqenc
