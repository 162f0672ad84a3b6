// The fused attention kernel against the book's reference math: outputs and
// every input gradient, masks of every kind, tile edges, dropout regenerated in
// the backward, and training that resumes exactly.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <torch/torch.h>

#include "helpers.h"
#include "seqenc/error.h"
#include "seqenc/nn/attention.h"
#include "seqenc/nn/fused_attention.h"
#include "seqenc/nn/linear.h"
#include "seqenc/nn/precision.h"
#include "seqenc/train/trainer.h"

using namespace seqenc;
using seqenc::test::attention_grads;
using seqenc::test::fresh_dir;
using seqenc::test::metric_lines;
using seqenc::test::rel_diff;
namespace fs = std::filesystem;

namespace {

// The book's path: softmax over masked, scaled scores (masked scores replaced by -1e6), then the weights
// (times a dropout mask when given) times V.
torch::Tensor reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& lens, const torch::Tensor& mask = {}) {
  auto w = masked_softmax(torch::bmm(q, k.transpose(1, 2)) / std::sqrt(static_cast<double>(q.size(-1))), lens);
  if (mask.defined()) w = w * mask.to(w.dtype());
  return torch::bmm(w, v);
}

void check_against_reference(int64_t BH, int64_t nq, int64_t nk, int64_t d, int64_t dv, const torch::Tensor& lens,
                             torch::ScalarType dtype = torch::kFloat, double tolerance = 1e-5,
                             const FusedAttentionOptions& options = {}) {
  INFO("BH " << BH << " nq " << nq << " nk " << nk << " d " << d << " dv " << dv << " lens "
             << (lens.defined() ? lens.dim() : 0) << "-D, SIMD " << options.simd);
  auto type = torch::dtype(dtype);
  auto q = torch::randn({BH, nq, d}, type), k = torch::randn({BH, nk, d}, type);
  auto v = torch::randn({BH, nk, dv}, type), upstream = torch::randn({BH, nq, dv}, type);
  auto fused = attention_grads([&](auto& a, auto& b, auto& c) { return fused_attention(a, b, c, lens, options); }, q, k,
                               v, upstream);
  auto ref = attention_grads([&](auto& a, auto& b, auto& c) { return reference(a, b, c, lens); }, q, k, v, upstream);
  CHECK(rel_diff(fused.out, ref.out) < tolerance);
  CHECK(rel_diff(fused.dq, ref.dq) < tolerance);
  CHECK(rel_diff(fused.dk, ref.dk) < tolerance);
  CHECK(rel_diff(fused.dv, ref.dv) < tolerance);
}

// Scores in the thousands: the softmax's statistics keep their precision (against the reference in double).
void check_large_scores(const FusedAttentionOptions& options) {
  torch::manual_seed(7);
  auto q = torch::randn({2, 16, 8}) * 40, k = torch::randn({2, 24, 8}) * 40, v = torch::randn({2, 24, 8});
  auto lens = torch::tensor({24, 9});
  auto up = torch::randn({2, 16, 8});
  auto fused =
      attention_grads([&](auto& a, auto& b, auto& c) { return fused_attention(a, b, c, lens, options); }, q, k, v, up);
  auto ref = attention_grads(
      [&](auto& a, auto& b, auto& c) {
        return reference(a.to(torch::kDouble), b.to(torch::kDouble), c.to(torch::kDouble), lens).to(torch::kFloat);
      },
      q, k, v, up);
  CHECK(rel_diff(fused.out, ref.out) < 1e-5);
  CHECK(rel_diff(fused.dv, ref.dv) < 1e-5);
  CHECK(rel_diff(fused.dq, ref.dq) < 1e-4);
}

