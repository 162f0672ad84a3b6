#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "../command.h"
#include "../process.h"
#include "../training_setup.h"
#include "seqenc/strings.h"
#include "seqenc/tools/comparison_report.h"
#include "seqenc/train/compare.h"

namespace seqenc::app {

namespace {
class CompareCommand : public Command {
 public:
  void add_options(CLI::App& c) override {
    c.add_option("--config", config_, "YAML config file")->required()->check(CLI::ExistingFile);
    c.add_option("--encoders", encoders_, "Comma-separated encoders")->capture_default_str();
    c.add_option("--set", overrides_, "Override a key (repeatable)");
    c.add_option("--run-dir", run_dir_, "Directory for the runs and report (default: runs/compare-<config>-<time>)");
    c.add_flag("--resume", resume_, "Continue an interrupted comparison in --run-dir");
    add_launch_options(c, launch_);
  }

  int run() override {
    const auto [config, dir] = prepare_training(config_, overrides_, run_dir_, resume_, "compare-");
    if (launches_workers(launch_)) {
      // A restart continues the comparison: finished encoders stay, the interrupted one resumes.
      const auto args = [&, dir = dir](bool restart) {
        auto a = worker_args("compare", config_, overrides_, dir, resume_ || restart);
        a.insert(a.end(), {"--encoders", encoders_});
        return a;
      };
      return launch_workers(launch_, args, config.train.dist_timeout_s);
    }
    const auto rank = join_workers(config);
    auto control = train_control();
    control.restarts = worker_restarts();
    auto result = compare(config, split_list(encoders_), dir, control, resume_, rank);
    if (!rank.writes()) return result.finished() ? 0 : exit_code(result.runs.back().outcome.stop_reason);
    if (!result.finished()) return stopped(result, dir);
    const auto report = write_comparison_report(result, dir);
    fmt::print("\n{}\nreport: {}\n", comparison_table(result, false), report);
    return 0;
  }

 private:
  int stopped(const Comparison& result, const std::string& dir) const {
    const auto reason = result.runs.back().outcome.stop_reason;
    if (reason == StopReason::interrupted) {
      fmt::print(stderr,
                 "seqenc: the comparison stopped; continue it with: seqenc compare --config {}/config.yaml "
                 "--encoders {} --run-dir {} --resume\n",
                 dir, encoders_, dir);
    }
    return exit_code(reason);
  }

  std::string config_, run_dir_, encoders_ = join(default_comparison(), ",");
  std::vector<std::string> overrides_;
  bool resume_ = false;
  LaunchArgs launch_;
};
}  // namespace

std::unique_ptr<Command> compare_command() { return std::make_unique<CompareCommand>(); }

}  // namespace seqenc::app
