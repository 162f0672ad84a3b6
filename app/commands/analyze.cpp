#include <CLI/CLI.hpp>
#include <algorithm>
#include <thread>

#include <fmt/core.h>

#include "../command.h"
#include "../exit_codes.h"
#include "../process.h"
#include "../sweep_launcher.h"
#include "seqenc/tools/analyze.h"

namespace seqenc::app {

namespace {
class AnalyzeCommand : public Command {
 public:
  void add_options(CLI::App& c) override {
    c.add_option("--config", config_, "YAML config (model.*, data.* for the lag comparison, analyze.*)")
        ->check(CLI::ExistingFile);
    c.add_option("--set", overrides_, "Override a key (repeatable)");
    c.add_option("--out", out_, "Directory for report.md and its plots (an unfinished one is continued)")->required();
    c.add_option("--jobs", jobs_, "Runs of the recipe study at a time, sharing the cores")->check(CLI::Range(1, 256));
  }

  int run() override {
    auto config = load_tool_config(config_, overrides_);
    use_threads(config.train.threads);
    install_stop_handlers();
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    SweepControl sweep;
    sweep.jobs = jobs_;
    sweep.threads = threads_per_run(config.train.threads, cores, jobs_, 1);
    sweep.stop_requested = stop_requested;
    ProcessLauncher launcher(1, 0);
    const auto outcome = write_analysis(config, out_, train_control(), &launcher, sweep);
    for (const auto& failure : outcome.failures) fmt::print(stderr, "seqenc: run failed: {}\n", failure);
    if (outcome.report_path.empty()) {
      fmt::print(stderr, "seqenc: the analysis stopped ({}); continue it with the same command\n",
                 outcome.failures.empty() ? name_of(outcome.stop_reason) : "a run failed");
      return outcome.failures.empty() ? exit_code(outcome.stop_reason) : kExitFailure;
    }
    fmt::print("report: {}\n", outcome.report_path);
    return kExitOk;
  }

 private:
  std::string config_, out_;
  std::vector<std::string> overrides_;
  int jobs_ = 1;
};
}  // namespace

std::unique_ptr<Command> analyze_command() { return std::make_unique<AnalyzeCommand>(); }

}  // namespace seqenc::app