// Dropout at one SIMD level against the reference with the mask fused_attention_dropout_mask draws (the scalar
// definition): the same mask, forward and backward. Key tiles of 512: a second tile, rows past it, a uniform row.
void check_dropout(const FusedAttentionOptions& options, int64_t nk, double tolerance = 1e-5) {
  INFO("SIMD " << options.simd << " nk " << nk);
  const int64_t BH = 3, nq = 37;
  auto q = torch::randn({BH, nq, 16}), k = torch::randn({BH, nk, 16}), v = torch::randn({BH, nk, 16});
  auto lens = torch::tensor({nk, nk / 2 + 1, int64_t{0}});
  auto up = torch::randn({BH, nq, 16});
  const auto mask = fused_attention_dropout_mask(options.seed, BH, nq, nk, options.dropout);
  auto fused =
      attention_grads([&](auto& a, auto& b, auto& c) { return fused_attention(a, b, c, lens, options); }, q, k, v, up);
  auto ref = attention_grads([&](auto& a, auto& b, auto& c) { return reference(a, b, c, lens, mask); }, q, k, v, up);
  CHECK(rel_diff(fused.out, ref.out) < tolerance);
  CHECK(rel_diff(fused.dq, ref.dq) < tolerance);
  CHECK(rel_diff(fused.dk, ref.dk) < tolerance);
  CHECK(rel_diff(fused.dv, ref.dv) < tolerance);
}

// Everything the kernel's row work does, at one SIMD level: every kind of mask, rows whose lengths are multiples of
// no vector width (tails), several key tiles (rescaling), large scores, dropout, bf16 products.
void check_simd_level(KernelSimd level) {
  const auto levels = fused_attention_simd_levels();
  if (std::find(levels.begin(), levels.end(), level) == levels.end()) {
    SEQENC_SKIP("this CPU does not run SIMD level " << level << " (the kernel's fallbacks run, tested)");
  }
  torch::manual_seed(11);
  FusedAttentionOptions options;
  options.simd = level;
  const auto f = torch::kFloat;
  check_against_reference(6, 9, 11, 8, 8, {}, f, 1e-5, options);
  check_against_reference(4, 37, 45, 16, 16, torch::tensor({45, 3, 0, 17}), f, 1e-5, options);
  check_against_reference(2, 33, 33, 32, 32, causal_valid_lens(torch::tensor({33, 20}), 33), f, 1e-5, options);
  check_against_reference(2, 37, 600, 16, 16, torch::tensor({600, 515}), f, 1e-5, options);
  check_against_reference(1, 40, 700, 8, 8, (torch::arange(40) * 3 + 500).unsqueeze(0), f, 1e-5, options);
  check_against_reference(2, 21, 31, 64, 64, torch::tensor({31, 1}), torch::kDouble, 1e-11, options);
  check_large_scores(options);
  options.dropout = 0.3;
  options.seed = 99;
  for (int64_t nk : {530, 37, 3}) check_dropout(options, nk);
  {
    PrecisionScope bf16(Precision::bf16);  // products in bf16: the factors rounded at this level
    check_dropout(options, 530, 4e-2);
  }
}

}  // namespace

TEST_CASE("fused attention's SIMD levels: scalar always, best the highest, an unknown one refused", "[fused][simd]") {
  const auto levels = fused_attention_simd_levels();
  REQUIRE(!levels.empty());
  CHECK(levels.front() == KernelSimd::scalar);
  CHECK(fused_attention_best_simd() == levels.back());
  CHECK(std::find(levels.begin(), levels.end(), KernelSimd::best) == levels.end());
  if (levels.back() == KernelSimd::avx512) SEQENC_SKIP("this CPU runs every level: none to refuse");
  FusedAttentionOptions options;
  options.simd = KernelSimd::avx512;
  auto q = torch::randn({1, 2, 4});
  CHECK_THROWS_WITH(fused_attention(q, q, q, {}, options), Catch::Contains("does not run SIMD level avx512"));
}

TEST_CASE("fused attention at SIMD level scalar equals the reference", "[fused][simd]") {
  check_simd_level(KernelSimd::scalar);
}

TEST_CASE("fused attention at SIMD level avx2 equals the reference", "[fused][simd]") {
  check_simd_level(KernelSimd::avx2);
}

TEST_CASE("fused attention at SIMD level avx512 equals the reference", "[fused][simd]") {
  check_simd_level(KernelSimd::avx512);
}

