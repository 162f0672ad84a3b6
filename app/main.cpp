// seqenc: command-line parsing and dispatch; each command is in commands.cpp, the work in lib/.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <fmt/core.h>
#include <fmt/format.h>
#include <torch/version.h>

#include <c10/util/Exception.h>

#include "commands.h"
#include "process.h"
#include "seqenc/error.h"
#include "seqenc/nn/precision.h"
#include "seqenc/version.h"

namespace {

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
    return fail(2, e.what());
  } catch (const c10::Error& e) {
    return fail(1, e.what_without_backtrace());
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
}

// --nproc and the multi-machine options, shared by train and compare.
void add_launch(CLI::App* c, seqenc::app::LaunchArgs& a) {
  c->add_option("--nproc", a.nproc, "Data parallelism: start N worker processes here (global batch = N x batch_size)")
      ->check(CLI::Range(1, 1024));
  c->add_option("--nnodes", a.nnodes, "Machines taking part (each runs the same command with its --node-rank)")
      ->check(CLI::Range(1, 1 << 16));
  c->add_option("--node-rank", a.node_rank, "This machine's index in [0, --nnodes)")->check(CLI::NonNegativeNumber);
  c->add_option("--master-addr", a.master_addr, "Address of node 0, where rank 0 serves the rendezvous");
  c->add_option("--master-port", a.master_port, "Port of the rendezvous (default: MASTER_PORT, or a free one)");
}

using seqenc::app::AnalyzeArgs, seqenc::app::BenchArgs, seqenc::app::CompareArgs, seqenc::app::EvalArgs,
    seqenc::app::ExportArgs, seqenc::app::PredictArgs, seqenc::app::TrainArgs;

void add_train(CLI::App& app, TrainArgs& a) {
  auto* c = app.add_subcommand("train", "Train one encoder from a YAML config");
  c->add_option("--config", a.config, "YAML config file (see configs/)")->required()->check(CLI::ExistingFile);
  c->add_option("--set", a.overrides, "Override a key: --set train.lr=3e-4 (repeatable; beats the file)");
  c->add_option("--run-dir", a.run_dir, "Run directory (default: runs/<config>-<time>)");
  c->add_flag("--resume", a.resume, "Continue the run in --run-dir from its last checkpoint");
  add_launch(c, a.launch);
}

void add_eval(CLI::App& app, EvalArgs& a) {
  auto* c = app.add_subcommand("eval", "Metrics of a run's checkpoint on its test split or on a file");
  c->add_option("--run", a.run, "Run directory")->required();
  c->add_option("--data", a.data, "File in the run's training format (default: the run's test split)");
  c->add_option("--checkpoint", a.checkpoint, "best or last")->check(CLI::IsMember({"best", "last"}));
  c->add_flag("--json", a.json, "Print one JSON object");
}

void add_compare(CLI::App& app, CompareArgs& a) {
  auto* c = app.add_subcommand("compare", "Train several encoders on the same data and budget; table and report");
  c->add_option("--config", a.config, "YAML config file")->required()->check(CLI::ExistingFile);
  c->add_option("--encoders", a.encoders, "Comma-separated encoders")->capture_default_str();
  c->add_option("--set", a.overrides, "Override a key (repeatable)");
  c->add_option("--run-dir", a.run_dir, "Directory for the runs and report (default: runs/compare-<config>-<time>)");
  c->add_flag("--resume", a.resume, "Continue an interrupted comparison in --run-dir");
  add_launch(c, a.launch);
}

void add_export(CLI::App& app, ExportArgs& a) {
  auto* c = app.add_subcommand("export", "Write a run's model (encoder and head) as TorchScript");
  c->add_option("--run", a.run, "Run directory")->required();
  c->add_option("--out", a.out, "Output file, e.g. model.pt")->required();
  c->add_option("--checkpoint", a.checkpoint, "best or last")->check(CLI::IsMember({"best", "last"}));
}

void add_predict(CLI::App& app, PredictArgs& a) {
  auto* c = app.add_subcommand("predict", "Predict each line of a file with an exported model");
  c->add_option("--model", a.model, "TorchScript file written by seqenc export")->required();
  c->add_option("--input", a.input, "Text in the training format; labels optional")->required();
  c->add_flag("--json", a.json, "One JSON object per line, with probabilities");
  c->add_option("--precision", a.precision, "fp32, or bf16: products in bf16 (the export itself is fp32)")
      ->check(CLI::IsMember(seqenc::choice_names<seqenc::Precision>()));
}

void add_bench(CLI::App& app, BenchArgs& a) {
  auto* c = app.add_subcommand("bench", "Time training steps of an encoder (median over repeats)");
  c->add_option("--config", a.config, "YAML config (model.*, bench.*, train.threads)")->check(CLI::ExistingFile);
  c->add_option("--set", a.overrides, "Override a key, e.g. --set bench.seq_len=512 (repeatable)");
  c->add_flag("--json", a.json, "Print one JSON object per timed configuration");
  c->add_flag("--profile", a.profile, "Also print a step's top operators (LibTorch's autograd profiler)");
}

void add_analyze(CLI::App& app, AnalyzeArgs& a) {
  auto* c = app.add_subcommand("analyze", "Measure the section's comparison; write a report with plots");
  c->add_option("--config", a.config, "YAML config (model.*, data.* for the lag comparison, analyze.*)")
      ->check(CLI::ExistingFile);
  c->add_option("--set", a.overrides, "Override a key (repeatable)");
  c->add_option("--out", a.out, "Directory for report.md and its plots")->required();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"seqenc: self-attention, CNN and RNN sequence encoders (D2L 11.6), trained and measured side by side"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "seqenc " SEQENC_VERSION " (LibTorch " TORCH_VERSION ")");
  TrainArgs train;
  EvalArgs eval;
  CompareArgs compare;
  ExportArgs exp;
  PredictArgs predict;
  BenchArgs bench;
  AnalyzeArgs analyze;
  add_train(app, train);
  add_eval(app, eval);
  add_compare(app, compare);
  add_export(app, exp);
  add_predict(app, predict);
  add_bench(app, bench);
  add_analyze(app, analyze);
  bool keys_markdown = false;
  app.add_subcommand("keys", "List every configuration key with its type and default")
      ->add_flag("--markdown", keys_markdown, "As README's table");
  seqenc::app::ignore_file_size_signal();
  std::vector<std::string> commands;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) commands.push_back(sub->get_name());
  if (argc > 1 && argv[1][0] != '-' && std::find(commands.begin(), commands.end(), argv[1]) == commands.end()) {
    return fail(
        2, fmt::format("unknown command '{}' (commands: {}; see seqenc --help)", argv[1], fmt::join(commands, ", ")));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    const auto parsed = app.get_subcommands();
    return fail(
        2, fmt::format("{} (see seqenc {}--help)", e.what(), parsed.empty() ? "" : parsed.front()->get_name() + " "));
  }
  const std::string command = app.get_subcommands().front()->get_name();
  return guarded([&] {
    namespace cmd = seqenc::app;
    if (command == "train") return cmd::train_command(train);
    if (command == "eval") return cmd::eval_command(eval);
    if (command == "compare") return cmd::compare_command(compare);
    if (command == "export") return cmd::export_command(exp);
    if (command == "predict") return cmd::predict_command(predict);
    if (command == "bench") return cmd::bench_command(bench);
    if (command == "analyze") return cmd::analyze_command(analyze);
    return cmd::keys_command(keys_markdown);
  });
}
