// The fused cross-entropy against LibTorch's: value and gradient, with ignored rows and label smoothing, on
// vocabularies that are and are not a multiple of the vector width, and the cases it hands to LibTorch.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "seqenc/nn/cross_entropy.h"

using namespace seqenc;

namespace {
constexpr int64_t kIgnore = -100;

std::pair<torch::Tensor, torch::Tensor> loss_and_grad(const torch::Tensor& logits, const torch::Tensor& labels,
                                                      double smoothing, bool fused) {
  auto x = logits.detach().clone().requires_grad_(true);
  namespace F = torch::nn::functional;
  auto loss = fused ? cross_entropy(x, labels, kIgnore, smoothing)
                    : F::cross_entropy(x, labels,
                                       F::CrossEntropyFuncOptions().ignore_index(kIgnore).label_smoothing(smoothing));
  (loss * 3).backward();  // a gradient other than 1 reaches the rows
  return {loss.detach(), x.grad()};
}
}  // namespace

TEST_CASE("cross_entropy: equals LibTorch's in value and gradient", "[nn][cross_entropy]") {
  torch::manual_seed(7);
  for (const int64_t classes : {1, 5, 16, 1003}) {
    for (const double smoothing : {0.0, 0.1}) {
      const int64_t rows = 67;
      auto logits = torch::randn({rows, classes}) * 4;
      logits[3].fill_(-1e30);  // a row far below exp's range
      auto labels = torch::randint(0, classes, {rows}, torch::kLong);
      labels.index_put_({torch::arange(0, rows, 5)}, kIgnore);  // every fifth row ignored
      const auto [fused_loss, fused_grad] = loss_and_grad(logits, labels, smoothing, true);
      const auto [loss, grad] = loss_and_grad(logits, labels, smoothing, false);
      INFO("classes " << classes << ", smoothing " << smoothing);
      CHECK(fused_loss.item<double>() == Approx(loss.item<double>()).epsilon(1e-5));
      CHECK(torch::allclose(fused_grad, grad, 1e-4, 1e-6));
      // ignored rows learn nothing
      CHECK(fused_grad.index({torch::arange(0, rows, 5)}).abs().max().item<float>() == 0);
    }
  }
}

TEST_CASE("cross_entropy: the same sum whatever the threads", "[nn][cross_entropy]") {
  torch::manual_seed(8);
  const auto logits = torch::randn({513, 257});
  const auto labels = torch::randint(0, 257, {513}, torch::kLong);
  const auto threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto [one_loss, one_grad] = loss_and_grad(logits, labels, 0, true);
  at::set_num_threads(2);
  const auto [two_loss, two_grad] = loss_and_grad(logits, labels, 0, true);
  at::set_num_threads(threads);
  CHECK(one_loss.item<float>() == two_loss.item<float>());
  CHECK(torch::equal(one_grad, two_grad));
}

TEST_CASE("cross_entropy: what it does not fuse is LibTorch's answer", "[nn][cross_entropy]") {
  torch::manual_seed(9);
  const auto labels = torch::tensor({1, 0, 2}, torch::kLong);
  const auto logits = torch::randn({3, 4}, torch::kDouble);
  CHECK(torch::allclose(loss_and_grad(logits, labels, 0, true).second, loss_and_grad(logits, labels, 0, false).second));
  // No row to learn from: LibTorch's 0 / 0.
  CHECK(std::isnan(
      cross_entropy(torch::randn({2, 4}), torch::full({2}, kIgnore, torch::kLong), kIgnore, 0).item<float>()));
  // A label out of range: LibTorch's error, not a read past the row.
  CHECK_THROWS(cross_entropy(torch::randn({2, 4}), torch::tensor({0, 4}, torch::kLong), kIgnore, 0));
}
