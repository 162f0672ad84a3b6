// seqenc sweep: one configuration trained over a grid of key values and several seeds. Each run is an ordinary run
// directory, DIR/<key=value,...>/seed-<s>, resumable on its own; the sweep resumes too: finished runs are skipped,
// interrupted ones continue from their checkpoints, the rest start. This file plans the runs, checks and prepares
// DIR, and schedules the runs J at a time with progress and an estimate of the time left; the program starts
// each run (a RunLauncher: app/ starts processes). tools/sweep_report.h writes results.jsonl and report.md.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "seqenc/files.h"
#include "seqenc/tools/tool_config.h"
#include "seqenc/train/outcome.h"

namespace seqenc {

struct GridAxis {
  std::string key;
  std::vector<std::string> values;
};
// "KEY=V1,V2,..." as --grid and sweep.grid give it; ConfigError naming the text when it is not of that form.
GridAxis parse_grid_axis(const std::string& text);

struct SweepRun {
  std::vector<std::pair<std::string, std::string>> values;  // the swept keys' values, in the grid's order
  uint64_t seed = 0;
  std::filesystem::path dir;
  std::string name;                 // a variant's name (plan_variants); empty for a grid's combination
  std::string combination() const;  // "model.num_layers=1,model.encoder=cnn"; "base" when nothing is swept
  std::string label() const;        // the combination (or name) and " seed <s>"
};

struct SweepPlan {
  std::filesystem::path dir;
  ToolConfig config;  // the base configuration each run starts from, as DIR/config.yaml holds it
  std::vector<GridAxis> grid;
  std::vector<uint64_t> seeds;
  std::vector<SweepRun> runs;  // combinations in the grid's order (the last key changing fastest), seeds inside
  size_t combinations() const { return seeds.empty() ? 0 : runs.size() / seeds.size(); }
  std::filesystem::path config_path() const { return dir / "config.yaml"; }
};

// The runs of config.sweep in dir. The grid's keys must be run keys (model.*, data.*, train.*, but train.seed:
// sweep.seeds says the seeds), and every combination's configuration is checked: ConfigError naming the key and
// the bad value, before anything is written. The base configuration turns train.tensorboard on, naming the swept
// keys and train.seed as its hyperparameters, where the configuration leaves those keys unset.
SweepPlan plan_sweep(const ToolConfig& config, const std::string& dir);
// A sweep over named variants rather than a grid (analyze's recipe study): each run's values are set on the
// base configuration as they are; every run's configuration is checked as plan_sweep does.
SweepPlan plan_variants(const ToolConfig& base, const std::string& dir, std::vector<SweepRun> runs);
// The plan of the sweep DIR/config.yaml describes (seqenc sweep --report); ConfigError when DIR holds none.
SweepPlan read_sweep_plan(const std::string& dir);

// Checks plan.dir against the sweep it may already hold and takes it: ConfigError when another process has it,
// or it holds a sweep of another configuration, or over another grid or fewer seeds unless `extend` (then the new
// grid must hold the old one: the same keys, in order, with at least their values). Then writes config.yaml.
FileLock open_sweep_dir(const SweepPlan& plan, bool extend);

enum class RunState { fresh, interrupted, finished };
// finished: result.json is there; interrupted: a checkpoint is; fresh: neither.
RunState run_state(const SweepRun& run);

// What the launcher starts: `seqenc train --config <config> --set <override>... --run-dir <dir> [--resume]`.
struct RunLaunch {
  size_t index = 0;  // in plan.runs
  std::string config;
  std::vector<std::string> overrides;  // the run's keys, its seed, and train.threads when set
  std::filesystem::path dir;
  bool resume = false;
};

// How a started run ended, as the launcher saw it.
struct RunEnd {
  size_t index = 0;
  bool ok = false;           // it finished
  bool interrupted = false;  // a stop request ended it (it resumes on the next call)
  std::string error;         // one line, when it failed
};

// Starts runs and tells when they end: the program starts processes of itself; InProcessLauncher trains here.
class RunLauncher {
 public:
  virtual ~RunLauncher() = default;
  virtual void start(const RunLaunch& launch) = 0;
  // Blocks until one started run ends.
  virtual RunEnd wait() = 0;
};

// Trains each run in this process when it is started (one at a time: jobs above 1 gain nothing here).
class InProcessLauncher : public RunLauncher {
 public:
  explicit InProcessLauncher(TrainControl control = {});
  void start(const RunLaunch& launch) override;
  RunEnd wait() override;

 private:
  TrainControl control_;
  std::vector<RunEnd> ended_;
};

struct SweepControl {
  int jobs = 1;
  int64_t threads = 0;  // train.threads of each run; 0: as configured
  // Polled before each start: a non-empty answer starts nothing more (the launcher stops the runs).
  std::function<std::string()> stop_requested;
  // Each progress line; spdlog's info when unset.
  std::function<void(const std::string&)> say;
  // After each run that ends (sweep_report.h's results, say).
  std::function<void()> on_run_end;
};

struct SweepOutcome {
  size_t runs = 0, finished = 0, skipped = 0, interrupted = 0;
  std::vector<std::string> failures;  // "<label>: <error>"
  bool stopped = false;               // a stop request ended the sweep early
};

// Runs every run of the plan that is not finished, control.jobs at a time: interrupted runs resume. A run that
// fails is told with its error and the others go on. Progress: a line as each run starts and ends, with how many
// are left and an estimate of the time that takes.
SweepOutcome run_sweep(const SweepPlan& plan, RunLauncher& launcher, const SweepControl& control);

// train.threads for each of `jobs` runs of `nproc` processes on `cores`: an equal share, at least 1, and never
// more than the configuration's own train.threads when it sets one.
int64_t threads_per_run(int64_t configured, int cores, int jobs, int nproc);

}  // namespace seqenc
