#include "seqenc/rnn_encoder.h"

#include <stdexcept>

namespace seqenc {

RnnEncoderImpl::RnnEncoderImpl(const EncoderOptions& o) : EncoderImpl(o) {
  if (o.causal && o.bidirectional) {
    throw std::invalid_argument("rnn: causal mode needs a unidirectional RNN (bidirectional: false)");
  }
  const double between_layers = o.num_layers > 1 ? o.dropout : 0.0;
  if (o.cell == "gru") {
    gru = register_module("gru", torch::nn::GRU(torch::nn::GRUOptions(o.num_hiddens, o.num_hiddens)
                                                    .num_layers(o.num_layers)
                                                    .batch_first(true)
                                                    .bidirectional(o.bidirectional)
                                                    .dropout(between_layers)));
  } else if (o.cell == "lstm") {
    lstm = register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(o.num_hiddens, o.num_hiddens)
                                                       .num_layers(o.num_layers)
                                                       .batch_first(true)
                                                       .bidirectional(o.bidirectional)
                                                       .dropout(between_layers)));
  } else {
    throw std::invalid_argument("rnn: unknown cell '" + o.cell + "' (known: gru, lstm)");
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
    states = projection(std::get<0>(rnn::pad_packed_sequence(out, /*batch_first=*/true, 0.0, n)));
  }
  return zero_padding(dropout_(states), valid_lens);
}

EncoderCost RnnEncoderImpl::cost(int64_t n) const {
  const double d = static_cast<double>(options_.num_hiddens), nn = static_cast<double>(n);
  const double gates = options_.cell == "lstm" ? 4 : 3;
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
