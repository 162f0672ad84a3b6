#include "seqenc/tools/bench.h"

#include <chrono>
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

namespace {
// A step's model FLOPs (BenchResult::step_gflop): valid lengths are uniform in [n/2, n], each valid position labelled.
double step_gflop(const EncoderImpl& encoder, const BenchOptions& b, int64_t num_hiddens) {
  const int64_t lo = b.seq_len / 2, hi = b.seq_len;
  double forward = 0;
  for (int64_t len = lo; len <= hi; ++len) {
    const double head = 2.0 * static_cast<double>(num_hiddens * b.vocab_size) * static_cast<double>(len);
    forward += encoder.forward_flops(b.seq_len, len) + head;
  }
  forward /= static_cast<double>(hi - lo + 1);
  return 3 * forward * static_cast<double>(b.batch_size) / 1e9;
}
}  // namespace

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
  r.step_gflop = step_gflop(*model->encoder, b, config.model.num_hiddens);
  r.achieved_gflops = r.step_gflop / (r.ms_per_step / 1000.0);
  r.peak_rss_mb = peak_rss_mb();
  r.device = device.str();
  return r;
}

std::vector<BenchResult> run_bench_sweep(const ToolConfig& config, const TrainControl& control) {
  auto results = time_each(config, control);
  if (config.bench.sgemm_n > 0 && !results.empty()) {  // after the steps: their peak memory is their own
    const auto gemm = measure_sgemm(config.bench.sgemm_n, 3);
    for (auto& r : results) r.sgemm_gflops = std::max(gemm.onednn_gflops, gemm.libtorch_gflops);
  }
  return results;
}

std::vector<BenchResult> time_each(const ToolConfig& config, const TrainControl& control) {
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

KernelRate measure_attention_kernel(int64_t batch_heads, int64_t n, int64_t head_dim, int64_t repeats) {
  torch::manual_seed(0);
  auto q = torch::randn({batch_heads, n, head_dim}).requires_grad_(true);
  auto k = torch::randn({batch_heads, n, head_dim}).requires_grad_(true);
  auto v = torch::randn({batch_heads, n, head_dim}).requires_grad_(true);
  auto upstream = torch::randn({batch_heads, n, head_dim});
  KernelRate r{batch_heads, n, head_dim};
  torch::Tensor out;
  r.forward_ms = median_ms([&] { out = fused_attention(q, k, v, {}); }, repeats);
  const double total_ms = median_ms(
      [&] {
        auto y = fused_attention(q, k, v, {});
        y.backward(upstream);
      },
      repeats);
  r.backward_ms = std::max(1e-9, total_ms - r.forward_ms);
  const double flops = static_cast<double>(batch_heads) * static_cast<double>(n) * static_cast<double>(n) *
                       static_cast<double>(head_dim);
  r.forward_gflops = 4 * flops / (r.forward_ms * 1e6);
  r.backward_gflops = 10 * flops / (r.backward_ms * 1e6);
  return r;
}

GemmRate measure_sgemm(int64_t size, int64_t repeats) {
  torch::NoGradGuard no_grad;
  auto a = torch::randn({size, size}), b = torch::randn({size, size});
  const double flops = 2.0 * static_cast<double>(size) * static_cast<double>(size) * static_cast<double>(size);
  GemmRate r{size};
  r.onednn_gflops = flops / (median_ms([&] { linear(a, b, torch::Tensor()); }, repeats) * 1e6);
  r.libtorch_gflops = flops / (median_ms([&] { torch::mm(a, b); }, repeats) * 1e6);
  return r;
}

std::string bench_json(const BenchResult& r) {
  return nlohmann::json{
      {"encoder", r.encoder},         {"attention", r.attention},     {"precision", r.precision},
      {"batch_size", r.batch_size},   {"seq_len", r.seq_len},         {"vocab_size", r.vocab_size},
      {"threads", r.threads},         {"parameters", r.parameters},   {"tokens_per_s", r.tokens_per_s},
      {"ms_per_step", r.ms_per_step}, {"peak_rss_mb", r.peak_rss_mb}, {"device", r.device},
      {"step_gflop", r.step_gflop},   {"gflops", r.achieved_gflops},  {"sgemm_gflops", r.sgemm_gflops},
      {"sgemm_share", r.sgemm_share()}}
      .dump();
}

}  // namespace seqenc
