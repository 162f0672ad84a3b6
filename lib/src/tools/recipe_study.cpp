#include "seqenc/tools/recipe_study.h"

#include "seqenc/train/recipe.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

namespace seqenc {

namespace {

using Values = std::vector<std::pair<std::string, std::string>>;

struct Variant {
  std::string name;
  Values values;
};

const std::vector<Variant>& variants() {
  static const std::vector<Variant> all = {
      {"book", {{"model.recipe", "book"}}},
      {"book, lr 0.003, dropout 0", {{"model.recipe", "book"}, {"train.lr", "0.003"}, {"model.dropout", "0"}}},
      {"book, embeddings N(0, 1/d)", {{"model.recipe", "book"}, {"model.scaled_embeddings", "true"}}},
      {"book, embeddings N(0, 1/d), positions kept",
       {{"model.recipe", "book"}, {"model.scaled_embeddings", "true"}, {"model.drop_positions", "false"}}},
      {"book, warm-up 100", {{"model.recipe", "book"}, {"train.warmup", "100"}}},
      {"book, pre-norm", {{"model.recipe", "book"}, {"model.pre_norm", "true"}}},
      {"book, relative positions", {{"model.recipe", "book"}, {"model.pos_encoding", "relative"}}},
      {"default, dropout 0.1", {{"model.dropout", "0.1"}}},
      {"default, lr 0.001", {{"train.lr", "0.001"}}},
      {"default", {}},
      {"cnn", {{"model.encoder", "cnn"}}},
      {"rnn", {{"model.encoder", "rnn"}}},
  };
  return all;
}

// d 64, 2 layers, n 24-32: the sizes at which the book's recipe was seen to stay at the majority baseline.
Values task_values(const std::string& task) {
  Values v = {{"data.task", task},         {"data.symbols", "8"},
              {"data.min_len", "24"},      {"data.seq_len", "32"},
              {"data.max_len", "32"},      {"data.train_size", "4000"},
              {"model.num_hiddens", "64"}, {"model.num_layers", "2"},
              {"model.num_heads", "4"},    {"model.max_relative_position", "16"}};
  if (task == "lag") v.insert(v.end(), {{"data.max_distance", "8"}, {"data.queries", "4"}});
  return v;
}

const std::vector<std::string> kTasks = {"segment", "lag"};

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

SweepPlan recipe_study_plan(const std::string& dir, int64_t steps) {
  ToolConfig base =
      load_tool_config("", {"train.steps=" + std::to_string(steps), "train.eval_every=100", "train.log_every=100"});
  std::vector<SweepRun> runs;
  for (const auto& task : kTasks) {
    for (const auto& v : variants()) {
      SweepRun run;
      run.values = task_values(task);
      run.values.insert(run.values.end(), v.values.begin(), v.values.end());
      run.dir = std::filesystem::path(dir) / task / slug(v.name);
      run.name = task + ": " + v.name;
      runs.push_back(run);
    }
  }
  return plan_variants(base, dir, runs);
}

RecipeStudy run_recipe_study(const std::string& dir, int64_t steps, RunLauncher& launcher,
                             const SweepControl& control) {
  const auto plan = recipe_study_plan(dir, steps);
  std::filesystem::create_directories(dir);
  save_config(plan.config, plan.config_path().string(), recipe_keys_unset(plan.config),
              "analyze's recipe study: what every run starts from; each sets its task and variant");
  RecipeStudy study;
  const auto outcome = run_sweep(plan, launcher, control);
  if (outcome.stopped || outcome.interrupted > 0) study.stop_reason = StopReason::interrupted;
  for (const auto& f : outcome.failures) study.failures.push_back(f);
  if (study.stop_reason != StopReason::completed || !study.failures.empty()) return study;
  size_t i = 0;
  for (const auto& task : kTasks) {
    for (const auto& v : variants()) study.runs.push_back(read_run(task, v.name, plan.runs[i++].dir));
  }
  return study;
}

}  // namespace seqenc
