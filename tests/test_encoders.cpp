#include <catch2/catch.hpp>

#include <algorithm>
#include <torch/torch.h>

#include "helpers.h"
#include "seqenc/nn/cnn_encoder.h"
#include "seqenc/nn/heads.h"
#include "seqenc/nn/transformer_encoder.h"
#include "seqenc/tools/measure.h"

using namespace seqenc;
using seqenc::test::max_abs_diff;
using torch::indexing::Slice;

namespace {
EncoderOptions tiny(const std::string& name, bool causal = false) {
  EncoderOptions o;
  o.name = name;
  o.vocab_size = 30;
  o.num_hiddens = 16;
  o.num_layers = 2;
  o.num_heads = 4;
  o.ffn_num_hiddens = 32;
  o.dropout = 0.1;
  o.causal = causal;
  o.max_len = 64;
  o.activation = Activation::gelu;  // its gradient is never exactly zero, which the reach tests rely on
  return o;
}

std::vector<EncoderOptions> all_variants() {
  std::vector<EncoderOptions> v;
  for (bool causal : {false, true}) {
    v.push_back(tiny("transformer", causal));
    auto rel = tiny("transformer", causal);
    rel.pos_encoding = PosEncoding::relative;
    rel.max_relative_position = 4;
    v.push_back(rel);
    auto pre = tiny("transformer", causal);
    pre.pre_norm = true;
    pre.pos_encoding = PosEncoding::learned;
    v.push_back(pre);
    v.push_back(tiny("cnn", causal));
    auto dil = tiny("cnn", causal);
    dil.dilated = true;
    v.push_back(dil);
    v.push_back(tiny("rnn", causal));
    auto lstm = tiny("rnn", causal);
    lstm.cell = Cell::lstm;
    lstm.bidirectional = !causal;
    v.push_back(lstm);
  }
  return v;
}

std::string describe(const EncoderOptions& o) {
  return o.name + (o.causal ? " causal" : "") + " pos=" + name_of(o.pos_encoding) + " cell=" + name_of(o.cell) +
         (o.bidirectional ? " bi" : "") + (o.dilated ? " dilated" : "") + (o.pre_norm ? " pre-norm" : "");
}

}  // namespace

TEST_CASE("every encoder maps (B, n) tokens to (B, n, num_hiddens) and zeroes padding", "[encoders]") {
  for (const auto& o : all_variants()) {
    INFO(describe(o));
    torch::manual_seed(0);
    auto enc = make_encoder(o);
    auto tokens = torch::randint(5, 30, {3, 11});
    auto lens = torch::tensor({11, 6, 1});
    auto Y = enc->forward(tokens, lens);
    CHECK(Y.sizes() == torch::IntArrayRef({3, 11, 16}));
    CHECK(Y.index({1, Slice(6, 11)}).abs().max().item<double>() == 0);
  }
}

TEST_CASE("padding never leaks: valid outputs ignore what padded positions hold", "[encoders]") {
  for (const auto& o : all_variants()) {
    INFO(describe(o));
    torch::manual_seed(1);
    auto enc = make_encoder(o);
    enc->eval();
    auto tokens = torch::randint(5, 30, {3, 12});
    auto lens = torch::tensor({12, 7, 3});
    auto other = tokens.clone();
    other.index_put_({1, Slice(7, 12)}, torch::randint(5, 30, {5}));
    other.index_put_({2, Slice(3, 12)}, torch::randint(5, 30, {9}));
    auto a = enc->forward(tokens, lens), b = enc->forward(other, lens);
    CHECK(max_abs_diff(a, b) < 1e-5);
    CHECK(max_abs_diff(masked_mean(a, lens), masked_mean(b, lens)) < 1e-5);
    // The same example alone, without padding, gives the same valid outputs.
    auto alone = enc->forward(tokens.index({Slice(1, 2), Slice(0, 7)}), torch::tensor({7}));
    CHECK(max_abs_diff(alone[0], a.index({1, Slice(0, 7)})) < 1e-5);
  }
}

TEST_CASE("every encoder is deterministic in eval mode", "[encoders]") {
  for (const auto& o : all_variants()) {
    INFO(describe(o));
    auto enc = make_encoder(o);
    enc->eval();
    auto tokens = torch::randint(5, 30, {2, 9});
    auto lens = torch::tensor({9, 4});
    CHECK(torch::equal(enc->forward(tokens, lens), enc->forward(tokens, lens)));
  }
}

TEST_CASE("the book's TransformerEncoder has 14,352 parameters and keeps (2, 100, 24)", "[encoders]") {
  EncoderOptions o;
  o.name = "transformer";
  o.vocab_size = 200;
  o.num_hiddens = 24;
  o.ffn_num_hiddens = 48;
  o.num_heads = 8;
  o.num_layers = 2;
  o.dropout = 0.5;
  auto enc = make_encoder(o);
  CHECK(enc->num_parameters() == 14352);
  enc->eval();
  auto Y = enc->forward(torch::ones({2, 100}, torch::kLong), torch::tensor({3, 2}));
  CHECK(Y.sizes() == torch::IntArrayRef({2, 100, 24}));
}

