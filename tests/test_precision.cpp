// bf16 mixed precision: products in bf16 agree with fp32 within bf16's rounding, everything around them stays
// fp32, padding never leaks, training reaches the fp32 run's accuracy, and resume stays exact.
#include <catch2/catch.hpp>

#include <filesystem>
#include <torch/torch.h>

#include "helpers.h"
#include "seqenc/error.h"
#include "seqenc/nn/attention.h"
#include "seqenc/nn/fused_attention.h"
#include "seqenc/nn/heads.h"
#include "seqenc/nn/linear.h"
#include "seqenc/nn/precision.h"
#include "seqenc/train/evaluate.h"
#include "seqenc/train/trainer.h"

using namespace seqenc;
using seqenc::test::attention_grads;
using seqenc::test::fresh_dir;
using seqenc::test::metric_lines;
using seqenc::test::quietly;
using seqenc::test::rel_diff;
namespace fs = std::filesystem;
using torch::indexing::Slice;

namespace {

// bf16 keeps 8 significant bits: one rounding is 2^-9 relative; a dot product of rounded factors stays within
// a few of those of the largest entry. A product done in fp32 would differ from fp32 by ~1e-7.
constexpr double kBf16Tolerance = 2e-2;
constexpr double kRoundedAtLeast = 1e-5;
// Attention's input gradients go through dP - D, a difference of near-equal terms, which doubles that.
constexpr double kBf16SoftmaxGradTolerance = 4e-2;

EncoderOptions tiny(const std::string& name) {
  EncoderOptions o;
  o.name = name;
  o.vocab_size = 30;
  o.num_hiddens = 32;
  o.num_layers = 2;
  o.num_heads = 4;
  o.ffn_num_hiddens = 64;
  o.dropout = 0;
  o.max_len = 64;
  return o;
}

}  // namespace

TEST_CASE("a PrecisionScope turns bf16 products on for its extent and restores what was there", "[precision]") {
  CHECK_FALSE(bf16_products());
  {
    PrecisionScope bf16(Precision::bf16);
    CHECK(bf16_products());
    {
      PrecisionScope fp32(Precision::fp32);  // fp32 changes nothing
      CHECK(bf16_products());
    }
    PrecisionScope nested(Precision::bf16);
    CHECK(bf16_products());
  }
  CHECK_FALSE(bf16_products());
}

TEST_CASE("bf16 support is probed once and described in one line", "[precision]") {
  const auto& support = bf16_support();
  CHECK(&support == &bf16_support());
  INFO(support.summary());
  CHECK(support.summary().find('\n') == std::string::npos);
  if (support.runs) {
    CHECK(support.bf16_gflops > 0);
    CHECK(support.fp32_gflops > 0);
    CHECK(support.summary().find("GFLOP/s") != std::string::npos);
  }
}

TEST_CASE("linear in bf16: output and gradients within bf16 rounding of fp32, all fp32", "[precision]") {
  REQUIRE(bf16_support().runs);
  torch::manual_seed(0);
  auto x0 = torch::randn({2, 37, 96}), w0 = torch::randn({80, 96}) * 0.1, b0 = torch::randn({80});
  auto upstream = torch::randn({2, 37, 80});
  auto run = [&](Precision precision) {
    auto x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
    torch::Tensor y;
    {
      PrecisionScope scope(precision);
      y = linear(x, w, b);
    }
    (y * upstream).sum().backward();
    return std::vector<torch::Tensor>{y.detach(), x.grad(), w.grad(), b.grad()};
  };
  auto full = run(Precision::fp32), half = run(Precision::bf16);
  for (size_t i = 0; i < full.size(); ++i) {
    INFO("tensor " << i << " (output, dx, dw, db)");
    CHECK(half[i].scalar_type() == torch::kFloat);
    CHECK(rel_diff(half[i], full[i]) < kBf16Tolerance);
  }
  CHECK(rel_diff(half[0], full[0]) > kRoundedAtLeast);  // the product did run in bf16
  CHECK(torch::equal(half[3], full[3]));                // db sums the fp32 upstream gradient: no rounding
}

TEST_CASE("fused attention in bf16 agrees with the fp32 reference for every mask, with dropout", "[precision]") {
  REQUIRE(bf16_support().runs);
  torch::manual_seed(1);
  const int64_t BH = 4, n = 70, d = 16;
  auto q = torch::randn({BH, n, d}), k = torch::randn({BH, n, d}), v = torch::randn({BH, n, d});
  auto upstream = torch::randn({BH, n, d});
  std::vector<torch::Tensor> masks = {torch::Tensor(), torch::tensor({70, 33, 1, 0}),
                                      torch::randint(0, n + 1, {BH, n})};
  for (size_t i = 0; i < masks.size(); ++i) {
    for (double dropout : {0.0, 0.3}) {
      INFO("mask " << i << " dropout " << dropout);
      const FusedAttentionOptions options{dropout, 7};
      auto fp32 = attention_grads(
          [&](auto& a, auto& b, auto& c) { return fused_attention(a, b, c, masks[i], options); }, q, k, v, upstream);
      auto bf16 = attention_grads(
          [&](auto& a, auto& b, auto& c) {
            PrecisionScope scope(Precision::bf16);
            return fused_attention(a, b, c, masks[i], options);
          },
          q, k, v, upstream);
      CHECK(bf16.out.scalar_type() == torch::kFloat);
      CHECK(rel_diff(bf16.out, fp32.out) < kBf16Tolerance);
      CHECK(rel_diff(bf16.out, fp32.out) > kRoundedAtLeast);
      CHECK(rel_diff(bf16.dq, fp32.dq) < kBf16SoftmaxGradTolerance);
      CHECK(rel_diff(bf16.dk, fp32.dk) < kBf16SoftmaxGradTolerance);
      CHECK(rel_diff(bf16.dv, fp32.dv) < kBf16Tolerance);
    }
  }
}

