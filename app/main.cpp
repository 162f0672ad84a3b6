// seqenc: command-line parsing and dispatch; each command is a file under app/commands/, the work in lib/.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <fmt/core.h>
#include <fmt/format.h>
#include <torch/version.h>

#include <c10/util/Exception.h>

#include "command.h"
#include "exit_codes.h"
#include "process.h"
#include "seqenc/error.h"
#include "seqenc/version.h"

namespace {

using seqenc::app::kExitFailure, seqenc::app::kExitUsage;

int fail(int code, const std::string& message) {
  fmt::print(stderr, "seqenc: error: {}\n", message.substr(0, message.find('\n')));
  return code;
}

// A user's mistake gets one line and exit 2; anything else one line and exit 1.
template <typename F>
int guarded(F&& body) {
  try {
    return body();
  } catch (const seqenc::Error& e) {
    return fail(kExitUsage, e.what());
  } catch (const c10::Error& e) {
    return fail(kExitFailure, e.what_without_backtrace());
  } catch (const std::exception& e) {
    return fail(kExitFailure, e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"seqenc: self-attention, CNN and RNN sequence encoders (D2L 11.6), trained and measured side by side"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "seqenc " SEQENC_VERSION " (LibTorch " TORCH_VERSION ")");
  std::vector<std::pair<CLI::App*, std::unique_ptr<seqenc::app::Command>>> commands;
  std::vector<std::string> names;
  for (const auto& entry : seqenc::app::command_table()) {
    auto* sub = app.add_subcommand(entry.name, entry.description);
    commands.emplace_back(sub, entry.make());
    commands.back().second->add_options(*sub);
    names.push_back(entry.name);
  }
  seqenc::app::ignore_file_size_signal();
  seqenc::app::keep_freed_memory();
  if (argc > 1 && argv[1][0] != '-' && std::find(names.begin(), names.end(), argv[1]) == names.end()) {
    return fail(kExitUsage,
                fmt::format("unknown command '{}' (commands: {}; see seqenc --help)", argv[1], fmt::join(names, ", ")));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    const auto parsed = app.get_subcommands();
    return fail(kExitUsage, fmt::format("{} (see seqenc {}--help)", e.what(),
                                        parsed.empty() ? "" : parsed.front()->get_name() + " "));
  }
  const auto* chosen = app.get_subcommands().front();
  for (auto& [sub, command] : commands) {
    // An init-capture: clang before C++20 cannot capture a structured binding itself.
    if (sub == chosen) return guarded([&run = command] { return run->run(); });
  }
  return kExitFailure;
}
