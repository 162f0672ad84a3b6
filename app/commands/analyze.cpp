#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "../command.h"
#include "../process.h"
#include "seqenc/tools/analyze.h"

namespace seqenc::app {

namespace {
class AnalyzeCommand : public Command {
 public:
  void add_options(CLI::App& c) override {
    c.add_option("--config", config_, "YAML config (model.*, data.* for the lag comparison, analyze.*)")
        ->check(CLI::ExistingFile);
    c.add_option("--set", overrides_, "Override a key (repeatable)");
    c.add_option("--out", out_, "Directory for report.md and its plots")->required();
  }

  int run() override {
    auto config = load_tool_config(config_, overrides_);
    use_threads(config.train.threads);
    install_stop_handlers();
    const auto outcome = write_analysis(config, out_, train_control());
    fmt::print(
        "report: {}{}\n", outcome.report_path,
        outcome.stop_reason == StopReason::completed ? "" : " (incomplete: " + name_of(outcome.stop_reason) + ")");
    return exit_code(outcome.stop_reason);
  }

 private:
  std::string config_, out_;
  std::vector<std::string> overrides_;
};
}  // namespace

std::unique_ptr<Command> analyze_command() { return std::make_unique<AnalyzeCommand>(); }

}  // namespace seqenc::app
