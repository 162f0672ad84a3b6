#include "commands.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "launch.h"
#include "process.h"
#include "seqenc/strings.h"
#include "seqenc/tools/analyze.h"
#include "seqenc/tools/bench.h"
#include "seqenc/tools/comparison_report.h"
#include "seqenc/tools/export.h"
#include "seqenc/tools/predict.h"
#include "seqenc/tools/table.h"
#include "seqenc/train/compare.h"
#include "seqenc/train/run.h"
#include "seqenc/train/run_dir.h"
#include "seqenc/train/trainer.h"

namespace seqenc::app {

namespace {

std::string timestamp() {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&now));
  return buf;
}

std::string default_run_dir(const std::string& prefix, const std::string& config) {
  return "runs/" + prefix + std::filesystem::path(config).stem().string() + "-" + timestamp();
}

CheckpointKind checkpoint_kind(const std::string& name) {
  auto kind = parse_choice<CheckpointKind>(name);
  if (!kind) throw ConfigError("--checkpoint: '" + name + "' is not one of best, last");
  return *kind;
}

void print_prediction(const Prediction& p, const std::vector<std::string>& classes, bool json) {
  if (!json) {
    fmt::print("{}\n", join(p.labels, " "));
    return;
  }
  nlohmann::json j;
  if (p.distribution.empty()) {
    j = {{"labels", p.labels}, {"probabilities", p.probabilities}};
  } else {
    nlohmann::json dist = nlohmann::json::object();
    for (size_t c = 0; c < classes.size(); ++c) dist[classes[c]] = p.distribution[0][c];
    j = {{"label", p.labels[0]}, {"probability", p.probabilities[0]}, {"probabilities", dist}};
  }
  fmt::print("{}\n", j.dump());
}

// What train and compare share before training: the configuration, the run directory, the process set up.
struct TrainingRun {
  Config config;
  std::string dir;
};

TrainingRun prepare_training(const std::string& config_path, const std::vector<std::string>& overrides,
                             const std::string& run_dir, bool resume, const std::string& prefix) {
  if (resume && run_dir.empty()) throw ConfigError("--resume needs --run-dir");
  TrainingRun run{load_config(config_path, overrides),
                  run_dir.empty() ? default_run_dir(prefix, config_path) : run_dir};
  use_threads(run.config.train.threads);
  install_stop_handlers();
  return run;
}

void print_sweep(const std::vector<BenchResult>& results) {
  Table table{{"encoder", "n", "batch", "tokens/s", "ms/step", "peak RSS MB"}, {}};
  for (const auto& r : results) {
    table.add({r.encoder + (r.attention.empty() ? "" : " (" + r.attention + ")"), std::to_string(r.seq_len),
               std::to_string(r.batch_size), fmt::format("{:.0f}", r.tokens_per_s),
               fmt::format("{:.2f}", r.ms_per_step), fmt::format("{:.0f}", r.peak_rss_mb)});
  }
  const auto& first = results.front();
  fmt::print("{} parameters, vocab {}, {}, {} thread(s) on {}\n{}", first.parameters, first.vocab_size, first.precision,
             first.threads, first.device, table.render(false));
}

// The top operators of a step, by self time (what they took themselves, their callees excluded).
void print_profiles(const std::vector<BenchResult>& results) {
  for (const auto& r : results) {
    double step_ms = 0;
    for (const auto& op : r.operators) step_ms += op.self_ms;
    Table table{{"operator", "calls/step", "self ms", "self %", "total ms"}, {}};
    for (size_t i = 0; i < r.operators.size() && i < 15; ++i) {
      const auto& op = r.operators[i];
      table.add({op.name, std::to_string(op.calls), fmt::format("{:.2f}", op.self_ms),
                 fmt::format("{:.1f}", 100 * op.self_ms / std::max(1e-9, step_ms)),
                 fmt::format("{:.2f}", op.total_ms)});
    }
    fmt::print("\n{}{}, n {} x batch {}: top operators of a step under the profiler ({:.1f} ms profiled)\n{}",
               r.encoder, r.attention.empty() ? "" : " (" + r.attention + ")", r.seq_len, r.batch_size, step_ms,
               table.render(false));
  }
}

