// A subcommand of seqenc: its options, bound to its own arguments, and what it does. Each is one file under
// app/commands/ and one line in app/command_table.cpp; main.cpp parses the command line and dispatches.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace seqenc::app {

class Command {
 public:
  virtual ~Command() = default;
  // Adds the command's options to its CLI11 subcommand.
  virtual void add_options(CLI::App& command) = 0;
  // The process's exit code (exit_codes.h); errors are thrown (seqenc::Error: the user's, exit 2).
  virtual int run() = 0;
};

struct CommandEntry {
  std::string name, description;
  std::unique_ptr<Command> (*make)();
};

// Every command, in the order --help lists them.
const std::vector<CommandEntry>& command_table();

// The built-in commands (app/commands/).
std::unique_ptr<Command> train_command();
std::unique_ptr<Command> eval_command();
std::unique_ptr<Command> compare_command();
std::unique_ptr<Command> sweep_command();
std::unique_ptr<Command> export_command();
std::unique_ptr<Command> predict_command();
std::unique_ptr<Command> bench_command();
std::unique_ptr<Command> analyze_command();
std::unique_ptr<Command> keys_command();

}  // namespace seqenc::app
