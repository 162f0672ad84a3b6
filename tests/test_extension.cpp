// The redesign's promises: an encoder added from outside lib/ trains,
// checkpoints and exports; runs written by seqenc 0.1.0 still load; choices
// are enums refused where they are read; the library leaves process state alone.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include "helpers.h"
#include "seqenc/data/file_format.h"
#include "seqenc/data/synthetic.h"
#include "seqenc/nn/torchscript.h"
#include "seqenc/tools/export.h"
#include "seqenc/tools/tool_config.h"
#include "seqenc/train/run.h"
#include "seqenc/train/sinks.h"
#include "seqenc/train/trainer.h"

using namespace seqenc;
using seqenc::test::fresh_dir;
using seqenc::test::max_abs_diff;
namespace fs = std::filesystem;

namespace {

// The smallest encoder that keeps the contract: a position-wise layer, padding zeroed.
class TinyMlpEncoderImpl : public EncoderImpl {
 public:
  explicit TinyMlpEncoderImpl(const EncoderOptions& o) : EncoderImpl(o) {
    hidden = register_module("hidden", torch::nn::Linear(o.num_hiddens, o.num_hiddens));
  }
  torch::Tensor encode(const torch::Tensor& X, const torch::Tensor& valid_lens) override {
    return zero_padding(torch::tanh(hidden(X)), valid_lens);
  }
  void emit_torchscript(TorchScriptWriter& w, const std::string& path) const override {
    w.line("X = torch.tanh(" + TorchScriptWriter::linear("X", *hidden, path + ".hidden") + ")");
    w.line("X = X * valid.unsqueeze(-1).to(X.dtype)");
  }
  EncoderCost cost(int64_t n) const override {
    const double d = static_cast<double>(options_.num_hiddens);
    EncoderCost c;
    c.flops = 2.0 * static_cast<double>(n) * d * d;
    c.sequential_steps = 1;
    return c;
  }
  torch::nn::Linear hidden{nullptr};
};

void register_tiny_mlp() {
  register_encoder(
      "tiny_mlp", [](const EncoderOptions& o) { return std::make_shared<TinyMlpEncoderImpl>(o); },
      [](const EncoderOptions& o) -> std::vector<std::string> {
        if (o.num_hiddens > 64) return {"model.num_hiddens: at most 64 for tiny_mlp"};
        return {};
      });
}

Config tiny_config(const std::string& encoder) {
  return load_config(
      "", {"model.encoder=" + encoder, "model.num_hiddens=16", "model.num_layers=1", "model.num_heads=2",
           "model.ffn_num_hiddens=32", "data.task=lag", "data.symbols=4", "data.min_len=8", "data.seq_len=12",
           "data.max_len=12", "data.max_distance=2", "data.train_size=64", "data.valid_size=16", "data.test_size=16",
           "train.steps=12", "train.batch_size=8", "train.eval_every=6", "train.log_every=3", "train.threads=1"});
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("an encoder registered outside lib/ trains, checkpoints, resumes and exports", "[extension]") {
  register_tiny_mlp();
  CHECK_THROWS_WITH(load_config("", {"model.encoder=tiny_mlp", "model.num_hiddens=128"}),
                    Catch::Contains("model.num_hiddens: at most 64 for tiny_mlp"));
  auto config = tiny_config("tiny_mlp");
  TrainControl quiet;
  quiet.quiet = true;
  auto dir = fresh_dir("tiny_mlp");
  TrainControl stop = quiet;
  stop.stop_after_step = 5;
  CHECK(train(config, dir.string(), false, stop).stop_reason == StopReason::stopped);
  CHECK(fs::exists(dir / "checkpoint_last.pt"));
  auto outcome = train(config, dir.string(), true, quiet);
  CHECK(outcome.stop_reason == StopReason::completed);
  CHECK(outcome.state.step == 12);

  const auto out = dir / "model.pt";
  export_run(dir.string(), out.string());
  auto scripted = torch::jit::load(out.string());
  auto run = load_run(dir.string());
  auto tokens = torch::randint(5, run.task.vocab.size(), {3, 10});
  auto lens = torch::tensor({10, 4, 1});
  torch::NoGradGuard no_grad;
  auto eager = run.model->forward(tokens, lens);
  auto exported = scripted.forward({tokens, lens}).toTensor();
  auto valid = (torch::arange(10).unsqueeze(0) < lens.unsqueeze(1)).unsqueeze(-1);
  CHECK(max_abs_diff(eager * valid, exported * valid) < 1e-6);
  fs::remove_all(dir);
}

TEST_CASE("an encoder without a TorchScript form trains but its export says why it cannot", "[extension]") {
  struct NoScriptImpl : TinyMlpEncoderImpl {
    using TinyMlpEncoderImpl::TinyMlpEncoderImpl;
    void emit_torchscript(TorchScriptWriter& w, const std::string& path) const override {
      EncoderImpl::emit_torchscript(w, path);
    }
  };
  register_encoder("no_script", [](const EncoderOptions& o) { return std::make_shared<NoScriptImpl>(o); });
  auto options = tiny_config("cnn").model;
  options.name = "no_script";
  options.vocab_size = 20;
  SequenceModel model(options, HeadOptions{HeadKind::tag, 4, Pooling::mean});
  CHECK_THROWS_AS(model->torchscript_source(), ModelError);
  CHECK_THROWS_WITH(model->torchscript_source(), Catch::Contains("'no_script' has no TorchScript form"));
}

TEST_CASE("a run written by seqenc 0.1.0 still loads, evaluates the same and resumes", "[extension][checkpoint]") {
  const fs::path fixture = fs::path(SEQENC_SOURCE_DIR) / "tests" / "fixtures" / "run-0.1.0";
  auto dir = fresh_dir("old_run");
  fs::copy(fixture, dir);
  auto last = load_run(dir.string(), CheckpointKind::last);
  CHECK(last.state.step == 6);
  const auto expected_last = read_json(fixture / "eval_last.json");
  auto r = evaluate_run(last);
  // The float kernels (oneDNN products, fused attention) differ from 0.1.0's in rounding only.
  CHECK(r.loss == Approx(expected_last["loss"].get<double>()).epsilon(1e-5));
  CHECK(r.accuracy == expected_last["accuracy"].get<double>());
  auto best = load_run(dir.string(), CheckpointKind::best);
  const auto expected_best = read_json(fixture / "result.json")["test"];
  CHECK(evaluate_run(best).loss == Approx(expected_best["loss"].get<double>()).epsilon(1e-5));

  // A 0.1.0 run directory's config.yaml also holds the tools' sections, as the program reads it for --resume.
  auto config = load_tool_config((dir / "config.yaml").string(), {"train.steps=9"});
  TrainControl quiet;
  quiet.quiet = true;
  auto outcome = train(config, dir.string(), true, quiet);
  CHECK(outcome.stop_reason == StopReason::completed);
  CHECK(outcome.state.step == 9);
  fs::remove_all(dir);
}

TEST_CASE("closed choices are enums: names round-trip and unknown names are refused where they are read",
          "[extension][config]") {
  auto config = load_config(
      "", {"model.pos_encoding=relative", "model.cell=lstm", "train.optimizer=adamw", "train.schedule=cosine",
           "train.device=auto", "data.tokenizer=char", "model.pooling=cls", "model.activation=gelu"});
  CHECK(config.model.pos_encoding == PosEncoding::relative);
  CHECK(config.model.cell == Cell::lstm);
  CHECK(config.train.optimizer == OptimizerKind::adamw);
  CHECK(config.train.schedule == Schedule::cosine);
  CHECK(config.train.device == DeviceKind::automatic);
  CHECK(config.data.tokenizer == TokenizerName("char"));
  CHECK(config.pooling == Pooling::cls);
  CHECK(config.model.activation == Activation::gelu);
  const auto yaml = to_yaml(config);
  for (const char* text : {"pos_encoding: relative", "cell: lstm", "optimizer: adamw", "schedule: cosine",
                           "device: auto", "tokenizer: char", "pooling: cls", "activation: gelu"}) {
    CHECK_THAT(yaml, Catch::Contains(text));
  }
  CHECK_THROWS_WITH(
      load_config("", {"train.optimizer=adagrad", "train.schedule=linear", "model.cell=rnn"}),
      Catch::Contains("train.optimizer: 'adagrad' is not one of adam, adamw, sgd") &&
          Catch::Contains("train.schedule: 'linear' is not one of constant, warmup_inverse_sqrt, cosine") &&
          Catch::Contains("model.cell: 'rnn' is not one of gru, lstm"));
  CHECK(parse_choice<StopReason>("early_stopping") == StopReason::early_stopping);
  CHECK(name_of(StopReason::non_finite_loss) == "non_finite_loss");
}

TEST_CASE("the library leaves process state alone: training does not change the thread count", "[extension]") {
  const int before = torch::get_num_threads();
  auto config = tiny_config("cnn");
  config.train.threads = before + 1;
  config.train.steps = 2;
  TrainControl quiet;
  quiet.quiet = true;
  auto dir = fresh_dir("threads");
  train(config, dir.string(), false, quiet);
  CHECK(torch::get_num_threads() == before);
  fs::remove_all(dir);
}

TEST_CASE("a stop request reaches the Trainer through TrainControl and leaves a checkpoint", "[extension]") {
  auto config = tiny_config("cnn");
  TrainControl control;
  control.quiet = true;
  int polls = 0;
  control.stop_requested = [&polls] { return ++polls >= 3 ? std::string("test") : std::string(); };
  auto dir = fresh_dir("stop_request");
  auto outcome = train(config, dir.string(), false, control);
  CHECK(outcome.stop_reason == StopReason::interrupted);
  CHECK(outcome.state.step == 2);  // polled before each step: the third poll comes after two steps
  CHECK(fs::exists(dir / "checkpoint_last.pt"));
  fs::remove_all(dir);
}

namespace {

// A file format from outside lib/: "label|text", one file's worth of code and one registration line below.
TaskSpec pipe_classify_task() {
  FileFormat format;
  format.head = HeadKind::classify;
  format.parse = [](const std::string& line, const Tokenizer& tokenizer, bool require_labels, const LineReader& reader,
                    Record& out) {
    const auto bar = line.find('|');
    if (bar == std::string::npos && require_labels) reader.fail("expected label|text, found no '|'");
    out.tokens = tokenizer.tokenize(bar == std::string::npos ? line : line.substr(bar + 1));
    if (out.tokens.empty()) reader.fail("empty text");
    if (bar != std::string::npos) out.labels.push_back(line.substr(0, bar));
    return true;
  };
  return file_task(format);
}

// A synthetic task from outside lib/: the label is the sequence's first symbol.
struct FirstSymbol : Generator {
  const DataOptions& o;
  FirstSymbol(const DataOptions& options, TaskData& task) : o(options) {
    for (int64_t s = 0; s < o.symbols; ++s) {
      task.vocab.add("x" + std::to_string(s));
      task.label_names.push_back("x" + std::to_string(s));
    }
  }
  void example(Rng& rng, Dataset& out) const override {
    std::vector<int32_t> tokens(static_cast<size_t>(uniform(rng, o.min_len, o.seq_len)));
    for (auto& t : tokens) t = static_cast<int32_t>(kNumSpecialTokens + uniform(rng, 0, o.symbols - 1));
    out.add(tokens, {tokens.front() - static_cast<int32_t>(kNumSpecialTokens)}, {});
  }
};

// A metrics sink from outside lib/: every training window and validation as a CSV line, while `enabled`.
struct CsvSink : TrainingObserver {
  explicit CsvSink(fs::path path) : path(std::move(path)) {}
  void on_train_window(const TrainWindow& e) override { append(e.step, "train", e.loss); }
  void on_validation(const Validated& e) override { append(e.step, "valid", e.result.loss); }
  void append(int64_t step, const std::string& split, double loss) {
    std::ofstream(path, std::ios::app) << step << "," << split << "," << loss << "\n";
  }
  fs::path path;
};
bool g_csv_enabled = false;

}  // namespace

TEST_CASE("a file format registered outside lib/ trains, evaluates and reads files like a built-in one",
          "[extension][data]") {
  register_task("pipe_classify", pipe_classify_task());
  const auto data = fresh_dir("pipe.txt");
  {
    std::ofstream out(data);
    for (int i = 0; i < 60; ++i) out << (i % 2 ? "odd|one three five" : "even|two four six") << " w" << i << "\n";
  }
  auto config = load_config("", {"data.task=pipe_classify", "data.train=" + data.string(), "model.num_hiddens=16",
                                 "model.num_heads=2", "model.ffn_num_hiddens=32", "train.steps=20",
                                 "train.batch_size=8", "train.eval_every=10", "train.threads=1"});
  auto dir = fresh_dir("pipe_run");
  auto outcome = train(config, dir.string(), false, seqenc::test::quietly());
  CHECK(outcome.finished());
  auto run = load_run(dir.string());
  CHECK(run.task.head == HeadKind::classify);
  CHECK(run.task.label_names == std::vector<std::string>{"even", "odd"});
  CHECK(evaluate_run(run, data.string()).examples == 60);
  CHECK_THROWS_WITH(load_config("", {"data.task=pipe_classify", "data.train=" + data.string(), "data.valid=x"}),
                    Catch::Contains("data.valid, data.test: give both"));  // the file formats' shared checks apply
  fs::remove_all(dir);
  fs::remove(data);
}

TEST_CASE("a synthetic task registered outside lib/ is a data.task like the built-in ones", "[extension][data]") {
  register_task("first_symbol", synthetic_task(HeadKind::classify, [](const DataOptions& o, TaskData& t) {
                  return std::make_unique<FirstSymbol>(o, t);
                }));
  auto config = tiny_config("cnn");
  apply_overrides(config, {"data.task=first_symbol"});
  const auto task = load_task(config.data);
  REQUIRE(task.train.size() == 64);
  CHECK(task.num_classes() == 4);
  CHECK(task.train.labels[0] == task.train.tokens[0] - kNumSpecialTokens);
  auto dir = fresh_dir("first_symbol");
  CHECK(train(config, dir.string(), false, seqenc::test::quietly()).finished());
  fs::remove_all(dir);
  CHECK_THROWS_WITH(load_config("", {"data.task=first_symbol", "data.symbols=1"}),
                    Catch::Contains("data.symbols: must be >= 2"));  // the synthetic tasks' shared checks apply
}

TEST_CASE("a metrics sink registered outside lib/ hears every training window and validation", "[extension]") {
  register_sink("csv", [](const SinkContext& c) -> std::unique_ptr<TrainingObserver> {
    if (!g_csv_enabled || !c.dir.writer()) return nullptr;
    return std::make_unique<CsvSink>(c.dir.file("metrics.csv"));
  });
  g_csv_enabled = true;
  auto dir = fresh_dir("csv_sink");
  auto outcome = train(tiny_config("cnn"), dir.string(), false, seqenc::test::quietly());
  g_csv_enabled = false;
  REQUIRE(outcome.finished());
  std::vector<std::string> csv, jsonl;
  std::ifstream in(dir / "metrics.csv");
  for (std::string line; std::getline(in, line);) csv.push_back(line.substr(0, line.rfind(',')));
  for (const auto& j : seqenc::test::metric_lines(dir)) {
    jsonl.push_back(std::to_string(j["step"].get<int64_t>()) + "," + j["split"].get<std::string>());
  }
  CHECK(csv == jsonl);     // the same events, in the same order, as metrics.jsonl
  CHECK(csv.size() == 6);  // train at 3, 6, 9, 12; valid at 6, 12
  fs::remove_all(dir);
}
