#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "helpers.h"
#include "seqenc/error.h"
#include "seqenc/nn/attention.h"

using namespace seqenc;
using seqenc::test::max_abs_diff;

TEST_CASE("the section's shape check: self-attention keeps (2, 4, 100)", "[attention]") {
  torch::manual_seed(0);
  MultiHeadAttention attention(100, 5, 0.5);  // left in training mode, as in the book
  auto X = torch::ones({2, 4, 100});
  auto valid_lens = torch::tensor({3, 2});
  auto Y = attention(X, X, X, valid_lens);
  CHECK(Y.sizes() == torch::IntArrayRef({2, 4, 100}));
  int64_t params = 0;
  for (const auto& p : attention->parameters()) params += p.numel();
  CHECK(params == 40000);  // four bias-free 100 x 100 projections
}

TEST_CASE("multi-head attention with 6 keys and values gives (2, 4, 100)", "[attention]") {
  MultiHeadAttention attention(100, 5, 0.5);
  attention->eval();
  attention->record_weights(true);
  auto Q = torch::ones({2, 4, 100});
  auto KV = torch::ones({2, 6, 100});
  auto Y = attention(Q, KV, KV, torch::tensor({3, 2}));
  CHECK(Y.sizes() == torch::IntArrayRef({2, 4, 100}));
  CHECK(attention->attention_weights().sizes() == torch::IntArrayRef({2, 5, 4, 6}));
}

TEST_CASE("num_hiddens not divisible by num_heads is refused at construction", "[attention]") {
  CHECK_THROWS_WITH(MultiHeadAttention(100, 7, 0.0),
                    Catch::Contains("model.num_hiddens: 100 is not divisible by model.num_heads 7"));
  CHECK_THROWS_AS(MultiHeadAttention(8, 0, 0.0), ModelError);
}

TEST_CASE("masked_softmax with 1-D valid_lens: exact zeros and rows summing to 1", "[attention]") {
  torch::manual_seed(1);
  auto X = torch::rand({2, 2, 4});
  auto Y = masked_softmax(X, torch::tensor({2, 3}));
  using torch::indexing::Slice;
  CHECK(torch::all(Y.index({0, Slice(), Slice(2, 4)}) == 0).item<bool>());
  CHECK(torch::all(Y.index({1, Slice(), Slice(3, 4)}) == 0).item<bool>());
  CHECK(torch::all(Y.index({0, Slice(), Slice(0, 2)}) > 0).item<bool>());
  CHECK(torch::all(Y.index({1, Slice(), Slice(0, 3)}) > 0).item<bool>());
  CHECK(max_abs_diff(Y.sum(-1), torch::ones({2, 2})) < 1e-6);
}

TEST_CASE("masked_softmax with 2-D valid_lens masks per query", "[attention]") {
  torch::manual_seed(2);
  auto X = torch::rand({2, 2, 4});
  auto Y = masked_softmax(X, torch::tensor({{1, 3}, {2, 4}}));
  auto expected_nonzero = torch::tensor({{{1, 0, 0, 0}, {1, 1, 1, 0}}, {{1, 1, 0, 0}, {1, 1, 1, 1}}}).to(torch::kBool);
  CHECK(torch::equal(Y > 0, expected_nonzero));
  CHECK(max_abs_diff(Y.sum(-1), torch::ones({2, 2})) < 1e-6);
}

TEST_CASE("masked_softmax: a row of valid length 0 is uniform, not NaN", "[attention]") {
  auto X = torch::randn({2, 3, 5});
  auto Y = masked_softmax(X, torch::tensor({0, 5}));
  CHECK_FALSE(torch::any(torch::isnan(Y)).item<bool>());
  CHECK(max_abs_diff(Y[0], torch::full({3, 5}, 0.2)) < 1e-6);
}

TEST_CASE("masked_softmax without valid_lens is a plain softmax", "[attention]") {
  auto X = torch::randn({2, 3, 5});
  CHECK(max_abs_diff(masked_softmax(X, {}), torch::softmax(X, -1)) < 1e-7);
}

TEST_CASE("masked_softmax rejects 3-D valid_lens with a clear message", "[attention]") {
  CHECK_THROWS_WITH(masked_softmax(torch::randn({2, 3, 5}), torch::ones({2, 3, 1})),
                    Catch::Contains("valid_lens must be 1-D"));
}

TEST_CASE("causal_valid_lens gives the book's 2-D decoder mask, capped by valid_lens", "[attention]") {
  auto lens = causal_valid_lens(torch::tensor({4, 2}), 4);
  CHECK(torch::equal(lens, torch::tensor({{1, 2, 3, 4}, {1, 2, 2, 2}})));
}

