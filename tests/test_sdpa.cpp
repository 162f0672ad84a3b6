// LibTorch 2.x's scaled_dot_product_attention as seqenc's third attention path: the book's semantics (a row of
// valid length 0 is uniform, not NaN) for every kind of mask, outputs and gradients against the reference.
#include <catch2/catch.hpp>

#include <cmath>
#include <torch/torch.h>

#include "helpers.h"
#include "seqenc/nn/attention.h"
#include "seqenc/nn/sdpa_attention.h"
#include "seqenc/train/config.h"

using namespace seqenc;
using seqenc::test::attention_grads;
using seqenc::test::rel_diff;

namespace {

torch::Tensor reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& lens) {
  return torch::bmm(masked_softmax(torch::bmm(q, k.transpose(1, 2)) / std::sqrt(static_cast<double>(q.size(-1))), lens),
                    v);
}

void check_against_reference(int64_t B, int64_t nq, int64_t nk, int64_t d, const torch::Tensor& lens) {
  INFO("B " << B << " nq " << nq << " nk " << nk << " d " << d << " lens " << (lens.defined() ? lens.dim() : 0)
            << "-D");
  auto q = torch::randn({B, nq, d}), k = torch::randn({B, nk, d}), v = torch::randn({B, nk, d});
  auto upstream = torch::randn({B, nq, d});
  auto sdpa =
      attention_grads([&](auto& a, auto& b, auto& c) { return sdpa_attention(a, b, c, lens, 0.0); }, q, k, v, upstream);
  auto ref = attention_grads([&](auto& a, auto& b, auto& c) { return reference(a, b, c, lens); }, q, k, v, upstream);
  CHECK_FALSE(torch::isnan(sdpa.out).any().item<bool>());
  CHECK(rel_diff(sdpa.out, ref.out) < 1e-5);
  CHECK(rel_diff(sdpa.dq, ref.dq) < 1e-5);
  CHECK(rel_diff(sdpa.dk, ref.dk) < 1e-5);
  CHECK(rel_diff(sdpa.dv, ref.dv) < 1e-5);
}

}  // namespace

TEST_CASE("sdpa attention equals the book's reference: outputs and gradients, every kind of mask", "[sdpa]") {
  if (!sdpa_available()) SEQENC_SKIP("LibTorch " TORCH_VERSION " has no scaled_dot_product_attention (2.x has)");
  torch::manual_seed(3);
  check_against_reference(6, 9, 11, 8, {});                                                      // no mask
  check_against_reference(4, 7, 7, 16, torch::tensor({7, 3, 1, 5}));                             // 1-D
  check_against_reference(2, 5, 6, 4, torch::randint(1, 7, {2, 5}));                             // 2-D
  check_against_reference(3, 6, 6, 8, torch::tensor({0, 4, 0}));                                 // length 0: uniform
  check_against_reference(2, 6, 6, 4, torch::tensor({{0, 3, 0, 6, 1, 0}, {2, 0, 0, 0, 5, 6}}));  // mixed 0s, 2-D
  check_against_reference(2, 3, 5, 4, torch::tensor({-2, 3}));                                   // negative: as 0
  check_against_reference(2, 8, 8, 8, torch::tensor({9, 100}));                                  // past n
  check_against_reference(2, 40, 40, 32, causal_valid_lens(torch::tensor({40, 17}), 40));        // causal
}

TEST_CASE("model.attention: sdpa trains a transformer on 2.x and is refused in one line on 1.13", "[sdpa][config]") {
  if (sdpa_available()) {
    auto config = load_config("", {"model.attention=sdpa", "model.num_hiddens=16", "model.num_heads=2"});
    auto options = encoder_options_for(config, 20, false, 12);
    auto encoder = make_encoder(options);
    CHECK(encoder->attention_kernel(torch::kCPU) == "sdpa");
    auto tokens = torch::randint(5, 20, {3, 12});
    auto lens = torch::tensor({12, 0, 5});
    auto states = encoder->forward(tokens, lens);
    CHECK_FALSE(torch::isnan(states).any().item<bool>());
  } else {
    CHECK_THROWS_WITH(load_config("", {"model.attention=sdpa"}),
                      Catch::Contains("model.attention: sdpa is LibTorch 2.x's scaled_dot_product_attention"));
  }
  CHECK_THROWS_WITH(load_config("", {"model.attention=sdpa", "model.pos_encoding=relative"}),
                    Catch::Contains("model.attention: the sdpa kernel has no relative positions"));
}
