#include "seqenc/tools/sweep.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "seqenc/strings.h"
#include "seqenc/train/recipe.h"
#include "seqenc/train/trainer.h"

namespace seqenc {

namespace fs = std::filesystem;

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// A combination as a directory name: characters other than letters, digits and ._=,+- written as %XX.
std::string directory_name(const std::string& combination) {
  std::string out;
  for (unsigned char c : combination) {
    if (std::isalnum(c) || std::string("._=,+-").find(static_cast<char>(c)) != std::string::npos) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string grid_text(const std::vector<GridAxis>& grid, size_t seeds) {
  std::vector<std::string> axes;
  for (const auto& a : grid) axes.push_back(a.key + "=" + join(a.values, ","));
  return (axes.empty() ? std::string("no grid") : join(axes, " x ")) + fmt::format(" with {} seed(s)", seeds);
}

// The run keys' schema over `config`, recording explicit keys.
struct RunSchema {
  explicit RunSchema(Config& config) : schema(&config.explicit_keys) { add_run_keys(schema, config); }
  Schema schema;
};

// The base configuration every run starts from: TensorBoard on, with the swept keys and the seed as its
// hyperparameters, where the configuration does not say otherwise.
ToolConfig base_config(const ToolConfig& config, const std::vector<GridAxis>& grid) {
  ToolConfig base = config;
  if (!base.explicit_keys.count("train.tensorboard")) base.train.tensorboard = true;
  if (!base.explicit_keys.count("train.tensorboard_hparams")) {
    std::vector<std::string> keys;
    for (const auto& a : grid) keys.push_back(a.key);
    keys.push_back("train.seed");
    base.train.tensorboard_hparams = join(keys, ",");
  }
  return base;
}

// Each value alone: a key of a run that takes it.
void check_axes(const ToolConfig& base, const std::vector<GridAxis>& grid) {
  std::set<std::string> keys;
  for (const auto& axis : grid) {
    const std::string where = "--grid " + axis.key;
    if (!keys.insert(axis.key).second) throw ConfigError(where + ": the key is swept twice");
    if (axis.key == "train.seed") throw ConfigError(where + ": give the number of seeds with --seeds instead");
    for (const auto& value : axis.values) {
      Config c = base;
      RunSchema s(c);
      std::vector<std::string> problems;
      s.schema.read_overrides({axis.key + "=" + value}, problems);
      if (!problems.empty()) {
        const bool unknown = !s.schema.find(axis.key);
        throw ConfigError(where + "=" + value + ": " + join(problems, "; ") +
                          (unknown ? " (a sweep varies model.*, data.* and train.* keys)" : ""));
      }
    }
  }
}

// Every combination of the grid's values, the last key changing fastest.
std::vector<std::vector<std::pair<std::string, std::string>>> combinations(const std::vector<GridAxis>& grid) {
  std::vector<std::vector<std::pair<std::string, std::string>>> out = {{}};
  for (const auto& axis : grid) {
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (const auto& partial : out) {
      for (const auto& value : axis.values) {
        next.push_back(partial);
        next.back().emplace_back(axis.key, value);
      }
    }
    out = std::move(next);
  }
  return out;
}

std::vector<std::string> overrides_of(const std::vector<std::pair<std::string, std::string>>& values) {
  std::vector<std::string> out;
  for (const auto& [key, value] : values) out.push_back(key + "=" + value);
  return out;
}

// Every combination's configuration is checked, its problems named with the combination.
void check_combinations(const SweepPlan& plan) {
  std::vector<std::string> problems;
  for (size_t i = 0; i < plan.runs.size(); i += std::max<size_t>(1, plan.seeds.size())) {
    const auto& run = plan.runs[i];
    const auto what = run.name.empty() ? run.combination() : run.name;
    Config c = plan.config;
    apply_overrides(c, overrides_of(run.values), "--grid " + what);
    for (const auto& p : config_problems(c)) problems.push_back(what + ": " + p);
  }
  if (!problems.empty()) throw ConfigError("--grid: " + join(problems, "; "));
}

}  // namespace

GridAxis parse_grid_axis(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--grid '" + text + "': expected KEY=V1,V2,... (e.g. model.num_layers=1,2)");
  GridAxis axis{trim(text.substr(0, eq)), {}};
  for (const auto& v : split_list(text.substr(eq + 1))) {
    const auto value = trim(v);
    if (std::find(axis.values.begin(), axis.values.end(), value) != axis.values.end())
      throw ConfigError("--grid " + text + ": " + value + " is given twice");
    axis.values.push_back(value);
  }
  if (axis.values.empty()) throw ConfigError("--grid " + text + ": give at least one value");
  return axis;
}

std::string SweepRun::combination() const {
  std::vector<std::string> parts = overrides_of(values);
  return parts.empty() ? "base" : join(parts, ",");
}

std::string SweepRun::label() const { return (name.empty() ? combination() : name) + " seed " + std::to_string(seed); }

SweepPlan plan_sweep(const ToolConfig& config, const std::string& dir) {
  SweepPlan plan;
  plan.dir = dir;
  for (const auto& text : config.sweep.grid) plan.grid.push_back(parse_grid_axis(text));
  plan.config = base_config(config, plan.grid);
  check_axes(plan.config, plan.grid);
  for (int64_t i = 0; i < config.sweep.seeds; ++i) plan.seeds.push_back(config.train.seed + static_cast<uint64_t>(i));
  for (const auto& values : combinations(plan.grid)) {
    for (auto seed : plan.seeds) {
      SweepRun run{values, seed, {}, {}};
      run.dir = plan.dir / directory_name(run.combination()) / ("seed-" + std::to_string(seed));
      plan.runs.push_back(run);
    }
  }
  check_combinations(plan);
  return plan;
}

SweepPlan plan_variants(const ToolConfig& base, const std::string& dir, std::vector<SweepRun> runs) {
  SweepPlan plan;
  plan.dir = dir;
  plan.config = base;
  plan.seeds = {base.train.seed};
  plan.runs = std::move(runs);
  for (auto& run : plan.runs) run.seed = base.train.seed;
  check_combinations(plan);
  return plan;
}

SweepPlan read_sweep_plan(const std::string& dir) {
  const fs::path config = fs::path(dir) / "config.yaml";
  if (!fs::is_directory(dir)) throw ConfigError(dir + ": no such sweep directory");
  if (!fs::exists(config)) throw ConfigError(dir + ": no config.yaml; is this a seqenc sweep directory?");
  return plan_sweep(load_tool_config(config.string()), dir);
}

namespace {

// "key: <there> there, <here> here" for each run key whose value differs (train.threads aside: --jobs sets it).
std::vector<std::string> differing_keys(const ToolConfig& there, const ToolConfig& here) {
  Config a = there, b = here;
  RunSchema sa(a), sb(b);
  std::vector<std::string> out;
  for (const auto& k : sa.schema.keys()) {
    if (k.key == "train.threads") continue;
    const auto x = scalar_text(k.get()), y = scalar_text(sb.schema.find(k.key)->get());
    if (x != y) out.push_back(fmt::format("{}: {} there, {} here", k.key, x.empty() ? "''" : x, y.empty() ? "''" : y));
  }
  return out;
}

// Why the grid may not replace the one of the sweep already in the directory; "" when it may.
std::string grid_problem(const SweepPlan& old, const SweepPlan& plan, bool extend) {
  const bool same = old.seeds == plan.seeds && old.grid.size() == plan.grid.size() &&
                    std::equal(old.grid.begin(), old.grid.end(), plan.grid.begin(),
                               [](const auto& a, const auto& b) { return a.key == b.key && a.values == b.values; });
  if (same) return "";
  const std::string both = fmt::format("{} holds a sweep over {}; this one is over {}", plan.dir.string(),
                                       grid_text(old.grid, old.seeds.size()), grid_text(plan.grid, plan.seeds.size()));
  if (!extend) return both + ": pass --extend to add its runs to that sweep, or choose another --run-dir";
  bool holds = old.grid.size() == plan.grid.size() && old.seeds.size() <= plan.seeds.size();
  for (size_t i = 0; holds && i < old.grid.size(); ++i) {
    holds = old.grid[i].key == plan.grid[i].key;
    for (const auto& v : old.grid[i].values) {
      const auto& now = plan.grid[i].values;
      holds = holds && std::find(now.begin(), now.end(), v) != now.end();
    }
  }
  return holds ? "" : both + ": --extend adds values of the same keys, in the same order, or seeds; it removes none";
}

}  // namespace

FileLock open_sweep_dir(const SweepPlan& plan, bool extend) {
  const auto& dir = plan.dir;
  if (fs::exists(dir) && !fs::is_directory(dir))
    throw ConfigError(dir.string() + ": is a file, not a directory; choose another --run-dir");
  if (fs::exists(plan.config_path())) {
    const auto old = read_sweep_plan(dir.string());
    if (auto keys = differing_keys(old.config, plan.config); !keys.empty()) {
      throw ConfigError(dir.string() + " holds a sweep of another configuration (" + join(keys, "; ") +
                        "); choose another --run-dir");
    }
    if (auto problem = grid_problem(old, plan, extend); !problem.empty()) throw ConfigError(problem);
  }
  fs::create_directories(dir);
  FileLock lock;
  long holder = 0;
  if (!FileLock::try_lock(dir / "seqenc.lock", lock, holder)) {
    throw ConfigError(dir.string() + " is in use by another seqenc sweep" +
                      (holder > 0 ? " (pid " + std::to_string(holder) + ")" : std::string()) +
                      "; wait for it to finish or stop it");
  }
  save_config(plan.config, plan.config_path().string(), recipe_keys_unset(plan.config),
              "seqenc sweep: what every run starts from; each sets its keys and seed: <key=value,...>/seed-<s>");
  return lock;
}

RunState run_state(const SweepRun& run) {
  if (fs::exists(run.dir / "result.json")) return RunState::finished;
  if (fs::exists(run.dir / "checkpoint_last.pt")) return RunState::interrupted;
  return RunState::fresh;
}

int64_t threads_per_run(int64_t configured, int cores, int jobs, int nproc) {
  const int64_t share = std::max(1, cores / std::max(1, jobs * nproc));
  return configured > 0 ? std::min(configured, share) : share;
}

InProcessLauncher::InProcessLauncher(TrainControl control) : control_(std::move(control)) {}

void InProcessLauncher::start(const RunLaunch& launch) {
  RunEnd end;
  end.index = launch.index;
  try {
    const auto config = load_tool_config(launch.config, launch.overrides);
    const auto outcome = train(config, launch.dir.string(), launch.resume, control_);
    end.ok = outcome.finished();
    end.interrupted = outcome.stop_reason == StopReason::interrupted;
    if (!end.ok && !end.interrupted) end.error = "stopped: " + name_of(outcome.stop_reason);
  } catch (const Error& e) {
    end.error = first_line(e.what());
  }
  ended_.push_back(end);
}

RunEnd InProcessLauncher::wait() {
  if (ended_.empty()) throw std::logic_error("InProcessLauncher::wait: no run was started");
  auto end = ended_.front();
  ended_.erase(ended_.begin());
  return end;
}

namespace {

// Valid and test accuracy of a finished run, from its result.json.
std::string result_summary(const SweepRun& run) {
  std::string problem;
  const auto text = read_whole_file(run.dir / "result.json", &problem);
  try {
    const auto j = nlohmann::json::parse(text);
    return fmt::format("valid accuracy {:.4f}, test {:.4f}", j.at("valid").at("accuracy").get<double>(),
                       j.at("test").at("accuracy").get<double>());
  } catch (const nlohmann::json::exception&) {
    return "no result.json";
  }
}

// The scheduling of one call of run_sweep: what waits, what runs, and how long runs took.
class Scheduler {
 public:
  Scheduler(const SweepPlan& plan, RunLauncher& launcher, const SweepControl& control)
      : plan_(plan), launcher_(launcher), control_(control), jobs_(static_cast<size_t>(std::max(1, control.jobs))) {}

  SweepOutcome run() {
    classify();
    while (true) {
      while (running_.size() < jobs_ && !waiting_.empty() && !stop()) start(waiting_.front());
      if (running_.empty()) break;
      ended(launcher_.wait());
    }
    out_.stopped = out_.stopped || (!waiting_.empty() && stop());
    say(fmt::format(
        "sweep {}: {} of {} runs finished ({} before this call), {} failed{}", plan_.dir.string(),
        out_.finished + out_.skipped, out_.runs, out_.skipped, out_.failures.size(),
        out_.interrupted > 0 || !waiting_.empty() ? ", the rest stopped: rerun the command to continue" : ""));
    return out_;
  }

 private:
  void say(const std::string& line) const {
    if (control_.say) {
      control_.say(line);
    } else {
      spdlog::info("{}", line);
    }
  }
  bool stop() const { return control_.stop_requested && !control_.stop_requested().empty(); }

  void classify() {
    out_.runs = plan_.runs.size();
    size_t resume = 0;
    for (size_t i = 0; i < plan_.runs.size(); ++i) {
      const auto state = run_state(plan_.runs[i]);
      if (state == RunState::finished) ++out_.skipped;
      if (state == RunState::interrupted) ++resume;
      if (state != RunState::finished) waiting_.push_back(i);
    }
    say(
        fmt::format("sweep {}: {} runs ({} combinations x {} seeds), {} at a time{}: {} finished, {} to resume, {} to "
                    "start",
                    plan_.dir.string(), out_.runs, plan_.combinations(), plan_.seeds.size(), jobs_,
                    control_.threads > 0 ? fmt::format(", {} thread(s) each", control_.threads) : "", out_.skipped,
                    resume, waiting_.size() - resume));
  }

  void start(size_t index) {
    waiting_.pop_front();
    const auto& run = plan_.runs[index];
    wait_for_lock(run);
    RunLaunch launch{index, plan_.config_path().string(), overrides_of(run.values), run.dir, false};
    launch.overrides.push_back("train.seed=" + std::to_string(run.seed));
    if (control_.threads > 0) launch.overrides.push_back("train.threads=" + std::to_string(control_.threads));
    launch.resume = run_state(run) == RunState::interrupted;
    say(fmt::format("sweep: {} {}", launch.resume ? "resuming" : "starting", run.label()));
    running_[index] = now_s();
    launcher_.start(launch);
  }

  // A run of an earlier sweep killed with it may still be saving its checkpoint: its lock says so.
  void wait_for_lock(const SweepRun& run) const {
    const auto path = run.dir / "seqenc.lock";
    bool told = false;
    for (int i = 0; i < 1200 && fs::exists(path) && !stop(); ++i) {  // at most 5 minutes
      FileLock lock;
      long holder = 0;
      if (FileLock::try_lock(path, lock, holder)) return;
      if (!told) say(fmt::format("sweep: waiting for pid {}, still stopping in {}", holder, run.dir.string()));
      told = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }

  void ended(const RunEnd& end) {
    const auto& run = plan_.runs[end.index];
    const double took = now_s() - running_.at(end.index);
    running_.erase(end.index);
    if (end.ok) {
      ++out_.finished;
      durations_.push_back(took);
    } else if (end.interrupted) {
      ++out_.interrupted;
    } else {
      out_.failures.push_back(run.label() + ": " + end.error);
    }
    const size_t done = out_.skipped + out_.finished + out_.failures.size();
    const std::string what = end.ok            ? result_summary(run)
                             : end.interrupted ? "interrupted (it resumes on the next call)"
                                               : "FAILED: " + end.error;
    say(fmt::format("sweep: [{}/{}] {} in {}: {}{}", done, out_.runs, run.label(), format_duration(took), what,
                    time_left()));
    if (control_.on_run_end) control_.on_run_end();
  }

  // "; 3 left, about 2m10s" from the mean time of the runs finished in this call.
  std::string time_left() const {
    const size_t left = waiting_.size() + running_.size();
    if (left == 0 || durations_.empty() || stop()) return "";
    double mean = 0;
    for (double d : durations_) mean += d / static_cast<double>(durations_.size());
    double work = mean * static_cast<double>(waiting_.size());
    for (const auto& [index, started] : running_) work += std::max(0.0, mean - (now_s() - started));
    return fmt::format("; {} left, about {}", left, format_duration(work / static_cast<double>(jobs_)));
  }

  const SweepPlan& plan_;
  RunLauncher& launcher_;
  const SweepControl& control_;
  size_t jobs_;
  std::deque<size_t> waiting_;
  std::map<size_t, double> running_;  // index -> when it started
  std::vector<double> durations_;
  SweepOutcome out_;
};

}  // namespace

SweepOutcome run_sweep(const SweepPlan& plan, RunLauncher& launcher, const SweepControl& control) {
  return Scheduler(plan, launcher, control).run();
}

}  // namespace seqenc