TEST_CASE("fused attention takes bf16 queries, keys and values and returns bf16", "[precision]") {
  REQUIRE(bf16_support().runs);
  torch::manual_seed(2);
  auto q = torch::randn({2, 40, 8}), k = torch::randn({2, 40, 8}), v = torch::randn({2, 40, 8});
  auto upstream = torch::randn({2, 40, 8});
  auto lens = torch::tensor({40, 13});
  auto fp32 =
      attention_grads([&](auto& a, auto& b, auto& c) { return fused_attention(a, b, c, lens); }, q, k, v, upstream);
  auto bf16 = attention_grads([&](auto& a, auto& b, auto& c) { return fused_attention(a, b, c, lens); },
                              q.to(torch::kBFloat16), k.to(torch::kBFloat16), v.to(torch::kBFloat16), upstream);
  CHECK(bf16.out.scalar_type() == torch::kBFloat16);
  CHECK(bf16.dq.scalar_type() == torch::kBFloat16);
  CHECK(rel_diff(bf16.out, fp32.out) < kBf16Tolerance);
  CHECK(rel_diff(bf16.dq, fp32.dq) < kBf16SoftmaxGradTolerance);
  CHECK(rel_diff(bf16.dk, fp32.dk) < kBf16SoftmaxGradTolerance);
  CHECK(rel_diff(bf16.dv, fp32.dv) < kBf16Tolerance);
}

TEST_CASE("every encoder in bf16: fp32 states close to fp32's, padding never leaks", "[precision]") {
  REQUIRE(bf16_support().runs);
  auto reference = tiny("transformer");
  reference.attention = AttentionKernel::reference;
  auto lstm = tiny("rnn");
  lstm.cell = Cell::lstm;
  lstm.bidirectional = true;
  auto causal_cnn = tiny("cnn");
  causal_cnn.causal = true;
  for (const auto& o : {tiny("transformer"), reference, tiny("cnn"), causal_cnn, tiny("rnn"), lstm}) {
    INFO(o.name << " attention " << name_of(o.attention) << " cell " << name_of(o.cell));
    torch::manual_seed(3);
    auto encoder = make_encoder(o);
    encoder->eval();
    auto tokens = torch::randint(5, 30, {3, 12}), lens = torch::tensor({12, 7, 3});
    auto other = tokens.clone();
    other.index_put_({1, Slice(7, 12)}, torch::randint(5, 30, {5}));
    torch::Tensor full = encoder->forward(tokens, lens), half, half_other;
    {
      PrecisionScope scope(Precision::bf16);
      half = encoder->forward(tokens, lens);
      half_other = encoder->forward(other, lens);
    }
    CHECK(half.scalar_type() == torch::kFloat);
    CHECK(rel_diff(half, full) < 5e-2);  // a few layers of bf16 products
    CHECK(torch::equal(half.index({1, Slice(0, 7)}), half_other.index({1, Slice(0, 7)})));
    CHECK(half.index({1, Slice(7, 12)}).abs().max().item<double>() == 0);
  }
}

TEST_CASE("one training step's gradients in bf16 agree with fp32's", "[precision]") {
  REQUIRE(bf16_support().runs);
  torch::manual_seed(4);
  SequenceModel model(tiny("transformer"), HeadOptions{HeadKind::tag, 30, Pooling::mean});
  auto tokens = torch::randint(5, 30, {4, 16}), lens = torch::tensor({16, 10, 5, 1});
  auto labels = torch::randint(0, 30, {4, 16}).masked_fill(valid_positions(lens, 16).logical_not(), kIgnoreLabel);
  auto gradients = [&](Precision precision) {
    model->zero_grad();
    torch::Tensor loss;
    {
      PrecisionScope scope(precision);
      auto out = model->labelled_logits(tokens, lens, labels);
      loss = task_loss(out.logits, out.labels);
    }
    CHECK(loss.scalar_type() == torch::kFloat);
    loss.backward();
    std::vector<torch::Tensor> grads;
    for (const auto& p : model->parameters()) grads.push_back(p.grad().clone());
    return grads;
  };
  auto full = gradients(Precision::fp32), half = gradients(Precision::bf16);
  REQUIRE(full.size() == half.size());
  auto flat = [](const std::vector<torch::Tensor>& g) {
    std::vector<torch::Tensor> parts;
    for (const auto& t : g) parts.push_back(t.flatten());
    return torch::cat(parts);
  };
  const auto a = flat(half), b = flat(full);
  CHECK(a.scalar_type() == torch::kFloat);
  // Gradient direction and size: what the optimizer sees.
  CHECK(torch::cosine_similarity(a, b, 0).item<double>() > 0.999);
  CHECK((a.norm() / b.norm()).item<double>() == Approx(1.0).epsilon(0.02));
}

