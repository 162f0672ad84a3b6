#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <thread>

#include <fmt/core.h>

#include "../command.h"
#include "../exit_codes.h"
#include "../process.h"
#include "../sweep_launcher.h"
#include "seqenc/tools/sweep_report.h"

namespace seqenc::app {

namespace {

// A sweep's exit status is the number of runs that failed, up to this.
constexpr int kMaxFailedStatus = 100;

class SweepCommand : public Command {
 public:
  void add_options(CLI::App& c) override {
    c.add_option("--config", config_, "YAML config file: the base of every run (its sweep: section too)")
        ->check(CLI::ExistingFile);
    c.add_option("--run-dir", run_dir_, "Directory of the sweep (default: runs/sweep-<config>); rerun to resume");
    c.add_option("--grid", grid_, "KEY=V1,V2,...: a key and its values (repeatable; every combination is trained)");
    c.add_option("--seeds", seeds_, "Runs per combination: train.seed, train.seed + 1, ...")
        ->check(CLI::Range(1, 1000));
    c.add_option("--jobs", jobs_, "Runs at a time, sharing the cores")->check(CLI::Range(1, 256));
    c.add_option("--set", overrides_, "Override a key of every run (repeatable)");
    c.add_flag("--extend", extend_, "Add values or seeds to the grid of the sweep already in --run-dir");
    c.add_option("--nproc", nproc_, "Data parallelism: each run on N worker processes")->check(CLI::Range(1, 1024));
    c.add_option("--max-restarts", max_restarts_,
                 "Each run restarts its failed workers from its last checkpoint up to N times (as train's)")
        ->check(CLI::Range(0, 1000));
    c.add_option("--report", report_, "Only rebuild results.jsonl and report.md of the sweep in DIR from its runs");
  }

  int run() override {
    if (!report_.empty()) return report_only();
    if (config_.empty()) throw ConfigError("--config is required (or --report DIR)");
    auto overrides = overrides_;
    if (seeds_ > 0) overrides.push_back("sweep.seeds=" + std::to_string(seeds_));
    if (jobs_ > 0) overrides.push_back("sweep.jobs=" + std::to_string(jobs_));
    auto config = load_tool_config(config_, overrides);
    if (!grid_.empty()) config.sweep.grid = grid_;
    const auto dir = run_dir_.empty() ? "runs/sweep-" + std::filesystem::path(config_).stem().string() : run_dir_;
    const auto plan = plan_sweep(config, dir);
    const auto lock = open_sweep_dir(plan, extend_);
    install_stop_handlers();
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    SweepControl control;
    control.jobs = static_cast<int>(config.sweep.jobs);
    control.threads = threads_per_run(config.train.threads, cores, control.jobs, nproc_);
    control.stop_requested = stop_requested;
    control.on_run_end = [&plan] { write_sweep_results(plan, false); };
    ProcessLauncher launcher(nproc_, max_restarts_);
    const auto outcome = run_sweep(plan, launcher, control);
    const auto report = write_sweep_results(plan);
    fmt::print("\n{}\nreport: {}\n", sweep_table(sweep_rows(sweep_results(plan)), false), report);
    for (const auto& failure : outcome.failures) fmt::print(stderr, "seqenc: run failed: {}\n", failure);
    if (outcome.stopped || outcome.interrupted > 0) {
      fmt::print(stderr, "seqenc: the sweep stopped; continue it with the same command (--run-dir {})\n", dir);
      return exit_code(StopReason::interrupted);
    }
    return std::min(static_cast<int>(outcome.failures.size()), kMaxFailedStatus);
  }

 private:
  int report_only() const {
    const auto plan = read_sweep_plan(report_);
    const auto report = write_sweep_results(plan);
    fmt::print("{}\nreport: {}\n", sweep_table(sweep_rows(sweep_results(plan)), false), report);
    return kExitOk;
  }

  std::string config_, run_dir_, report_;
  std::vector<std::string> grid_, overrides_;
  int seeds_ = 0, jobs_ = 0, nproc_ = 1, max_restarts_ = 0;
  bool extend_ = false;
};

}  // namespace

std::unique_ptr<Command> sweep_command() { return std::make_unique<SweepCommand>(); }

}  // namespace seqenc::app
