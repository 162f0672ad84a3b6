#include <catch2/catch.hpp>

#include <filesystem>
#include <torch/script.h>
#include <torch/torch.h>

#include "helpers.h"
#include "seqenc/tools/export.h"

using namespace seqenc;
using seqenc::test::max_abs_diff;
using torch::indexing::Slice;
namespace fs = std::filesystem;

namespace {
EncoderOptions variant(const std::string& name, bool causal) {
  EncoderOptions o;
  o.name = name;
  o.vocab_size = 40;
  o.num_hiddens = 12;
  o.num_layers = 2;
  o.num_heads = 3;
  o.ffn_num_hiddens = 20;
  o.dropout = 0.2;
  o.causal = causal;
  o.max_len = 32;
  o.max_relative_position = 3;
  return o;
}

std::vector<EncoderOptions> encoders() {
  std::vector<EncoderOptions> all;
  for (bool causal : {false, true}) {
    for (auto pe : {PosEncoding::sinusoidal, PosEncoding::learned, PosEncoding::relative, PosEncoding::none}) {
      auto o = variant("transformer", causal);
      o.pos_encoding = pe;
      o.attention_bias = pe == PosEncoding::learned;
      o.pre_norm = pe == PosEncoding::none;
      all.push_back(o);
    }
    auto cnn = variant("cnn", causal);
    cnn.kernel_size = 5;
    all.push_back(cnn);
    auto dil = variant("cnn", causal);
    dil.dilated = true;
    dil.activation = Activation::gelu;
    all.push_back(dil);
    all.push_back(variant("rnn", causal));
    auto lstm = variant("rnn", causal);
    lstm.cell = Cell::lstm;
    lstm.bidirectional = !causal;
    all.push_back(lstm);
  }
  return all;
}

std::vector<HeadOptions> heads_for(bool causal) {
  const auto mean = Pooling::mean;
  if (causal) return {{HeadKind::lm, 40, mean}, {HeadKind::tag, 5, mean}, {HeadKind::classify, 4, mean}};
  return {{HeadKind::classify, 4, mean}, {HeadKind::classify, 4, Pooling::cls}, {HeadKind::tag, 5, mean}};
}

ExportMetadata metadata(const HeadOptions& head) {
  ExportMetadata m;
  m.task = "test";
  m.head = name_of(head.kind);
  m.max_len = 31;
  for (int i = 0; i < 40; ++i) m.vocab.push_back("t" + std::to_string(i));
  for (int i = 0; i < head.num_classes; ++i) m.labels.push_back("l" + std::to_string(i));
  return m;
}

torch::Tensor run(torch::jit::Module& m, const torch::Tensor& tokens, const torch::Tensor& lens) {
  return m.forward({tokens, lens}).toTensor();
}
}  // namespace

TEST_CASE("export: the scripted model equals the eager one for every encoder and head", "[export]") {
  for (const auto& enc : encoders()) {
    for (const auto& head : heads_for(enc.causal)) {
      INFO(enc.name << " causal=" << enc.causal << " pos=" << name_of(enc.pos_encoding) << " cell=" << name_of(enc.cell)
                    << " head=" << name_of(head.kind) << "/" << name_of(head.pooling));
      torch::manual_seed(7);
      SequenceModel model(enc, head);
      model->eval();
      auto scripted = script_model(*model, metadata(head));
      for (auto [B, n] : {std::pair<int64_t, int64_t>{3, 11}, {5, 7}, {1, 30}}) {
        auto tokens = torch::randint(5, 40, {B, n});
        auto lens = torch::randint(1, n + 1, {B});
        lens[0] = n;
        torch::NoGradGuard no_grad;
        auto eager = model(tokens, lens);
        auto exported = run(scripted, tokens, lens);
        REQUIRE(exported.sizes() == eager.sizes());
        if (head.kind == HeadKind::classify) {
          CHECK(max_abs_diff(eager, exported) < 1e-5);
        } else {
          // Logits at padded positions are not part of the contract; compare valid ones.
          auto valid = (torch::arange(n).unsqueeze(0) < lens.unsqueeze(1)).unsqueeze(-1);
          CHECK(max_abs_diff(eager * valid, exported * valid) < 1e-5);
        }
      }
    }
  }
}

TEST_CASE("export: padding invariance holds in the exported model", "[export]") {
  for (const auto& enc : encoders()) {
    if (enc.causal) continue;
    INFO(enc.name << " pos=" << enc.pos_encoding << " cell=" << enc.cell);
    SequenceModel model(enc, HeadOptions{HeadKind::classify, 4, Pooling::mean});
    auto scripted = script_model(*model, metadata(HeadOptions{HeadKind::classify, 4, Pooling::mean}));
    auto tokens = torch::randint(5, 40, {2, 9});
    auto lens = torch::tensor({9, 4});
    auto other = tokens.clone();
    other.index_put_({1, Slice(4, 9)}, torch::randint(5, 40, {5}));
    CHECK(max_abs_diff(run(scripted, tokens, lens), run(scripted, other, lens)) < 1e-5);
  }
}

TEST_CASE("export: saved file loads back with metadata as attributes and extra files", "[export]") {
  HeadOptions head{HeadKind::tag, 5, Pooling::mean};
  SequenceModel model(variant("transformer", false), head);
  model->eval();
  auto meta = metadata(head);
  meta.config_yaml = "model:\n  encoder: transformer\n";
  auto scripted = script_model(*model, meta);
  const auto path = (fs::temp_directory_path() / ("seqenc_export_" + std::to_string(::getpid()) + ".pt")).string();
  save_scripted(scripted, meta, path);
  torch::jit::ExtraFilesMap extra = {{"seqenc.json", ""}, {"vocab.txt", ""}, {"config.yaml", ""}};
  auto loaded = torch::jit::load(path, torch::kCPU, extra);
  CHECK_THAT(extra["seqenc.json"], Catch::Contains("seqenc-export-1"));
  CHECK_THAT(extra["vocab.txt"], Catch::StartsWith("t0\nt1\n"));
  CHECK(extra["config.yaml"] == meta.config_yaml);
  CHECK(loaded.attr("head").toStringRef() == "tag");
  CHECK(loaded.attr("max_len").toInt() == 31);
  CHECK(loaded.attr("labels").toListRef().size() == 5);
  auto tokens = torch::randint(5, 40, {2, 6});
  auto lens = torch::tensor({6, 3});
  torch::NoGradGuard no_grad;
  CHECK(max_abs_diff(run(loaded, tokens, lens).index({0}), model(tokens, lens).index({0})) < 1e-5);
  CHECK_THROWS(run(loaded, torch::randint(5, 40, {1, 33}), torch::tensor({33})));  // beyond max_len
  fs::remove(path);
}