TEST_CASE("bf16 training reaches the fp32 run's accuracy on lag and on tagging", "[precision][training]") {
  REQUIRE(bf16_support().runs);
  const std::vector<std::vector<std::string>> tasks = {
      // The demo's lag task, small: a transformer with relative positions.
      {"model.encoder=transformer", "model.num_hiddens=32", "model.num_heads=2", "model.ffn_num_hiddens=64",
       "model.pos_encoding=relative", "model.max_relative_position=4", "model.dropout=0", "data.task=lag",
       "data.symbols=4", "data.min_len=8", "data.seq_len=12", "data.min_distance=1", "data.max_distance=2",
       "data.train_size=400", "data.valid_size=100", "data.test_size=50", "train.steps=240", "train.lr=0.01"},
      // Part-of-speech tagging of data/tags.tsv with a CNN (its convolutions under LibTorch's autocast).
      {"model.encoder=cnn", "model.num_hiddens=32", "model.dropout=0", "data.task=tsv_tag",
       "data.train=" SEQENC_SOURCE_DIR "/data/tags.tsv", "data.valid_ratio=0.1", "data.test_ratio=0.1",
       "data.max_len=32", "train.steps=150", "train.lr=0.005"}};
  for (const auto& task : tasks) {
    INFO(task.front());
    std::vector<double> accuracy;
    for (const char* precision : {"fp32", "bf16"}) {
      auto overrides = task;
      for (const char* common : {"train.batch_size=16", "train.eval_every=50", "train.log_every=50", "train.threads=1"})
        overrides.emplace_back(common);
      overrides.push_back(std::string("train.precision=") + precision);
      auto dir = fresh_dir(std::string("precision_") + precision);
      auto outcome = train(load_config("", overrides), dir.string(), false, quietly());
      REQUIRE(outcome.stop_reason == StopReason::completed);
      accuracy.push_back(outcome.valid.accuracy);
      fs::remove_all(dir);
    }
    INFO("fp32 " << accuracy[0] << " bf16 " << accuracy[1]);
    CHECK(accuracy[0] > 0.8);  // the task is learnt at all
    CHECK(accuracy[1] >= accuracy[0] - 0.02);
  }
}

TEST_CASE("resume in bf16: k steps, stop, resume to N equals N steps straight", "[precision][resume]") {
  REQUIRE(bf16_support().runs);
  auto config = load_config(
      "", {"model.num_hiddens=16", "model.num_heads=2", "model.ffn_num_hiddens=32", "model.dropout=0.1",
           "data.task=lag", "data.symbols=4", "data.min_len=8", "data.seq_len=12", "data.max_distance=2",
           "data.train_size=200", "data.valid_size=50", "data.test_size=50", "train.steps=40", "train.batch_size=16",
           "train.eval_every=20", "train.log_every=5", "train.threads=1", "train.precision=bf16"});
  auto straight = fresh_dir("bf16_straight"), resumed = fresh_dir("bf16_resumed");
  auto a = train(config, straight.string(), false, quietly());
  auto stop = quietly();
  stop.stop_after_step = 23;
  CHECK(train(config, resumed.string(), false, stop).stop_reason == StopReason::stopped);
  auto b = train(config, resumed.string(), true, quietly());
  CHECK(b.state.step == 40);
  CHECK(metric_lines(straight) == metric_lines(resumed));
  CHECK(a.valid.loss == b.valid.loss);
  // The checkpoint is fp32 whatever the precision: it resumes in fp32 too.
  config.train.precision = Precision::fp32;
  config.train.steps = 45;
  CHECK(train(config, resumed.string(), true, quietly()).state.step == 45);
  fs::remove_all(straight);
  fs::remove_all(resumed);
}

TEST_CASE("bf16 on a GPU is refused in one line naming the key", "[precision][config]") {
  auto config = load_config("", {});
  config.train.precision = Precision::bf16;
  config.train.device = DeviceKind::cuda;
  auto problems = config_problems(config);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].rfind("train.precision: ", 0) == 0);
  CHECK_THROWS_WITH(check_precision(Precision::bf16, torch::Device(torch::kCUDA)),
                    Catch::Contains("train.precision: bf16 runs on the CPU, but train.device is cuda"));
  CHECK_THROWS_WITH(load_config("", {"train.precision=fp16"}), Catch::Contains("train.precision"));
}
