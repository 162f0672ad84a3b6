#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "helpers.h"
#include "seqenc/tools/comparison_report.h"
#include "seqenc/train/compare.h"
#include "seqenc/train/trainer.h"

using namespace seqenc;
using seqenc::test::fresh_dir;
using seqenc::test::metric_lines;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// A tiny lag task every encoder can solve: distances 1-2 lie within a 2-layer, k = 3 CNN's reach.
Config tiny_config(const std::string& encoder) {
  return load_config("", {"model.encoder=" + encoder,
                          "model.num_hiddens=16",
                          "model.num_layers=2",
                          "model.num_heads=2",
                          "model.ffn_num_hiddens=32",
                          "model.dropout=0.1",
                          "model.pos_encoding=relative",
                          "model.max_relative_position=4",
                          "data.task=lag",
                          "data.symbols=4",
                          "data.min_len=8",
                          "data.seq_len=12",
                          "data.min_distance=1",
                          "data.max_distance=2",
                          "data.queries=4",
                          "data.train_size=400",
                          "data.valid_size=50",
                          "data.test_size=50",
                          "train.steps=240",
                          "train.batch_size=16",
                          "train.lr=0.01",
                          "train.eval_every=80",
                          "train.log_every=10",
                          "train.threads=1"});
}

TrainControl quietly() {
  TrainControl control;
  control.quiet = true;
  return control;
}

}  // namespace

TEST_CASE("each encoder brings the loss well below its start in a few hundred steps", "[training]") {
  for (std::string encoder : {"transformer", "cnn", "rnn"}) {
    INFO(encoder);
    auto dir = fresh_dir("learn_" + encoder);
    TrainControl quiet;
    quiet.quiet = true;
    auto outcome = train(tiny_config(encoder), dir.string(), false, quiet);
    REQUIRE(outcome.stop_reason == StopReason::completed);
    auto lines = metric_lines(dir);
    REQUIRE(lines.size() > 2);
    const double first = lines.front()["loss"].get<double>();
    CHECK(first > 1.0);                       // about ln 4 = 1.39 at the start
    CHECK(outcome.train_loss < 0.4 * first);  // and far below it at the end
    CHECK(outcome.valid.accuracy > 0.8);
    for (const char* f : {"config.yaml", "train.log", "metrics.jsonl", "checkpoint_last.pt", "checkpoint_best.pt",
                          "vocab.txt", "labels.txt", "result.json"}) {
      CHECK(fs::exists(dir / f));
    }
    fs::remove_all(dir);
  }
}

TEST_CASE("resume: k steps, stop, resume to N equals N steps straight", "[training][resume]") {
  auto config = tiny_config("transformer");
  config.train.steps = 60;
  config.train.eval_every = 20;
  config.train.schedule = Schedule::cosine;  // the schedule position must be restored too
  TrainControl quiet;
  quiet.quiet = true;
  auto straight = fresh_dir("straight"), resumed = fresh_dir("resumed");
  auto a = train(config, straight.string(), false, quiet);
  TrainControl stop = quiet;
  stop.stop_after_step = 33;  // mid-epoch, mid-logging-window, between validations
  auto partial = train(config, resumed.string(), false, stop);
  CHECK(partial.stop_reason == StopReason::stopped);
  CHECK(partial.state.step == 33);
  auto b = train(config, resumed.string(), true, quiet);
  CHECK(b.state.step == 60);
  CHECK(metric_lines(straight) == metric_lines(resumed));
  CHECK(a.valid.loss == b.valid.loss);
  CHECK(a.test.accuracy == b.test.accuracy);
  fs::remove_all(straight);
  fs::remove_all(resumed);
}

TEST_CASE("a run directory holding a run is not overwritten, resume needs a checkpoint", "[training]") {
  auto config = tiny_config("cnn");
  config.train.steps = 5;
  TrainControl quiet;
  quiet.quiet = true;
  auto dir = fresh_dir("twice");
  train(config, dir.string(), false, quiet);
  CHECK_THROWS_WITH(train(config, dir.string(), false, quiet), Catch::Contains("already holds a run"));
  CHECK_THROWS_WITH(train(config, fresh_dir("none").string(), true, quiet), Catch::Contains("no checkpoint_last.pt"));
  fs::remove_all(dir);
}

