// What train and compare share before training: the launch options, the configuration, the run directory, the
// process set up, and the command line a worker gets.
#pragma once
#include <string>
#include <vector>

#include "launch.h"
#include "seqenc/tools/tool_config.h"

namespace CLI {
class App;
}

namespace seqenc::app {

// --nproc and the multi-machine options.
void add_launch_options(CLI::App& command, LaunchArgs& args);

struct TrainingRun {
  ToolConfig config;
  std::string dir;  // --run-dir, or runs/<prefix><config>-<time>
};

// Loads the configuration, names the run directory, sets the threads and the stop handlers.
TrainingRun prepare_training(const std::string& config_path, const std::vector<std::string>& overrides,
                             const std::string& run_dir, bool resume, const std::string& prefix);

// The command line of a worker: the same command, with the run directory fixed (a default one is named once).
std::vector<std::string> worker_args(const std::string& command, const std::string& config,
                                     const std::vector<std::string>& overrides, const std::string& dir, bool resume);

}  // namespace seqenc::app
