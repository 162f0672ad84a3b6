#include "seqenc/tools/bench.h"

#include <time.h>

#include <chrono>
#include <functional>
#include <set>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "seqenc/nn/fused_attention.h"
#include "seqenc/nn/heads.h"
#include "seqenc/nn/linear.h"
#include "seqenc/strings.h"
#include "seqenc/tools/measure.h"
#include "seqenc/train/device.h"

namespace seqenc {

BenchResult run_bench(const ToolConfig& config, const TrainControl& control) {
  if (auto problems = tool_config_problems(config); !problems.empty())
    throw ConfigError("configuration: " + join(problems, "; "));
  if (control.reset_peak_memory) control.reset_peak_memory();
  const auto& b = config.bench;
  const auto device = resolve_device(config.train.device);
  check_precision(config.train.precision, device);
  torch::manual_seed(config.train.seed);
  auto options = encoder_options_for(config, b.vocab_size, false, std::max(b.seq_len, config.data.max_len));
  SequenceModel model(options, HeadOptions{HeadKind::tag, b.vocab_size, Pooling::mean});
  model->to(device);
  model->train();
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(config.train.lr));
  auto step = [&] {
    auto tokens = torch::randint(kNumSpecialTokens, b.vocab_size, {b.batch_size, b.seq_len}, torch::kLong).to(device);
    auto lens = torch::randint(b.seq_len / 2, b.seq_len + 1, {b.batch_size}, torch::kLong).to(device);
    auto labels = torch::randint(0, b.vocab_size, {b.batch_size, b.seq_len}, torch::kLong).to(device);
    labels.masked_fill_(valid_positions(lens, b.seq_len).logical_not(), kIgnoreLabel);
    torch::Tensor loss;
    {
      PrecisionScope precision(config.train.precision);
      auto out = model->labelled_logits(tokens, lens, labels);
      loss = task_loss(out.logits, out.labels);
    }
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (device.is_cuda()) loss.item<double>();  // wait for the GPU before reading the clock
  };
  for (int64_t i = 0; i < b.warmup; ++i) step();
  std::vector<double> ms;
  for (int64_t r = 0; r < b.repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < b.steps; ++i) step();
    const std::chrono::duration<double, std::milli> spent = std::chrono::steady_clock::now() - start;
    ms.push_back(spent.count() / static_cast<double>(b.steps));
  }
  BenchResult r;
  r.encoder = config.model.name;
  r.attention = model->encoder->attention_kernel(device);
  r.precision = name_of(config.train.precision);
  r.batch_size = b.batch_size;
  r.seq_len = b.seq_len;
  r.vocab_size = b.vocab_size;
  r.threads = torch::get_num_threads();
  r.parameters = model->encoder->num_parameters();
  r.ms_per_step = median(ms);
  if (b.profile) r.operators = profile_operators(step, 2);
  r.tokens_per_s = static_cast<double>(b.batch_size * b.seq_len) / (r.ms_per_step / 1000.0);
  r.peak_rss_mb = peak_rss_mb();
  r.device = device.str();
  return r;
}

std::vector<BenchResult> run_bench_sweep(const ToolConfig& config, const TrainControl& control) {
  std::vector<BenchResult> results;
  // A sweep of an encoder whose attention kernel is left to auto times each kernel that applies to it; a single
  // size, the one auto picks.
  const bool each_kernel = !config.bench.seq_lens.empty() && config.model.attention == AttentionKernel::automatic;
  for (const auto& [n, batch] : bench_sweep(config.bench)) {
    ToolConfig c = config;
    c.bench.seq_len = n;
    c.bench.batch_size = batch;
    c.bench.seq_lens.clear();
    if (!each_kernel) {
      results.push_back(run_bench(c, control));
      continue;
    }
    std::set<std::string> timed;  // a kernel that does not apply (e.g. fused with relative positions) falls back
    for (auto kernel : {AttentionKernel::fused, AttentionKernel::reference}) {
      if (kernel == AttentionKernel::reference && n > config.bench.reference_max_n) continue;
      c.model.attention = kernel;
      if (!encoder_problems(c.model).empty()) continue;  // e.g. the fused kernel has no relative positions
      auto r = run_bench(c, control);
      if (!timed.insert(r.attention).second) continue;
      results.push_back(r);
      if (r.attention.empty()) break;  // an encoder without attention: timed once
    }
  }
  return results;
}