TEST_CASE("MultiHeadAttention equals torch::nn::MultiheadAttention with copied weights", "[attention]") {
  torch::manual_seed(3);
  const int64_t d = 16, heads = 4, B = 3, nq = 5, nk = 7;
  MultiHeadAttention ours(d, heads, 0.0);
  ours->eval();
  torch::nn::MultiheadAttention ref(torch::nn::MultiheadAttentionOptions(d, heads).bias(true));
  ref->eval();
  {
    torch::NoGradGuard no_grad;
    ref->in_proj_weight.copy_(torch::cat({ours->W_q->weight, ours->W_k->weight, ours->W_v->weight}, 0));
    ref->in_proj_bias.zero_();
    ref->out_proj->weight.copy_(ours->W_o->weight);
    ref->out_proj->bias.zero_();
  }
  auto queries = torch::randn({B, nq, d});
  auto keys = torch::randn({B, nk, d});
  auto values = torch::randn({B, nk, d});
  auto valid_lens = torch::tensor({7, 3, 1});
  auto ours_out = ours(queries, keys, values, valid_lens);
  auto key_padding_mask = torch::arange(nk).unsqueeze(0) >= valid_lens.unsqueeze(1);
  auto ref_out =
      std::get<0>(ref(queries.transpose(0, 1), keys.transpose(0, 1), values.transpose(0, 1), key_padding_mask))
          .transpose(0, 1);
  CHECK(max_abs_diff(ours_out, ref_out) < 1e-5);
}

TEST_CASE("outputs at valid queries ignore the content of padded keys", "[attention]") {
  torch::manual_seed(4);
  MultiHeadAttention attention(24, 3, 0.0, /*bias=*/true);
  attention->eval();
  auto X = torch::randn({2, 6, 24});
  auto valid_lens = torch::tensor({4, 2});
  auto before = attention(X, X, X, valid_lens);
  auto Z = X.clone();
  Z.index_put_({0, torch::indexing::Slice(4, 6)}, torch::randn({2, 24}) * 100);
  Z.index_put_({1, torch::indexing::Slice(2, 6)}, torch::randn({4, 24}) * 100);
  auto after = attention(Z, Z, Z, valid_lens);
  using torch::indexing::Slice;
  CHECK(max_abs_diff(before.index({0, Slice(0, 4)}), after.index({0, Slice(0, 4)})) < 1e-5);
  CHECK(max_abs_diff(before.index({1, Slice(0, 2)}), after.index({1, Slice(0, 2)})) < 1e-5);
}

TEST_CASE("relative position attention: shapes, padding invariance and offset clipping", "[attention]") {
  torch::manual_seed(5);
  MultiHeadAttention attention(16, 2, 0.0, false, /*max_relative_position=*/3);
  attention->eval();
  auto X = torch::randn({2, 9, 16});
  auto valid_lens = torch::tensor({9, 5});
  auto Y = attention(X, X, X, valid_lens);
  CHECK(Y.sizes() == torch::IntArrayRef({2, 9, 16}));
  CHECK(attention->rel_keys->weight.size(0) == 7);
  auto Z = X.clone();
  Z.index_put_({1, torch::indexing::Slice(5, 9)}, 50.0);
  auto Y2 = attention(Z, Z, Z, valid_lens);
  CHECK(max_abs_diff(Y.index({1, torch::indexing::Slice(0, 5)}), Y2.index({1, torch::indexing::Slice(0, 5)})) < 1e-5);
}

TEST_CASE("dot-product attention keeps weights before dropout", "[attention]") {
  torch::manual_seed(6);
  DotProductAttention attention(0.5);
  attention->record_weights(true);
  auto q = torch::randn({2, 3, 4}), k = torch::randn({2, 5, 4}), v = torch::randn({2, 5, 4});
  attention(q, k, v, torch::tensor({2, 5}));
  auto w = attention->attention_weights();
  CHECK(max_abs_diff(w.sum(-1), torch::ones({2, 3})) < 1e-6);
  CHECK(max_abs_diff(w, masked_softmax(torch::bmm(q, k.transpose(1, 2)) / 2.0, torch::tensor({2, 5}))) < 1e-6);
}

TEST_CASE("dropout keeps 1 - p of the entries, scaled by 1 / (1 - p), eval mode is the identity",
          "[attention][dropout]") {
  torch::manual_seed(8);
  auto x = torch::ones({1000, 301});
  for (double p : {0.1, 0.5, 0.9}) {
    auto y = fast_dropout(x, p, true);
    const double kept = y.ne(0).to(torch::kFloat64).mean().item<double>();
    CHECK(kept == Approx(1 - p).margin(0.005));
    // Scaled by the inverse of the exact kept share, (65536 - round(65536 p)) / 65536: within 1e-4 of 1 / (1 - p).
    CHECK(y.max().item<double>() == Approx(1 / (1 - p)).epsilon(1e-4));
    CHECK(y.mean().item<double>() == Approx(1.0).margin(0.02));
  }
  CHECK(torch::equal(fast_dropout(x, 0.5, false), x));
  CHECK(torch::equal(fast_dropout(x, 0.0, true), x));
  Dropout module(0.3);
  module->eval();
  CHECK(torch::equal(module(x), x));
  CHECK_THROWS_WITH(Dropout(1.0), Catch::Contains("[0, 1)"));
  // Gradients flow through kept entries only.
  auto z = torch::ones({50, 7}, torch::requires_grad());
  auto out = fast_dropout(z, 0.5, true);
  out.sum().backward();
  CHECK(torch::equal(z.grad().ne(0), out.ne(0)));
}
