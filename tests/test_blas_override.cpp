// LibTorch's own float products go through the program's sgemm_ (app/blas_override.cpp, oneDNN): every
// transpose and leading dimension BLAS allows must give what a double-precision product gives.
#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <torch/torch.h>

#include "helpers.h"

using seqenc::test::rel_diff;

TEST_CASE("LibTorch's float products through the program's sgemm_ match double precision", "[blas]") {
  // The symbol LibTorch resolves is this executable's.
  void* self = dlopen(nullptr, RTLD_NOW);
  REQUIRE(dlsym(self, "sgemm_") == dlsym(RTLD_DEFAULT, "sgemm_"));
  torch::manual_seed(11);
  for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {7, 5, 3}, {64, 33, 130}, {300, 128, 257}}) {
    INFO(m << " x " << k << " x " << n);
    auto a = torch::randn({m, k}), b = torch::randn({k, n});
    const auto want = torch::mm(a.to(torch::kDouble), b.to(torch::kDouble));
    CHECK(rel_diff(torch::mm(a, b), want) < 1e-5);
    CHECK(rel_diff(torch::mm(a.t().contiguous().t(), b), want) < 1e-5);  // A transposed in memory
    CHECK(rel_diff(torch::mm(a, b.t().contiguous().t()), want) < 1e-5);  // B transposed in memory
    auto wide = torch::randn({m, k + 9});                                // a leading dimension past k
    const auto a_view = wide.narrow(1, 3, k);
    a_view.copy_(a);
    CHECK(rel_diff(torch::mm(a_view, b), want) < 1e-5);
    auto c = torch::randn({m, n});  // beta = 1, alpha = 2
    CHECK(rel_diff(torch::addmm(c, a, b, 1.0, 2.0), c.to(torch::kDouble) + 2 * want) < 1e-5);
  }
  // bmm and a GRU run through it too.
  auto x = torch::randn({4, 6, 5}), y = torch::randn({4, 5, 3});
  CHECK(rel_diff(torch::bmm(x, y), torch::bmm(x.to(torch::kDouble), y.to(torch::kDouble))) < 1e-5);
  torch::nn::GRU gru(torch::nn::GRUOptions(8, 8).batch_first(true));
  auto input = torch::randn({3, 10, 8});
  auto out = std::get<0>(gru->forward(input));
  gru->to(torch::kDouble);
  auto out64 = std::get<0>(gru->forward(input.to(torch::kDouble)));
  CHECK(rel_diff(out, out64) < 1e-5);
  // Empty products are BLAS's quick return.
  CHECK(torch::mm(torch::randn({0, 4}), torch::randn({4, 3})).sizes() == torch::IntArrayRef({0, 3}));
  CHECK(torch::mm(torch::randn({2, 0}), torch::randn({0, 3})).equal(torch::zeros({2, 3})));
}