TEST_CASE("parameter counts equal the formulas", "[encoders]") {
  const int64_t V = 30, d = 16, L = 2, k = 5, f = 32;
  auto cnn = tiny("cnn");
  cnn.kernel_size = k;
  CHECK(make_encoder(cnn)->num_parameters() == V * d + L * (k * d * d + d + 2 * d));
  auto gru = tiny("rnn");
  CHECK(make_encoder(gru)->num_parameters() == V * d + L * 3 * (d * d + d * d + 2 * d));
  auto lstm = tiny("rnn");
  lstm.cell = Cell::lstm;
  lstm.bidirectional = true;
  const int64_t layer0 = 2 * 4 * (d * d + d * d + 2 * d), layer1 = 2 * 4 * (2 * d * d + d * d + 2 * d);
  CHECK(make_encoder(lstm)->num_parameters() == V * d + layer0 + layer1 + 2 * d * d + d);
  auto tr = tiny("transformer");
  tr.attention_bias = true;
  const int64_t block = 4 * (d * d + d) + 2 * d + (d * f + f + f * d + d) + 2 * d;
  CHECK(make_encoder(tr)->num_parameters() == V * d + L * block);
}

TEST_CASE("analytic FLOPs follow the section's orders with exact constants", "[encoders]") {
  auto cnn = make_encoder(tiny("cnn"));
  CHECK(cnn->cost(100).flops == Approx(2.0 * 3 * 100 * 16 * 16 * 2));
  auto tr = make_encoder(tiny("transformer"));
  CHECK(tr->cost(100).flops == Approx(2 * (8.0 * 100 * 256 + 4.0 * 100 * 100 * 16 + 4.0 * 100 * 16 * 32)));
  auto rnn = make_encoder(tiny("rnn"));
  CHECK(rnn->cost(100).flops == Approx(2 * (2.0 * 3 * 100 * (256 + 256))));
  CHECK(rnn->cost(100).sequential_steps == 200);
  CHECK(cnn->cost(100).sequential_steps == 2);
  CHECK(tr->cost(100).sequential_steps == 2);
}

TEST_CASE("path length measured from gradients: a CNN reaches L(k-1)/2 on each side", "[encoders][path]") {
  for (int64_t L : {1, 2, 3}) {
    for (int64_t k : {3, 5, 7}) {
      auto o = tiny("cnn");
      o.num_layers = L;
      o.kernel_size = k;
      auto enc = make_encoder(o);
      const int64_t n = 41, t = 20;
      auto r = measure_reach(*enc, n, t);
      INFO("L=" << L << " k=" << k);
      CHECK(r.before == L * (k - 1) / 2);
      CHECK(r.after == L * (k - 1) / 2);
      CHECK(r.before == enc->cost(n).reach_before);
      CHECK(r.after == enc->cost(n).reach_after);
    }
  }
}

TEST_CASE("a dilated CNN reaches (k-1)/2 (2^L - 1) positions, as reported", "[encoders][path]") {
  auto o = tiny("cnn");
  o.dilated = true;
  o.num_layers = 3;
  auto enc = make_encoder(o);
  auto r = measure_reach(*enc, 41, 20);
  CHECK(r.before == 7);
  CHECK(r.after == 7);
  CHECK(enc->cost(41).reach_before == 7);
  CHECK(enc->cost(8).max_path_length == 3);  // 1 + 2 + 4 >= 7
}

TEST_CASE("one transformer layer reaches every position", "[encoders][path]") {
  auto o = tiny("transformer");
  o.num_layers = 1;
  auto enc = make_encoder(o);
  const int64_t n = 30;
  for (int64_t t : {0, 13, 29}) {
    auto r = measure_reach(*enc, n, t);
    CHECK(r.before == t);
    CHECK(r.after == n - 1 - t);
  }
  CHECK(enc->cost(n).max_path_length == 1);
  CHECK(enc->cost(n).reach_before == n - 1);
}

TEST_CASE("the RNN reaches every earlier position in causal mode, and no later one", "[encoders][path]") {
  auto enc = make_encoder(tiny("rnn", true));
  const int64_t n = 25;
  for (int64_t t : {3, 24}) {
    auto r = measure_reach(*enc, n, t);
    CHECK(r.before == t);
    CHECK(r.after == 0);
  }
  CHECK(enc->cost(n).max_path_length == n - 1);
  auto bi = tiny("rnn");
  bi.bidirectional = true;
  auto benc = make_encoder(bi);
  auto r = measure_reach(*benc, n, 10);
  CHECK(r.before == 10);
  CHECK(r.after == n - 11);
  CHECK(benc->cost(n).reach_after == n - 1);
}