TEST_CASE("fused attention equals the reference: outputs and gradients, every kind of mask", "[fused]") {
  torch::manual_seed(1);
  check_against_reference(6, 9, 11, 8, 8, {});                            // no mask
  check_against_reference(4, 7, 7, 16, 16, torch::tensor({7, 3, 1, 5}));  // 1-D
  check_against_reference(2, 5, 6, 4, 4, torch::randint(1, 7, {2, 5}));   // 2-D
  check_against_reference(3, 6, 6, 8, 8, torch::tensor({0, 4, 0}));       // rows of valid length 0
  check_against_reference(3, 1, 1, 8, 8, torch::tensor({1, 0, 1}));       // n = 1
  check_against_reference(2, 8, 8, 8, 8, torch::tensor({9, 100}));        // lengths past n
  auto causal = causal_valid_lens(torch::tensor({70, 33}), 70);           // causal: 2-D, min(t + 1, len)
  check_against_reference(2, 70, 70, 32, 32, causal);
  check_against_reference(2, 6, 6, 4, 4, torch::tensor({{0, 3, 0, 6, 1, 0}, {2, 0, 0, 0, 5, 6}}));  // mixed 0s
  check_against_reference(2, 3, 5, 4, 4, torch::tensor({-2, 3}));  // negative: as 0, uniform
  // Rows whose whole second key tile is masked while a sibling row of the same query block needs it.
  check_against_reference(1, 40, 700, 8, 8, (torch::arange(40) * 3 + 500).unsqueeze(0));  // 500..617 keys
}

TEST_CASE("fused attention keeps its precision for large scores", "[fused]") { check_large_scores({}); }

TEST_CASE("fused attention refuses mismatched inputs and takes an empty key set", "[fused]") {
  auto q = torch::randn({2, 3, 4});
  CHECK_THROWS_AS(fused_attention(q, torch::randn({2, 5, 3}), torch::randn({2, 5, 4}), {}), ModelError);
  CHECK_THROWS_AS(fused_attention(q, torch::randn({2, 5, 4}), torch::randn({2, 6, 4}), {}), ModelError);
  CHECK_THROWS_AS(fused_attention(q, torch::randn({1, 5, 4}), torch::randn({1, 5, 4}), {}), ModelError);
  CHECK(fused_attention(q, torch::randn({2, 0, 4}), torch::randn({2, 0, 7}), {}).equal(torch::zeros({2, 3, 7})));
}

TEST_CASE("linear on oneDNN equals torch::linear, gradients included, and never writes its bias", "[fused][linear]") {
  torch::manual_seed(8);
  for (int64_t rows : {1, 7, 300}) {
    INFO(rows << " rows");
    auto w = torch::randn({5, 6}).requires_grad_(true), b = torch::randn({5}).requires_grad_(true);
    const auto b_before = b.detach().clone();
    auto x = torch::randn({rows, 6}).requires_grad_(true);
    auto up = torch::randn({rows, 5});
    auto y = seqenc::linear(x, w, b);
    CHECK(b.detach().equal(b_before));
    (y * up).sum().backward();
    auto gx = x.grad().clone(), gw = w.grad().clone(), gb = b.grad().clone();
    x.grad().zero_(), w.grad().zero_(), b.grad().zero_();
    auto expected = torch::linear(x, w, b);
    (expected * up).sum().backward();
    CHECK(rel_diff(y, expected) < 1e-5);
    CHECK(rel_diff(gx, x.grad()) < 1e-5);
    CHECK(rel_diff(gw, w.grad()) < 1e-5);
    CHECK(rel_diff(gb, b.grad()) < 1e-5);
  }
  auto x3 = torch::randn({2, 3, 6}), w = torch::randn({4, 6});
  CHECK(rel_diff(seqenc::linear(x3, w, torch::Tensor()), torch::linear(x3, w)) < 1e-5);  // no bias, 3-D input
}

