#include "training_setup.h"

#include <chrono>
#include <ctime>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "process.h"

namespace seqenc::app {

namespace {
std::string timestamp() {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&now));
  return buf;
}
}  // namespace

void add_launch_options(CLI::App& c, LaunchArgs& a) {
  c.add_option("--nproc", a.nproc, "Data parallelism: start N worker processes here (global batch = N x batch_size)")
      ->check(CLI::Range(1, 1024));
  c.add_option("--nnodes", a.nnodes, "Machines taking part (each runs the same command with its --node-rank)")
      ->check(CLI::Range(1, 1 << 16));
  c.add_option("--node-rank", a.node_rank, "This machine's index in [0, --nnodes)")->check(CLI::NonNegativeNumber);
  c.add_option("--master-addr", a.master_addr, "Address of node 0, where rank 0 serves the rendezvous");
  c.add_option("--master-port", a.master_port, "Port of the rendezvous (default: MASTER_PORT, or a free one)");
  c.add_option("--max-restarts", a.max_restarts,
               "Elastic: restart this machine's workers from the last checkpoint up to N times when one fails")
      ->check(CLI::NonNegativeNumber);
}

TrainingRun prepare_training(const std::string& config_path, const std::vector<std::string>& overrides,
                             const std::string& run_dir, bool resume, const std::string& prefix) {
  if (resume && run_dir.empty()) throw ConfigError("--resume needs --run-dir");
  TrainingRun run{load_tool_config(config_path, overrides),
                  run_dir.empty()
                      ? "runs/" + prefix + std::filesystem::path(config_path).stem().string() + "-" + timestamp()
                      : run_dir};
  use_threads(run.config.train.threads);
  install_stop_handlers();
  return run;
}

std::vector<std::string> worker_args(const std::string& command, const std::string& config,
                                     const std::vector<std::string>& overrides, const std::string& dir, bool resume) {
  std::vector<std::string> a{command, "--config", config};
  for (const auto& o : overrides) a.insert(a.end(), {"--set", o});
  a.insert(a.end(), {"--run-dir", dir});
  if (resume) a.push_back("--resume");
  return a;
}

}  // namespace seqenc::app
