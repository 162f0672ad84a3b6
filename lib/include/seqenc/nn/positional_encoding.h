// Positional encodings of D2L 11.6.3 (sinusoidal) and its exercise 2 (learned).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>

#include "seqenc/nn/dropout.h"

namespace seqenc {

// The (max_len, num_hiddens) table P[i, 2j] = sin(i w_j), P[i, 2j+1] = cos(i w_j),
// w_j = 1 / 10000^(2j / num_hiddens). Computed in float64, returned in float32.
// Works for odd num_hiddens (the last column is a sine).
torch::Tensor sinusoidal_table(int64_t max_len, int64_t num_hiddens);

// X + P[:n] followed by dropout. P is a registered buffer, so it is saved
// with the model and follows it to another device.
class PositionalEncodingImpl : public torch::nn::Module {
 public:
  PositionalEncodingImpl(int64_t num_hiddens, double dropout, int64_t max_len = 1000);
  torch::Tensor forward(const torch::Tensor& X);
  torch::Tensor P;  // (1, max_len, num_hiddens)

 private:
  int64_t max_len_;
  Dropout dropout_{nullptr};
};
TORCH_MODULE(PositionalEncoding);

// A learned table of max_len position embeddings, added to X then dropout.
class LearnedPositionalEncodingImpl : public torch::nn::Module {
 public:
  LearnedPositionalEncodingImpl(int64_t num_hiddens, double dropout, int64_t max_len);
  torch::Tensor forward(const torch::Tensor& X);
  torch::nn::Embedding table{nullptr};

 private:
  int64_t max_len_;
  Dropout dropout_{nullptr};
};
TORCH_MODULE(LearnedPositionalEncoding);

// Throws ModelError naming both numbers when n > max_len.
void check_sequence_length(int64_t n, int64_t max_len);

}  // namespace seqenc