namespace {

// The median of f's time over repeats, after one untimed call: wall time, or this process's CPU time.
double median_time_ms(const std::function<void()>& f, int64_t repeats, bool cpu_time) {
  if (!cpu_time) return median_ms(f, repeats);
  auto cpu_ms = [] {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
  };
  f();
  std::vector<double> ms;
  for (int64_t r = 0; r < repeats; ++r) {
    const double start = cpu_ms();
    f();
    ms.push_back(cpu_ms() - start);
  }
  return median(ms);
}

}  // namespace

KernelRate measure_attention_kernel(int64_t batch_heads, int64_t n, int64_t head_dim, int64_t repeats,
                                    const KernelTiming& timing) {
  torch::manual_seed(0);
  auto q = torch::randn({batch_heads, n, head_dim}).requires_grad_(true);
  auto k = torch::randn({batch_heads, n, head_dim}).requires_grad_(true);
  auto v = torch::randn({batch_heads, n, head_dim}).requires_grad_(true);
  auto upstream = torch::randn({batch_heads, n, head_dim});
  const FusedAttentionOptions options{timing.dropout, 1, timing.simd};
  KernelRate r{batch_heads, n, head_dim};
  torch::Tensor out;
  r.forward_ms = median_time_ms([&] { out = fused_attention(q, k, v, {}, options); }, repeats, timing.cpu_time);
  const double total_ms = median_time_ms(
      [&] {
        // Fresh gradients, as a model's q, k and v (not leaves) get: no adding into earlier ones.
        for (auto* input : {&q, &k, &v}) input->mutable_grad().reset();
        auto y = fused_attention(q, k, v, {}, options);
        y.backward(upstream);
      },
      repeats, timing.cpu_time);
  r.backward_ms = std::max(1e-9, total_ms - r.forward_ms);
  const double flops = static_cast<double>(batch_heads) * static_cast<double>(n) * static_cast<double>(n) *
                       static_cast<double>(head_dim);
  r.forward_gflops = 4 * flops / (r.forward_ms * 1e6);
  r.backward_gflops = 10 * flops / (r.backward_ms * 1e6);
  return r;
}

GemmRate measure_sgemm(int64_t size, int64_t repeats, bool cpu_time) {
  torch::NoGradGuard no_grad;
  auto a = torch::randn({size, size}), b = torch::randn({size, size});
  const double flops = 2.0 * static_cast<double>(size) * static_cast<double>(size) * static_cast<double>(size);
  GemmRate r{size};
  r.onednn_gflops = flops / (median_time_ms([&] { linear(a, b, torch::Tensor()); }, repeats, cpu_time) * 1e6);
  r.libtorch_gflops = flops / (median_time_ms([&] { torch::mm(a, b); }, repeats, cpu_time) * 1e6);
  return r;
}

std::string bench_json(const BenchResult& r) {
  return nlohmann::json{
      {"encoder", r.encoder},         {"attention", r.attention},     {"precision", r.precision},
      {"batch_size", r.batch_size},   {"seq_len", r.seq_len},         {"vocab_size", r.vocab_size},
      {"threads", r.threads},         {"parameters", r.parameters},   {"tokens_per_s", r.tokens_per_s},
      {"ms_per_step", r.ms_per_step}, {"peak_rss_mb", r.peak_rss_mb}, {"device", r.device}}
      .dump();
}

}  // namespace seqenc