TEST_CASE("fused attention across tile edges and head sizes", "[fused]") {
  torch::manual_seed(2);
  // Query blocks of 32 / 64 / 256 and key blocks of 512: sizes that are multiples of none.
  check_against_reference(2, 37, 600, 16, 16, torch::tensor({600, 515}));
  check_against_reference(2, 200, 200, 64, 32, torch::tensor({199, 65}));
  check_against_reference(1, 777, 530, 8, 8, torch::tensor({513}));
  for (int64_t d : {1, 3, 32, 128}) check_against_reference(2, 40, 45, d, d, torch::tensor({45, 12}));
}

TEST_CASE("fused attention gradients in double precision agree with autograd and finite differences", "[fused]") {
  torch::manual_seed(3);
  check_against_reference(3, 5, 7, 4, 3, torch::tensor({7, 2, 0}), torch::kDouble, 1e-11);
  check_against_reference(2, 6, 6, 4, 4, causal_valid_lens(torch::tensor({6, 4}), 6), torch::kDouble, 1e-11);
  // Central differences on a few entries of each input.
  auto opts = torch::dtype(torch::kDouble);
  auto q = torch::randn({2, 3, 4}, opts), k = torch::randn({2, 5, 4}, opts), v = torch::randn({2, 5, 4}, opts);
  auto lens = torch::tensor({5, 2});
  auto up = torch::randn({2, 3, 4}, opts);
  auto g = attention_grads([&](auto& a, auto& b, auto& c) { return fused_attention(a, b, c, lens); }, q, k, v, up);
  auto loss = [&](const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& c) {
    return (fused_attention(a, b, c, lens) * up).sum().item<double>();
  };
  const double h = 1e-6;
  for (int64_t which = 0; which < 3; ++which) {
    for (int64_t index : {0, 7, 13}) {
      torch::Tensor inputs[3] = {q.clone(), k.clone(), v.clone()};
      auto flat = inputs[which].view({-1});
      const double x = flat[index].item<double>();
      flat[index] = x + h;
      const double up_loss = loss(inputs[0], inputs[1], inputs[2]);
      flat[index] = x - h;
      const double down_loss = loss(inputs[0], inputs[1], inputs[2]);
      const torch::Tensor grads[3] = {g.dq, g.dk, g.dv};
      CHECK((up_loss - down_loss) / (2 * h) == Approx(grads[which].view({-1})[index].item<double>()).margin(1e-7));
    }
  }
}

TEST_CASE("fused dropout: the backward regenerates the forward's mask, and 1 - p of the weights are kept", "[fused]") {
  torch::manual_seed(4);
  const double p = 0.3;
  const int64_t seed = 12345, BH = 3, nq = 70, nk = 530;
  auto q = torch::randn({BH, nq, 16}), k = torch::randn({BH, nk, 16}), v = torch::randn({BH, nk, 16});
  auto lens = torch::tensor({530, 300, 0});
  auto up = torch::randn({BH, nq, 16});
  const auto mask = fused_attention_dropout_mask(seed, BH, nq, nk, p);
  auto fused = attention_grads(
      [&](auto& a, auto& b, auto& c) {
        return fused_attention(a, b, c, lens, {p, seed});
      },
      q, k, v, up);
  auto ref = attention_grads([&](auto& a, auto& b, auto& c) { return reference(a, b, c, lens, mask); }, q, k, v, up);
  CHECK(rel_diff(fused.out, ref.out) < 1e-5);
  CHECK(rel_diff(fused.dq, ref.dq) < 1e-5);
  CHECK(rel_diff(fused.dk, ref.dk) < 1e-5);
  CHECK(rel_diff(fused.dv, ref.dv) < 1e-5);
  // Another seed, another mask; the same seed, the same output.
  auto again = fused_attention(q, k, v, lens, {p, seed});
  CHECK(rel_diff(again, fused.out) == 0);
  CHECK(rel_diff(fused_attention(q, k, v, lens, {p, seed + 1}), fused.out) > 1e-3);
  // Kept share within 5 standard deviations of 1 - p over 111,300 draws; the mask's mean is 1 (expectation kept).
  const double kept = mask.gt(0).to(torch::kDouble).mean().item<double>();
  const double sigma = std::sqrt(p * (1 - p) / static_cast<double>(mask.numel()));
  CHECK(std::abs(kept - (1 - p)) < 5 * sigma);
  CHECK(mask.max().item<double>() == Approx(1 / (1 - p)).epsilon(1e-4));
  CHECK(std::abs(mask.mean().item<double>() - 1) < 5 * sigma / (1 - p));
  // Seeds drawn from the default generator follow torch::manual_seed.
  torch::manual_seed(9);
  auto a = fused_attention(q, k, v, lens, {p});
  torch::manual_seed(9);
  CHECK(rel_diff(fused_attention(q, k, v, lens, {p}), a) == 0);
}

