#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "../command.h"
#include "../process.h"
#include "seqenc/train/run.h"

namespace seqenc::app {

namespace {
class EvalCommand : public Command {
 public:
  void add_options(CLI::App& c) override {
    c.add_option("--run", run_, "Run directory")->required();
    c.add_option("--data", data_, "File in the run's training format (default: the run's test split)");
    c.add_option("--checkpoint", checkpoint_, "best or last")->check(CLI::IsMember(choice_names<CheckpointKind>()));
    c.add_flag("--json", json_, "Print one JSON object");
  }

  int run() override {
    use_threads(1);
    auto run = load_run(run_, *parse_choice<CheckpointKind>(checkpoint_));  // CLI11 admits the names only
    auto r = evaluate_run(run, data_);
    for (const auto& warning : run.warnings) fmt::print(stderr, "seqenc: warning: {}\n", warning);
    if (json_) {
      fmt::print("{}\n", eval_result_json(r, run.task.group_name));
      return 0;
    }
    fmt::print("{} ({} checkpoint, step {}): loss {:.4f}  accuracy {:.4f}  ({} examples, {} labels)\n",
               data_.empty() ? "test split" : data_, checkpoint_, run.state.step, r.loss, r.accuracy, r.examples,
               r.labels);
    for (const auto& [group, counts] : r.by_group) {
      fmt::print("  {} {:>4}: accuracy {:.4f} ({} labels)\n", run.task.group_name, group, r.group_accuracy(group),
                 counts.second);
    }
    return 0;
  }

 private:
  std::string run_, data_, checkpoint_ = "best";
  bool json_ = false;
};
}  // namespace

std::unique_ptr<Command> eval_command() { return std::make_unique<EvalCommand>(); }

}  // namespace seqenc::app
