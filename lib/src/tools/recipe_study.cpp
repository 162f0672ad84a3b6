#include "seqenc/tools/recipe_study.h"

#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

namespace seqenc {

namespace {

struct Variant {
  std::string name;
  std::vector<std::string> overrides;
  std::function<void(EncoderOptions&)> tweak;  // the recipe's parts that are not config keys
};

const std::vector<Variant>& variants() {
  static const std::vector<Variant> all = {
      {"book", {"model.recipe=book"}, {}},
      {"book, lr 0.003, dropout 0", {"model.recipe=book", "train.lr=0.003", "model.dropout=0"}, {}},
      {"book, embeddings N(0, 1/d)", {"model.recipe=book"}, [](EncoderOptions& o) { o.scaled_embeddings = true; }},
      {"book, embeddings N(0, 1/d), positions kept",
       {"model.recipe=book"},
       [](EncoderOptions& o) { o.scaled_embeddings = true, o.drop_positions = false; }},
      {"book, warm-up 100", {"model.recipe=book", "train.warmup=100"}, {}},
      {"book, pre-norm", {"model.recipe=book", "model.pre_norm=true"}, {}},
      {"book, relative positions", {"model.recipe=book", "model.pos_encoding=relative"}, {}},
      {"default, dropout 0.1", {"model.dropout=0.1"}, {}},
      {"default, lr 0.001", {"train.lr=0.001"}, {}},
      {"default", {}, {}},
      {"cnn", {"model.encoder=cnn"}, {}},
      {"rnn", {"model.encoder=rnn"}, {}},
  };
  return all;
}

// d 64, 2 layers, n 24-32: the sizes at which the book's recipe was seen to stay at the majority baseline.
std::vector<std::string> task_overrides(const std::string& task) {
  std::vector<std::string> o = {"data.task=" + task,    "data.symbols=8",
                                "data.min_len=24",      "data.seq_len=32",
                                "data.max_len=32",      "data.train_size=4000",
                                "model.num_hiddens=64", "model.num_layers=2",
                                "model.num_heads=4",    "model.max_relative_position=16"};
  if (task == "lag") o.insert(o.end(), {"data.max_distance=8", "data.queries=4"});
  return o;
}

std::string slug(const std::string& name) {
  std::string s;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.') {
      s += c;
    } else if (!s.empty() && s.back() != '_') {
      s += '_';
    }
  }
  while (!s.empty() && s.back() == '_') s.pop_back();
  return s;
}

RecipeRun read_run(const std::string& task, const std::string& variant, const std::filesystem::path& run) {
  RecipeRun r;
  r.task = task;
  r.variant = variant;
  std::ifstream in(run / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.value("split", "") != "valid") continue;
    const int64_t step = j["step"];
    const double accuracy = j["accuracy"];
    r.curve.emplace_back(step, accuracy);
    r.best_accuracy = std::max(r.best_accuracy, accuracy);
    if (r.steps_to_90 < 0 && accuracy >= 0.9) r.steps_to_90 = step;
  }
  return r;
}

}  // namespace

RecipeStudy run_recipe_study(const std::string& dir, int64_t steps, int64_t threads, const TrainControl& control) {
  RecipeStudy study;
  for (const std::string task : {"segment", "lag"}) {
    for (const auto& v : variants()) {
      auto overrides = task_overrides(task);
      overrides.insert(overrides.end(), v.overrides.begin(), v.overrides.end());
      overrides.insert(overrides.end(), {"train.steps=" + std::to_string(steps), "train.eval_every=100",
                                         "train.log_every=100", "train.threads=" + std::to_string(threads)});
      auto config = load_config("", overrides);
      if (v.tweak) v.tweak(config.model);
      const auto run = std::filesystem::path(dir) / task / slug(v.name);
      const auto outcome = train(config, run.string(), false, control);
      if (!outcome.finished()) {
        study.stop_reason = outcome.stop_reason;
        return study;
      }
      study.runs.push_back(read_run(task, v.name, run));
    }
  }
  return study;
}

}  // namespace seqenc