TEST_CASE("fused attention: padding never leaks into valid rows", "[fused]") {
  torch::manual_seed(5);
  auto q = torch::randn({2, 40, 8}), k = torch::randn({2, 40, 8}), v = torch::randn({2, 40, 8});
  auto lens = torch::tensor({40, 17});
  auto out = fused_attention(q, k, v, lens);
  auto k2 = k.clone(), v2 = v.clone();
  k2[1].slice(0, 17).normal_();
  v2[1].slice(0, 17).fill_(1e4);
  CHECK(seqenc::test::max_abs_diff(fused_attention(q, k2, v2, lens), out) == 0);
}

TEST_CASE("the transformer picks the fused kernel unless weights are recorded or positions are relative",
          "[fused][attention]") {
  torch::manual_seed(6);
  DotProductAttention automatic(0.1), reference_path(0.1, AttentionKernel::reference);
  auto q = torch::randn({2, 3, 4});
  CHECK(automatic->uses_fused(q, false));
  CHECK(!automatic->uses_fused(q, true));
  CHECK(!reference_path->uses_fused(q, false));
  automatic->record_weights(true);
  CHECK(!automatic->uses_fused(q, false));
  // Both kernels give the same model: an encoder in eval mode, reference vs fused.
  EncoderOptions o;
  o.vocab_size = 30;
  o.num_hiddens = 16;
  o.num_heads = 4;
  o.causal = true;
  auto fused_encoder = make_encoder(o);
  o.attention = AttentionKernel::reference;
  auto reference_encoder = make_encoder(o);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < fused_encoder->parameters().size(); ++i) {
    reference_encoder->parameters()[i].copy_(fused_encoder->parameters()[i]);
  }
  fused_encoder->eval();
  reference_encoder->eval();
  auto tokens = torch::randint(5, 30, {3, 12});
  auto lens = torch::tensor({12, 5, 1});
  CHECK(rel_diff(fused_encoder->forward(tokens, lens), reference_encoder->forward(tokens, lens)) < 1e-5);
}

TEST_CASE("resume with the fused kernel and dropout on: k steps, stop, resume equals N straight", "[fused][resume]") {
  auto config = load_config("", {"model.encoder=transformer",
                                 "model.num_hiddens=16",
                                 "model.num_heads=2",
                                 "model.ffn_num_hiddens=32",
                                 "model.dropout=0.2",
                                 "model.attention=fused",
                                 "data.task=lag",
                                 "data.symbols=4",
                                 "data.min_len=8",
                                 "data.seq_len=12",
                                 "data.max_distance=2",
                                 "data.train_size=200",
                                 "data.valid_size=20",
                                 "data.test_size=20",
                                 "train.steps=30",
                                 "train.batch_size=8",
                                 "train.eval_every=10",
                                 "train.log_every=5",
                                 "train.schedule=cosine",
                                 "train.threads=1"});
  TrainControl quiet;
  quiet.quiet = true;
  auto straight = fresh_dir("fused_straight"), resumed = fresh_dir("fused_resumed");
  auto a = train(config, straight.string(), false, quiet);
  TrainControl stop = quiet;
  stop.stop_after_step = 13;
  train(config, resumed.string(), false, stop);
  auto b = train(config, resumed.string(), true, quiet);
  CHECK(metric_lines(straight) == metric_lines(resumed));
  CHECK(a.valid.loss == b.valid.loss);
  fs::remove_all(straight);
  fs::remove_all(resumed);
}
