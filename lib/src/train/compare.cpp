#include "seqenc/train/compare.h"

#include <algorithm>

#include "seqenc/strings.h"
#include "seqenc/train/recipe.h"
#include "seqenc/train/run_dir.h"

namespace seqenc {

bool Comparison::finished() const {
  return !runs.empty() && std::all_of(runs.begin(), runs.end(), [](const auto& r) { return r.outcome.finished(); });
}

namespace {
// One configuration per encoder, all checked before anything trains.
std::vector<Config> variants_of(const Config& config, const std::vector<std::string>& encoders, const RunDir& dir,
                                bool resume) {
  if (encoders.empty()) throw ConfigError("--encoders: give at least one encoder");
  const auto known = encoder_names();
  std::vector<Config> variants;
  std::vector<std::string> problems;
  for (const auto& name : encoders) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      throw ConfigError("--encoders: unknown encoder '" + name + "' (known: " + join(known, ", ") + ")");
    }
    Config c = config;
    c.model.name = name;
    apply_recipe(c);  // each encoder's own recipe, wherever the configuration leaves a key unset
    for (const auto& p : config_problems(c)) problems.push_back(name + ": " + p);
    const RunDir sub(dir.path() / name);
    if (!resume) {
      if (auto problem = sub.start_problem(false, "continue the comparison"); !problem.empty())
        problems.push_back(problem);
    }
    variants.push_back(c);
  }
  if (!problems.empty()) throw ConfigError(join(problems, "; "));
  return variants;
}
}  // namespace

Comparison compare(const Config& config, const std::vector<std::string>& encoders, const std::string& run_dir,
                   const TrainControl& control, bool resume, const Rank& rank) {
  const RunDir dir(run_dir, rank.writes());
  const auto variants = variants_of(config, encoders, dir, resume);
  Comparison result;
  result.task = config.data.task.name();
  result.precision = config.train.precision;
  // The comparison's directory is locked and its config.yaml (what --resume continues from) written once the
  // first run has checked everything (its data included), so that a refused comparison writes nothing. It leaves
  // out the keys recipes set per encoder, so that --resume gives each its own again. Rank 0 alone writes.
  FileLock lock;
  TrainControl started = control;
  started.on_start = [&] {
    if (!lock.held() && dir.writer()) {
      lock = dir.lock(false, "");
      save_config(config, dir.file("config.yaml").string(), recipe_keys_unset(config));
    }
    if (control.on_start) control.on_start();
  };
  for (size_t i = 0; i < encoders.size(); ++i) {
    const RunDir sub(dir.path() / encoders[i]);
    auto outcome = train(variants[i], sub.str(), resume && sub.holds_run(), started, rank);
    result.runs.push_back({encoders[i], recipe_summary(variants[i]), outcome});
    if (!outcome.finished()) return result;
  }
  result.group_name = result.runs.front().outcome.group_name;
  return result;
}

}  // namespace seqenc
