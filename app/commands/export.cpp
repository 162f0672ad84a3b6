#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "../command.h"
#include "seqenc/tools/export.h"

namespace seqenc::app {

namespace {
class ExportCommand : public Command {
 public:
  void add_options(CLI::App& c) override {
    c.add_option("--run", run_, "Run directory")->required();
    c.add_option("--out", out_, "Output file, e.g. model.pt")->required();
    c.add_option("--checkpoint", checkpoint_, "best or last")->check(CLI::IsMember(choice_names<CheckpointKind>()));
  }

  int run() override {
    export_run(run_, out_, *parse_choice<CheckpointKind>(checkpoint_));  // CLI11 admits the names only
    fmt::print("wrote {}\n", out_);
    return 0;
  }

 private:
  std::string run_, out_, checkpoint_ = "best";
};
}  // namespace

std::unique_ptr<Command> export_command() { return std::make_unique<ExportCommand>(); }

}  // namespace seqenc::app
