#include <catch2/catch.hpp>
#include <cmath>
#include <torch/torch.h>

#include "helpers.h"
#include "seqenc/nn/positional_encoding.h"

using namespace seqenc;
using seqenc::test::max_abs_diff;
using torch::indexing::Slice;

TEST_CASE("sinusoidal encoding matches the book's golden values for d = 32", "[positional]") {
  auto P = sinusoidal_table(60, 32);
  auto row1 = torch::tensor({0.8415, 0.5403, 0.5332, 0.8460, 0.3110, 0.9504, 0.1769, 0.9842, 0.0998, 0.9950});
  auto row2 = torch::tensor({0.9093, -0.4161, 0.9021, 0.4315, 0.5911, 0.8066, 0.3482, 0.9374, 0.1987, 0.9801});
  auto row10 = torch::tensor({-0.5440, -0.8391, -0.6129, 0.7901});
  auto row59 = torch::tensor({-0.8758, -0.4827, -0.3739, 0.9275});
  CHECK(max_abs_diff(P.index({1, Slice(0, 10)}), row1) < 1e-4);
  CHECK(max_abs_diff(P.index({2, Slice(0, 10)}), row2) < 1e-4);
  CHECK(max_abs_diff(P.index({10, Slice(0, 4)}), row10) < 1e-4);
  CHECK(max_abs_diff(P.index({59, Slice(6, 10)}), row59) < 1e-4);
  CHECK(max_abs_diff(P[0].index({Slice(0, torch::indexing::None, 2)}), torch::zeros({16})) == 0);
}

TEST_CASE("relative position: a fixed rotation per offset maps row i to row i + delta", "[positional]") {
  const int64_t d = 32;
  auto P = sinusoidal_table(200, d).to(torch::kFloat64);
  for (int64_t delta : {1, 7, 20, 63}) {
    for (int64_t i : {0, 5, 40, 100}) {
      for (int64_t j = 0; j < d / 2; ++j) {
        const double omega = 1.0 / std::pow(10000.0, 2.0 * j / d);
        const double c = std::cos(delta * omega), s = std::sin(delta * omega);
        const double p0 = P[i][2 * j].item<double>(), p1 = P[i][2 * j + 1].item<double>();
        CHECK(std::abs(c * p0 + s * p1 - P[i + delta][2 * j].item<double>()) < 1e-5);
        CHECK(std::abs(-s * p0 + c * p1 - P[i + delta][2 * j + 1].item<double>()) < 1e-5);
      }
    }
  }
  // The reference example: d = 32, i = 5, delta = 7, j = 3 gives P[12, 6:8].
  CHECK(std::abs(P[12][6].item<double>() - 0.845584) < 1e-5);
  CHECK(std::abs(P[12][7].item<double>() + 0.533843) < 1e-5);
}

TEST_CASE("odd num_hiddens works: the last column is a sine", "[positional]") {
  auto P = sinusoidal_table(10, 7);
  CHECK(P.sizes() == torch::IntArrayRef({10, 7}));
  const double omega3 = 1.0 / std::pow(10000.0, 6.0 / 7.0);
  CHECK(std::abs(P[4][6].item<double>() - std::sin(4 * omega3)) < 1e-6);
  PositionalEncoding pe(7, 0.0, 10);
  CHECK(pe(torch::zeros({2, 5, 7})).sizes() == torch::IntArrayRef({2, 5, 7}));
}

TEST_CASE("PositionalEncoding adds P and keeps it as a saved buffer", "[positional]") {
  PositionalEncoding pe(32, 0.0, 100);
  pe->eval();
  auto X = torch::randn({3, 20, 32});
  CHECK(max_abs_diff(pe(X) - X, sinusoidal_table(20, 32).unsqueeze(0).expand({3, 20, 32})) < 1e-6);
  auto buffers = pe->named_buffers();
  REQUIRE(buffers.contains("P"));
  CHECK(buffers["P"].sizes() == torch::IntArrayRef({1, 100, 32}));
}

TEST_CASE("an input longer than max_len is an error naming both numbers", "[positional]") {
  PositionalEncoding pe(8, 0.0, 16);
  CHECK_THROWS_WITH(pe(torch::zeros({1, 17, 8})), Catch::Contains("17") && Catch::Contains("16"));
  LearnedPositionalEncoding learned(8, 0.0, 16);
  CHECK_THROWS_WITH(learned(torch::zeros({1, 20, 8})), Catch::Contains("20") && Catch::Contains("16"));
}

TEST_CASE("learned positional encoding is a trainable table", "[positional]") {
  LearnedPositionalEncoding pe(8, 0.0, 16);
  auto X = torch::zeros({2, 5, 8});
  auto Y = pe(X);
  CHECK(Y.sizes() == torch::IntArrayRef({2, 5, 8}));
  Y.sum().backward();
  CHECK(pe->table->weight.grad().index({Slice(0, 5)}).abs().sum().item<double>() > 0);
  CHECK(pe->table->weight.grad().index({Slice(5, 16)}).abs().sum().item<double>() == 0);
}