// The fused kernel at the sweep's sizes, next to the machine's matrix product.
void print_kernel_rates(const Config& config) {
  const auto heads = config.model.num_heads, head_dim = config.model.num_hiddens / std::max<int64_t>(1, heads);
  const auto gemm = measure_sgemm(2048, 3);
  fmt::print(
      "\nmatrix product {}^3 on this machine: {:.1f} GFLOP/s through oneDNN (seqenc), {:.1f} GFLOP/s through "
      "LibTorch's torch::mm\n",
      gemm.size, gemm.onednn_gflops, gemm.libtorch_gflops);
  Table table{{"fused kernel (batch x heads, n, d)", "forward ms", "forward GFLOP/s", "backward ms", "backward GFLOP/s",
               "of oneDNN's sgemm"},
              {}};
  for (const auto& [n, batch] : bench_sweep(config.bench)) {
    const auto k = measure_attention_kernel(batch * heads, n, head_dim, 3);
    table.add({fmt::format("{} x {}, {}, {}", batch, heads, n, head_dim), fmt::format("{:.2f}", k.forward_ms),
               fmt::format("{:.1f}", k.forward_gflops), fmt::format("{:.2f}", k.backward_ms),
               fmt::format("{:.1f}", k.backward_gflops),
               fmt::format("{:.0f}% / {:.0f}%", 100 * k.forward_gflops / gemm.onednn_gflops,
                           100 * k.backward_gflops / gemm.onednn_gflops)});
  }
  fmt::print("{}", table.render(false));
}

}  // namespace

// The command line of a worker: the same command, with the run directory fixed (a default one is named once).
std::vector<std::string> worker_args(const std::string& command, const std::string& config,
                                     const std::vector<std::string>& overrides, const std::string& dir, bool resume) {
  std::vector<std::string> a{command, "--config", config};
  for (const auto& o : overrides) a.insert(a.end(), {"--set", o});
  a.insert(a.end(), {"--run-dir", dir});
  if (resume) a.push_back("--resume");
  return a;
}

int train_command(const TrainArgs& args) {
  const auto [config, dir] = prepare_training(args.config, args.overrides, args.run_dir, args.resume, "");
  if (launches_workers(args.launch)) {
    RunDir(dir).check_can_start(args.resume, "continue it");  // one line here rather than one per worker
    return launch_workers(args.launch, worker_args("train", args.config, args.overrides, dir, args.resume),
                          config.train.dist_timeout_s);
  }
  const auto rank = join_workers(config);
  auto outcome = train(config, dir, args.resume, train_control(), rank);
  if (outcome.finished() && rank.writes()) fmt::print("run directory: {}\n", dir);
  return exit_code(outcome.stop_reason);
}

int eval_command(const EvalArgs& args) {
  use_threads(1);
  auto run = load_run(args.run, checkpoint_kind(args.checkpoint));
  auto r = evaluate_run(run, args.data);
  for (const auto& warning : run.warnings) fmt::print(stderr, "seqenc: warning: {}\n", warning);
  if (args.json) {
    fmt::print("{}\n", eval_result_json(r, run.task.group_name));
    return 0;
  }
  fmt::print("{} ({} checkpoint, step {}): loss {:.4f}  accuracy {:.4f}  ({} examples, {} labels)\n",
             args.data.empty() ? "test split" : args.data, args.checkpoint, run.state.step, r.loss, r.accuracy,
             r.examples, r.labels);
  for (const auto& [group, counts] : r.by_group) {
    fmt::print("  {} {:>4}: accuracy {:.4f} ({} labels)\n", run.task.group_name, group, r.group_accuracy(group),
               counts.second);
  }
  return 0;
}

