#include <algorithm>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "../command.h"
#include "../process.h"
#include "seqenc/tools/bench.h"
#include "seqenc/tools/table.h"

namespace seqenc::app {

namespace {

void print_sgemm(const BenchResult& r) {
  if (r.sgemm_gflops <= 0) return;
  fmt::print(
      "model FLOPs: 3 x forward (attention over valid keys, the output layer over labelled positions); the machine's "
      "sgemm in this run: {:.1f} GFLOP/s\n",
      r.sgemm_gflops);
}

void print_sweep(const std::vector<BenchResult>& results) {
  Table table{{"encoder", "n", "batch", "tokens/s", "ms/step", "peak RSS MB", "GFLOP/step", "GFLOP/s", "of sgemm"}, {}};
  for (const auto& r : results) {
    table.add({r.label(), std::to_string(r.seq_len), std::to_string(r.batch_size),
               fmt::format("{:.0f}", r.tokens_per_s), fmt::format("{:.2f}", r.ms_per_step),
               fmt::format("{:.0f}", r.peak_rss_mb), fmt::format("{:.3f}", r.step_gflop),
               fmt::format("{:.1f}", r.achieved_gflops),
               r.sgemm_gflops > 0 ? fmt::format("{:.0f}%", 100 * r.sgemm_share()) : std::string("-")});
  }
  const auto& first = results.front();
  fmt::print("{} parameters, vocab {}, {}, {} thread(s) on {}\n{}", first.parameters, first.vocab_size, first.precision,
             first.threads, first.device, table.render(false));
  print_sgemm(first);
}

void print_one(const BenchResult& r) {
  fmt::print(
      "{} ({} parameters), {}, batch {} x n {}, vocab {}, {} thread(s) on {}: {:.0f} tokens/s, {:.2f} ms/step, "
      "peak RSS {:.0f} MB, {:.3f} GFLOP/step, {:.1f} GFLOP/s{}\n",
      r.label(), r.parameters, r.precision, r.batch_size, r.seq_len, r.vocab_size, r.threads, r.device, r.tokens_per_s,
      r.ms_per_step, r.peak_rss_mb, r.step_gflop, r.achieved_gflops,
      r.sgemm_gflops > 0 ? fmt::format(" ({:.0f}% of sgemm's {:.1f})", 100 * r.sgemm_share(), r.sgemm_gflops) : "");
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
    fmt::print("\n{}, n {} x batch {}: top operators of a step under the profiler ({:.1f} ms profiled)\n{}", r.label(),
               r.seq_len, r.batch_size, step_ms, table.render(false));
  }
}

// The fused kernel at the sweep's sizes, next to the machine's matrix product.
void print_kernel_rates(const ToolConfig& config) {
  const auto heads = config.model.num_heads, head_dim = config.model.num_hiddens / std::max<int64_t>(1, heads);
  const auto& b = config.bench;
  const auto gemm = measure_sgemm(2048, 3, b.kernel_cpu_time);
  fmt::print(
      "\nmatrix product {}^3 on this machine: {:.1f} GFLOP/s through oneDNN (seqenc), {:.1f} GFLOP/s through "
      "LibTorch's torch::mm{}\n",
      gemm.size, gemm.onednn_gflops, gemm.libtorch_gflops, b.kernel_cpu_time ? " (per CPU-second)" : "");
  Table table{{"fused kernel (batch x heads, n, d)", "forward ms", "forward GFLOP/s", "backward ms", "backward GFLOP/s",
               "of oneDNN's sgemm"},
              {}};
  for (const auto& [n, batch] : bench_sweep(config.bench)) {
    const auto k =
        measure_attention_kernel(batch * heads, n, head_dim, 3, {b.kernel_simd, b.kernel_dropout, b.kernel_cpu_time});
    table.add({fmt::format("{} x {}, {}, {}", batch, heads, n, head_dim), fmt::format("{:.2f}", k.forward_ms),
               fmt::format("{:.1f}", k.forward_gflops), fmt::format("{:.2f}", k.backward_ms),
               fmt::format("{:.1f}", k.backward_gflops),
               fmt::format("{:.0f}% / {:.0f}%", 100 * k.forward_gflops / gemm.onednn_gflops,
                           100 * k.backward_gflops / gemm.onednn_gflops)});
  }
  fmt::print("{}", table.render(false));
}

class BenchCommand : public Command {
 public:
  void add_options(CLI::App& c) override {
    c.add_option("--config", config_, "YAML config (model.*, bench.*, train.threads)")->check(CLI::ExistingFile);
    c.add_option("--set", overrides_, "Override a key, e.g. --set bench.seq_len=512 (repeatable)");
    c.add_flag("--json", json_, "Print one JSON object per timed configuration");
    c.add_flag("--profile", profile_, "Also print a step's top operators (LibTorch's autograd profiler)");
  }

  int run() override {
    auto config = load_tool_config(config_, overrides_);
    config.bench.profile = config.bench.profile || profile_;
    use_threads(config.train.threads);
    const auto results = run_bench_sweep(config, train_control());
    for (const auto& r : results) {
      for (const auto& warning : r.warnings) fmt::print(stderr, "seqenc: warning: {}\n", warning);
    }
    if (!json_) fmt::print("{}\n", results.front().kernels.summary());
    if (json_) {
      for (const auto& r : results) fmt::print("{}\n", bench_json(r));
    } else if (results.size() == 1 && config.bench.seq_lens.empty()) {
      print_one(results.front());
    } else {
      print_sweep(results);
    }
    if (config.train.precision == Precision::bf16 && !json_) fmt::print("{}\n", bf16_support().summary());
    if (config.bench.profile && !json_) print_profiles(results);
    if (config.bench.kernel) print_kernel_rates(config);
    return 0;
  }

 private:
  std::string config_;
  std::vector<std::string> overrides_;
  bool json_ = false, profile_ = false;
};

}  // namespace

std::unique_ptr<Command> bench_command() { return std::make_unique<BenchCommand>(); }

}  // namespace seqenc::app
