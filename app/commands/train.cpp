#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "../command.h"
#include "../process.h"
#include "../training_setup.h"
#include "seqenc/train/run_dir.h"
#include "seqenc/train/trainer.h"

namespace seqenc::app {

namespace {
class TrainCommand : public Command {
 public:
  void add_options(CLI::App& c) override {
    c.add_option("--config", config_, "YAML config file (see configs/)")->required()->check(CLI::ExistingFile);
    c.add_option("--set", overrides_, "Override a key: --set train.lr=3e-4 (repeatable; beats the file)");
    c.add_option("--run-dir", run_dir_, "Run directory (default: runs/<config>-<time>)");
    c.add_flag("--resume", resume_, "Continue the run in --run-dir from its last checkpoint");
    add_launch_options(c, launch_);
  }

  int run() override {
    const auto [config, dir] = prepare_training(config_, overrides_, run_dir_, resume_, "");
    if (launches_workers(launch_)) {
      RunDir(dir).check_can_start(resume_, "continue it");  // one line here rather than one per worker
      // A restart resumes from the last checkpoint, or starts afresh where none was written yet.
      const auto args = [&, dir = dir](bool restart) {
        return worker_args("train", config_, overrides_, dir, resume_ || (restart && RunDir(dir).holds_run()));
      };
      return launch_workers(launch_, args, config.train.dist_timeout_s);
    }
    const auto rank = join_workers(config);
    auto control = train_control();
    control.restarts = worker_restarts();
    auto outcome = train(config, dir, resume_, control, rank);
    if (outcome.finished() && rank.writes()) fmt::print("run directory: {}\n", dir);
    return exit_code(outcome.stop_reason);
  }

 private:
  std::string config_, run_dir_;
  std::vector<std::string> overrides_;
  bool resume_ = false;
  LaunchArgs launch_;
};
}  // namespace

std::unique_ptr<Command> train_command() { return std::make_unique<TrainCommand>(); }

}  // namespace seqenc::app