int compare_command(const CompareArgs& args) {
  const auto [config, dir] = prepare_training(args.config, args.overrides, args.run_dir, args.resume, "compare-");
  if (launches_workers(args.launch)) {
    auto a = worker_args("compare", args.config, args.overrides, dir, args.resume);
    a.insert(a.end(), {"--encoders", args.encoders});
    return launch_workers(args.launch, a, config.train.dist_timeout_s);
  }
  const auto rank = join_workers(config);
  auto result = compare(config, split_list(args.encoders), dir, train_control(), args.resume, rank);
  if (!rank.writes()) return result.finished() ? 0 : exit_code(result.runs.back().outcome.stop_reason);
  if (!result.finished()) {
    const auto reason = result.runs.back().outcome.stop_reason;
    if (reason == StopReason::interrupted) {
      fmt::print(stderr,
                 "seqenc: the comparison stopped; continue it with: seqenc compare --config {}/config.yaml "
                 "--encoders {} --run-dir {} --resume\n",
                 dir, args.encoders, dir);
    }
    return exit_code(reason);
  }
  const auto report = write_comparison_report(result, dir);
  fmt::print("\n{}\nreport: {}\n", comparison_table(result, false), report);
  return 0;
}

int export_command(const ExportArgs& args) {
  export_run(args.run, args.out, checkpoint_kind(args.checkpoint));
  fmt::print("wrote {}\n", args.out);
  return 0;
}

int predict_command(const PredictArgs& args) {
  use_threads(1);
  std::vector<std::string> classes;
  const auto precision = *parse_choice<Precision>(args.precision);  // main.cpp admits the names only
  check_precision(precision, torch::kCPU);
  for (const auto& p : predict_file(args.model, args.input, &classes, precision)) {
    print_prediction(p, classes, args.json);
  }
  return 0;
}

int bench_command(const BenchArgs& args) {
  auto config = load_config(args.config, args.overrides);
  config.bench.profile = config.bench.profile || args.profile;
  use_threads(config.train.threads);
  const auto results = run_bench_sweep(config, train_control());
  if (args.json) {
    for (const auto& r : results) fmt::print("{}\n", bench_json(r));
  } else if (results.size() == 1 && config.bench.seq_lens.empty()) {
    const auto& r = results.front();
    fmt::print(
        "{}{} ({} parameters), {}, batch {} x n {}, vocab {}, {} thread(s) on {}: {:.0f} tokens/s, {:.2f} ms/step, "
        "peak RSS {:.0f} MB\n",
        r.encoder, r.attention.empty() ? "" : " " + r.attention, r.parameters, r.precision, r.batch_size, r.seq_len,
        r.vocab_size, r.threads, r.device, r.tokens_per_s, r.ms_per_step, r.peak_rss_mb);
  } else {
    print_sweep(results);
  }
  if (config.train.precision == Precision::bf16 && !args.json) fmt::print("{}\n", bf16_support().summary());
  if (config.bench.profile && !args.json) print_profiles(results);
  if (config.bench.kernel) print_kernel_rates(config);
  return 0;
}

int analyze_command(const AnalyzeArgs& args) {
  auto config = load_config(args.config, args.overrides);
  use_threads(config.train.threads);
  install_stop_handlers();
  const auto outcome = write_analysis(config, args.out, train_control());
  fmt::print("report: {}{}\n", outcome.report_path,
             outcome.stop_reason == StopReason::completed ? "" : " (incomplete: " + name_of(outcome.stop_reason) + ")");
  return exit_code(outcome.stop_reason);
}

int keys_command(bool markdown) {
  if (markdown) fmt::print("| key | default | type | meaning |\n|---|---|---|---|\n");
  for (const auto& k : config_keys()) {
    if (markdown) {
      auto help = k.help;  // a '|' would end the table's cell
      std::replace(help.begin(), help.end(), '|', '/');
      fmt::print("| `{}` | `{}` | {} | {} |\n", k.key, k.default_value.empty() ? "\"\"" : k.default_value, k.type,
                 help);
      continue;
    }
    fmt::print("{:<30} {:<14} {:<22} {}\n", k.key, k.default_value.empty() ? "\"\"" : k.default_value, k.type, k.help);
  }
  return 0;
}

}  // namespace seqenc::app
