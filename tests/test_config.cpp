#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "seqenc/data/dataset.h"
#include "seqenc/data/task.h"
#include "seqenc/nn/encoder.h"
#include "seqenc/tools/tool_config.h"
#include "seqenc/train/config.h"

using namespace seqenc;
namespace fs = std::filesystem;

namespace {
std::string write_temp(const std::string& content) {
  static int counter = 0;
  auto path = fs::temp_directory_path() /
              ("seqenc_config_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".yaml");
  std::ofstream(path) << content;
  return path.string();
}
}  // namespace

TEST_CASE("config precedence: defaults < file < --set", "[config]") {
  auto path = write_temp("model:\n  num_hiddens: 48\n  num_heads: 4\ntrain:\n  lr: 0.01\n  steps: 50\n");
  auto c = load_config(path, {"train.lr=0.002", "model.encoder=cnn"});
  CHECK(c.model.num_hiddens == 48);                        // file
  CHECK(c.train.lr == Approx(0.002));                      // --set beats the file
  CHECK(c.model.name == "cnn");                            // --set beats the default
  CHECK(c.train.steps == 50);                              // file beats the default
  CHECK(c.train.batch_size == TrainOptions{}.batch_size);  // default
  fs::remove(path);
}

TEST_CASE("unknown keys are rejected with their full path and a suggestion", "[config]") {
  auto path = write_temp("model:\n  num_hidden: 48\n  extra:\n    deep: 1\ntrainer:\n  lr: 1\n");
  try {
    load_config(path);
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    CHECK_THAT(m, Catch::Contains(path));
    CHECK_THAT(m, Catch::Contains("model.num_hidden: unknown key (did you mean model.num_hiddens?)"));
    CHECK_THAT(m, Catch::Contains("model.extra: unknown section"));
    CHECK_THAT(m, Catch::Contains("trainer: unknown section"));
    CHECK(m.find('\n') == std::string::npos);  // one line
  }
  fs::remove(path);
  CHECK_THROWS_WITH(load_config("", {"train.learning_rate=1"}), Catch::Contains("train.learning_rate: unknown key"));
}

TEST_CASE("wrong types and invalid values are all listed in one message", "[config]") {
  auto path = write_temp(
      "model:\n  encoder: transformer\n  num_hiddens: 30\n  num_heads: 4\n  dropout: lots\n"
      "train:\n  lr: 0\n  optimizer: adagrad\n  batch_size: 3.5\n");
  try {
    load_config(path);
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    CHECK_THAT(m, Catch::Contains("model.dropout: expected a number, got 'lots'"));
    CHECK_THAT(m, Catch::Contains("train.optimizer: 'adagrad' is not one of adam, adamw, sgd"));
    CHECK_THAT(m, Catch::Contains("train.batch_size: expected an integer, got '3.5'"));
  }
  // Type errors come first; once types are right, every value problem is listed together.
  auto values = write_temp("model:\n  num_hiddens: 30\n  num_heads: 4\ntrain:\n  lr: 0\n");
  try {
    load_config(values, {"model.kernel_size=4"});
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    CHECK_THAT(m, Catch::Contains("model.num_hiddens: 30 is not divisible by model.num_heads 4"));
    CHECK_THAT(m, Catch::Contains("train.lr: must be > 0"));
  }
  CHECK_THROWS_WITH(load_config("", {"model.encoder=cnn", "model.kernel_size=4"}),
                    Catch::Contains("model.kernel_size: must be odd"));
  CHECK_THROWS_WITH(load_config("", {"train.steps=0"}), Catch::Contains("train.steps, train.epochs"));
  CHECK_THROWS_WITH(load_config("", {"data.seed=-3"}), Catch::Contains("data.seed: expected a non-negative integer"));
  CHECK_THROWS_WITH(load_config("", {"train.lr"}), Catch::Contains("'train.lr': expected KEY=VALUE"));
  CHECK_THROWS_WITH(load_config("", {"model=3"}), Catch::Contains("model: unknown key"));
  fs::remove(path);
  fs::remove(values);
}

TEST_CASE("YAML syntax errors and missing files name the file", "[config]") {
  auto path = write_temp("model:\n  num_hiddens: [1, 2\n");
  CHECK_THROWS_WITH(load_config(path), Catch::Contains(path + ":") && Catch::Contains("YAML syntax error"));
  fs::remove(path);
  CHECK_THROWS_WITH(load_config("/nonexistent.yaml"), Catch::Contains("/nonexistent.yaml: no such file"));
  auto list = write_temp("- 1\n- 2\n");
  CHECK_THROWS_WITH(load_config(list), Catch::Contains("expected a mapping"));
  fs::remove(list);
}

TEST_CASE("the resolved configuration round-trips through YAML", "[config]") {
  auto c = load_config("", {"model.encoder=rnn", "model.cell=lstm", "train.lr=0.0003", "data.task=copy",
                            "data.valid_ratio=0.2", "train.schedule=cosine", "data.train=some file.tsv"});
  auto path = write_temp("");
  save_config(c, path);
  auto back = load_config(path);
  CHECK(to_yaml(back) == to_yaml(c));
  CHECK(back.model.cell == Cell::lstm);
  CHECK(back.train.lr == 0.0003);
  CHECK(back.data.valid_ratio == 0.2);
  CHECK(back.data.train == "some file.tsv");
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_THAT(text, Catch::Contains("valid_ratio: 0.2\n"));
  fs::remove(path);
}

TEST_CASE("every key is listed with its default and help", "[config]") {
  auto keys = tool_config_keys();
  auto has = [&](const std::string& k) {
    return std::any_of(keys.begin(), keys.end(), [&](const KeyDescription& c) { return c.key == k; });
  };
  for (const char* k : {"model.encoder",
                        "model.num_hiddens",
                        "model.num_layers",
                        "model.dropout",
                        "model.num_heads",
                        "model.ffn_num_hiddens",
                        "model.pos_encoding",
                        "model.kernel_size",
                        "model.cell",
                        "model.bidirectional",
                        "data.task",
                        "data.train",
                        "data.valid",
                        "data.test",
                        "data.tokenizer",
                        "data.max_len",
                        "train.steps",
                        "train.epochs",
                        "train.batch_size",
                        "train.lr",
                        "train.optimizer",
                        "train.schedule",
                        "train.warmup",
                        "train.clip_norm",
                        "train.label_smoothing",
                        "train.seed",
                        "train.threads",
                        "train.device",
                        "train.eval_every",
                        "train.early_stopping",
                        "bench.batch_size",
                        "bench.seq_len"}) {
    INFO(k);
    CHECK(has(k));
  }
}

TEST_CASE("every config in configs/ is valid, and file configs find their data", "[config]") {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(SEQENC_SOURCE_DIR "/configs")) {
    if (entry.path().extension() != ".yaml") continue;
    INFO(entry.path().string());
    ++count;
    auto config = load_config(entry.path().string());
    if (task_spec(config.data.task).reads_files()) {
      // Paths in configs are relative to the repository root, where the README's commands run.
      for (auto* p : {&config.data.train, &config.data.valid, &config.data.test})
        if (!p->empty()) *p = std::string(SEQENC_SOURCE_DIR "/") + *p;
      auto task = load_task(config.data);
      CHECK(task.train.size() > 0);
    }
  }
  CHECK(count >= 9);
}

TEST_CASE("the demo's lag task needs a longer path than the demo CNN reaches", "[config]") {
  auto config = load_config(SEQENC_SOURCE_DIR "/configs/demo.yaml");
  REQUIRE(config.data.task == TaskName("lag"));
  auto cnn = encoder_options_for(config, 64, false, config.data.max_len);
  cnn.name = "cnn";
  const auto reach = make_encoder(cnn)->cost(config.data.seq_len).reach_before;
  CHECK(reach >= 1);
  CHECK(reach < config.data.max_distance);  // distances past the reach fall to chance: the section's point
  // Relative positions clipped at or below the largest distance would make far offsets look alike.
  CHECK(config.model.max_relative_position > config.data.max_distance);
}

TEST_CASE("infinite and NaN numbers are refused (a fuzzer found --set train.lr=.INF accepted)", "[config]") {
  CHECK_THROWS_WITH(load_config("", {"train.lr= .INF"}), Catch::Contains("train.lr: expected a number, got '.INF'"));
  CHECK_THROWS_WITH(load_config("", {"model.dropout=.nan"}),
                    Catch::Contains("model.dropout: expected a number, got '.nan'"));
}
