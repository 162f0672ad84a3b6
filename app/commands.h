// One function per subcommand, each with its own arguments; main.cpp parses
// the command line into them and maps errors to exit codes.
#pragma once
#include <string>
#include <vector>

namespace seqenc::app {

// Data parallelism (train, compare): workers to start here, and where they meet.
struct LaunchArgs {
  int nproc = 1;   // workers to start on this machine
  int nnodes = 1;  // machines
  int node_rank = 0;
  std::string master_addr, master_port;  // default: MASTER_ADDR / MASTER_PORT, else 127.0.0.1 and a free port
};

struct TrainArgs {
  std::string config, run_dir;
  std::vector<std::string> overrides;
  bool resume = false;
  LaunchArgs launch;
};
struct EvalArgs {
  std::string run, data, checkpoint = "best";
  bool json = false;
};
struct CompareArgs {
  std::string config, run_dir, encoders = "transformer,cnn,rnn";
  std::vector<std::string> overrides;
  bool resume = false;
  LaunchArgs launch;
};
struct ExportArgs {
  std::string run, out, checkpoint = "best";
};
struct PredictArgs {
  std::string model, input;
  bool json = false;
  std::string precision = "fp32";
};
struct BenchArgs {
  std::string config;
  std::vector<std::string> overrides;
  bool json = false;
  bool profile = false;  // the same as --set bench.profile=true
};
struct AnalyzeArgs {
  std::string config, out;
  std::vector<std::string> overrides;
};

// Each returns the process's exit code; errors are thrown (seqenc::Error: the user's, exit 2).
int train_command(const TrainArgs& args);
int eval_command(const EvalArgs& args);
int compare_command(const CompareArgs& args);
int export_command(const ExportArgs& args);
int predict_command(const PredictArgs& args);
int bench_command(const BenchArgs& args);
int analyze_command(const AnalyzeArgs& args);
int keys_command(bool markdown);

}  // namespace seqenc::app
