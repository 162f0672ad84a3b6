#include <algorithm>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "../command.h"
#include "seqenc/tools/tool_config.h"

namespace seqenc::app {

namespace {
class KeysCommand : public Command {
 public:
  void add_options(CLI::App& c) override {
    c.add_flag("--markdown", markdown_, "As the table in docs/configuration.md");
  }

  int run() override {
    if (markdown_) fmt::print("| key | default | type | meaning |\n|---|---|---|---|\n");
    for (const auto& k : tool_config_keys()) {
      const auto value = k.default_value.empty() ? std::string("\"\"") : k.default_value;
      if (markdown_) {
        auto help = k.help;  // a '|' would end the table's cell
        std::replace(help.begin(), help.end(), '|', '/');
        fmt::print("| `{}` | `{}` | {} | {} |\n", k.key, value, k.type, help);
        continue;
      }
      fmt::print("{:<30} {:<14} {:<22} {}\n", k.key, value, k.type, k.help);
    }
    return 0;
  }

 private:
  bool markdown_ = false;
};
}  // namespace

std::unique_ptr<Command> keys_command() { return std::make_unique<KeysCommand>(); }

}  // namespace seqenc::app