TEST_CASE("causal mode: output t never depends on inputs after t", "[encoders][causal]") {
  for (const auto& o : all_variants()) {
    if (!o.causal) continue;
    INFO(describe(o));
    auto enc = make_encoder(o);
    for (int64_t t : {0, 5, 10}) CHECK(measure_reach(*enc, 12, t).after == 0);
    CHECK(enc->cost(12).reach_after == 0);
    enc->eval();
    auto tokens = torch::randint(5, 30, {1, 12});
    auto changed = tokens.clone();
    changed.index_put_({0, Slice(6, 12)}, torch::randint(5, 30, {6}));
    auto lens = torch::tensor({12});
    CHECK(max_abs_diff(enc->forward(tokens, lens).index({0, Slice(0, 6)}),
                       enc->forward(changed, lens).index({0, Slice(0, 6)})) < 1e-5);
  }
}

TEST_CASE("the causal CNN reaches L(k-1) earlier positions", "[encoders][path]") {
  auto o = tiny("cnn", true);
  auto enc = make_encoder(o);
  auto r = measure_reach(*enc, 30, 20);
  CHECK(r.before == 4);
  CHECK(enc->cost(30).reach_before == 4);
}

TEST_CASE("encoders are built by name, an unknown name lists the known ones", "[encoders]") {
  auto o = tiny("lstm-ish");
  CHECK_THROWS_WITH(make_encoder(o),
                    Catch::Contains("unknown encoder 'lstm-ish'") && Catch::Contains("cnn, rnn, transformer"));
  const auto names = encoder_names();
  for (const char* builtin : {"cnn", "rnn", "transformer"}) CHECK(std::count(names.begin(), names.end(), builtin) == 1);
  auto even = tiny("cnn");
  even.kernel_size = 4;
  CHECK_THROWS_WITH(make_encoder(even), Catch::Contains("model.kernel_size: must be odd"));
  auto bad_heads = tiny("transformer");
  bad_heads.num_heads = 3;
  CHECK_THROWS_WITH(make_encoder(bad_heads), Catch::Contains("is not divisible by model.num_heads 3"));
  auto bi_causal = tiny("rnn", true);
  bi_causal.bidirectional = true;
  CHECK_THROWS_WITH(make_encoder(bi_causal), Catch::Contains("model.bidirectional: must be false for a causal model"));
}

TEST_CASE("transformer attention weights of every block and head are readable", "[encoders]") {
  auto enc = make_encoder(tiny("transformer"));
  enc->eval();
  std::dynamic_pointer_cast<TransformerEncoderImpl>(enc)->record_attention_weights(true);
  enc->forward(torch::randint(5, 30, {2, 7}), torch::tensor({7, 3}));
  auto weights = std::dynamic_pointer_cast<TransformerEncoderImpl>(enc)->attention_weights();
  REQUIRE(weights.size() == 2);
  for (const auto& w : weights) {
    CHECK(w.sizes() == torch::IntArrayRef({2, 4, 7, 7}));
    CHECK(w.index({1, Slice(), Slice(), Slice(3, 7)}).abs().max().item<double>() == 0);
  }
}

TEST_CASE("heads: classify (mean and cls), tag and lm give the documented shapes", "[heads]") {
  auto tokens = torch::randint(5, 30, {3, 8});
  auto lens = torch::tensor({8, 5, 2});
  for (const auto& name : encoder_names()) {
    INFO(name);
    SequenceModel mean(tiny(name), HeadOptions{HeadKind::classify, 4, Pooling::mean});
    CHECK(mean(tokens, lens).sizes() == torch::IntArrayRef({3, 4}));
    SequenceModel tag(tiny(name), HeadOptions{HeadKind::tag, 6, Pooling::mean});
    CHECK(tag(tokens, lens).sizes() == torch::IntArrayRef({3, 8, 6}));
    SequenceModel lm(tiny(name, true), HeadOptions{HeadKind::lm, 30, Pooling::mean});
    CHECK(lm(tokens, lens).sizes() == torch::IntArrayRef({3, 8, 30}));
  }
  SequenceModel cls(tiny("transformer"), HeadOptions{HeadKind::classify, 4, Pooling::cls});
  cls->eval();
  auto out = cls(tokens, lens);
  CHECK(out.sizes() == torch::IntArrayRef({3, 4}));
  auto other = tokens.clone();
  other.index_put_({2, Slice(2, 8)}, 7);
  CHECK(max_abs_diff(out, cls(other, lens)) < 1e-5);
  CHECK_THROWS_WITH(SequenceModel(tiny("cnn"), HeadOptions{HeadKind::lm, 30, Pooling::mean}),
                    Catch::Contains("causal"));
}