TEST_CASE("a truncated or foreign checkpoint is refused with a clear message", "[training][checkpoint]") {
  auto config = tiny_config("rnn");
  config.train.steps = 5;
  TrainControl quiet;
  quiet.quiet = true;
  auto dir = fresh_dir("damaged");
  train(config, dir.string(), false, quiet);
  const auto ckpt = dir / "checkpoint_last.pt";
  const auto size = fs::file_size(ckpt);
  fs::resize_file(ckpt, size / 2);
  CHECK_THROWS_AS(train(config, dir.string(), true, quiet), CheckpointError);
  CHECK_THROWS_WITH(train(config, dir.string(), true, quiet),
                    Catch::Contains(ckpt.string()) && Catch::Contains("damaged"));
  std::ofstream(ckpt) << "not a checkpoint";
  CHECK_THROWS_WITH(train(config, dir.string(), true, quiet), Catch::Contains(ckpt.string()));
  // A TorchScript-free archive that is not ours: a plain saved tensor.
  torch::save(torch::ones({2}), ckpt.string());
  CHECK_THROWS_WITH(train(config, dir.string(), true, quiet), Catch::Contains("not a seqenc checkpoint"));
  fs::remove_all(dir);
}

TEST_CASE("a non-finite loss stops the run and keeps the last good checkpoint", "[training]") {
  auto config = tiny_config("cnn");
  config.train.steps = 200;
  config.train.eval_every = 5;
  config.train.lr = 1e12;
  config.train.optimizer = OptimizerKind::sgd;
  config.train.clip_norm = 0;
  TrainControl quiet;
  quiet.quiet = true;
  auto dir = fresh_dir("nan");
  auto outcome = train(config, dir.string(), false, quiet);
  CHECK(outcome.stop_reason == StopReason::non_finite_loss);
  std::ifstream log(dir / "train.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK_THAT(text, Catch::Contains("non-finite loss"));
  fs::remove_all(dir);
}

TEST_CASE("learning-rate schedules: warm-up, inverse square root, cosine", "[training]") {
  TrainOptions t;
  t.lr = 1.0;
  t.warmup = 10;
  t.schedule = Schedule::warmup_inverse_sqrt;
  CHECK(scheduled_lr(t, 0, 100) == Approx(0.1));
  CHECK(scheduled_lr(t, 9, 100) == Approx(1.0));
  CHECK(scheduled_lr(t, 39, 100) == Approx(0.5));
  t.schedule = Schedule::cosine;
  CHECK(scheduled_lr(t, 4, 100) == Approx(0.5));
  CHECK(scheduled_lr(t, 99, 100) == Approx(0.0).margin(1e-12));
  CHECK(scheduled_lr(t, 54, 100) == Approx(0.5));
  t.schedule = Schedule::constant;
  t.warmup = 0;
  CHECK(scheduled_lr(t, 50, 100) == 1.0);
}

TEST_CASE("early stopping ends a run whose validation accuracy stops improving", "[training]") {
  auto config = tiny_config("cnn");
  config.train.steps = 200;
  config.train.eval_every = 5;
  config.train.early_stopping = 2;
  config.train.lr = 1e-12;  // nothing is learned, so nothing improves after the first validation
  TrainControl quiet;
  quiet.quiet = true;
  auto dir = fresh_dir("early");
  auto outcome = train(config, dir.string(), false, quiet);
  CHECK(outcome.stop_reason == StopReason::early_stopping);
  CHECK(outcome.state.step == 15);  // best at 5, no better at 10 and 15
  CHECK(outcome.state.best_step == 5);
  fs::remove_all(dir);
}

TEST_CASE("an interrupted comparison resumes and completes its report", "[training][compare]") {
  auto config = tiny_config("transformer");
  config.train.steps = 12;
  config.train.eval_every = 6;
  auto dir = fresh_dir("compare_resume");
  TrainControl stop;
  stop.quiet = true;
  stop.stop_after_step = 5;
  auto partial = compare(config, {"transformer", "cnn"}, dir.string(), stop);
  CHECK(!partial.finished());
  CHECK(partial.runs.size() == 1);
  CHECK(fs::exists(dir / "config.yaml"));
  CHECK_THROWS_WITH(compare(config, {"transformer", "cnn"}, dir.string(), quietly()), Catch::Contains("pass --resume"));
  auto done = compare(load_config((dir / "config.yaml").string()), {"transformer", "cnn"}, dir.string(), quietly(),
                      /*resume=*/true);
  REQUIRE(done.runs.size() == 2);
  CHECK(done.runs[0].outcome.state.step == 12);
  CHECK(done.runs[1].outcome.state.step == 12);
  REQUIRE(done.finished());
  CHECK(fs::exists(write_comparison_report(done, dir.string())));
  fs::remove_all(dir);
}
