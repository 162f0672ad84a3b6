#include "seqenc/nn/positional_encoding.h"

#include "seqenc/error.h"
#include <string>

namespace seqenc {

torch::Tensor sinusoidal_table(int64_t max_len, int64_t num_hiddens) {
  if (max_len <= 0 || num_hiddens <= 0) {
    throw ModelError("positional encoding needs max_len > 0 and num_hiddens > 0");
  }
  auto f64 = torch::dtype(torch::kFloat64);
  auto positions = torch::arange(max_len, f64).unsqueeze(1);
  // Even columns 0, 2, 4, ... carry frequency index j = column / 2.
  auto even = torch::arange(0, num_hiddens, 2, f64);
  auto angles = positions / torch::pow(10000.0, even / static_cast<double>(num_hiddens));
  auto P = torch::zeros({max_len, num_hiddens}, f64);
  using torch::indexing::Slice;
  P.index_put_({Slice(), Slice(0, torch::indexing::None, 2)}, torch::sin(angles));
  const int64_t num_cos = num_hiddens / 2;  // odd num_hiddens: one sine more than cosines
  P.index_put_({Slice(), Slice(1, torch::indexing::None, 2)}, torch::cos(angles.index({Slice(), Slice(0, num_cos)})));
  return P.to(torch::kFloat32);
}

void check_sequence_length(int64_t n, int64_t max_len) {
  if (n > max_len) {
    throw ModelError("sequence length " + std::to_string(n) + " exceeds the positional encoding's max_len " +
                     std::to_string(max_len));
  }
}

PositionalEncodingImpl::PositionalEncodingImpl(int64_t num_hiddens, double dropout, int64_t max_len)
    : max_len_(max_len) {
  P = register_buffer("P", sinusoidal_table(max_len, num_hiddens).unsqueeze(0));
  dropout_ = register_module("dropout", Dropout(dropout));
}

torch::Tensor PositionalEncodingImpl::forward(const torch::Tensor& X) {
  check_sequence_length(X.size(1), max_len_);
  return dropout_(X + P.narrow(1, 0, X.size(1)).to(X.dtype()));
}

LearnedPositionalEncodingImpl::LearnedPositionalEncodingImpl(int64_t num_hiddens, double dropout, int64_t max_len)
    : max_len_(max_len) {
  table = register_module("table", torch::nn::Embedding(max_len, num_hiddens));
  // Small init, on the scale of the sinusoidal values after sqrt(d) scaling of tokens.
  torch::nn::init::normal_(table->weight, 0.0, 0.02);
  dropout_ = register_module("dropout", Dropout(dropout));
}

torch::Tensor LearnedPositionalEncodingImpl::forward(const torch::Tensor& X) {
  check_sequence_length(X.size(1), max_len_);
  auto positions = torch::arange(X.size(1), torch::dtype(torch::kLong).device(X.device()));
  return dropout_(X + table->forward(positions).unsqueeze(0));
}

}  // namespace seqenc
