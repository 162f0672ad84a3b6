#include "seqenc/tools/bench.h"

#include <time.h>

#include <chrono>
#include <functional>
#include <set>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "seqenc/nn/autotune.h"
#include "seqenc/nn/fused_attention.h"
#include "seqenc/nn/heads.h"
#include "seqenc/nn/linear.h"
#include "seqenc/nn/matmul_route.h"
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

namespace {

// The kernels a bench row computes with: its keys forced or chosen as a training run would choose them.
KernelPlan bench_plan(const ToolConfig& config, const TrainControl& control, std::vector<std::string>* warnings) {
  const auto& m = config.model;
  TuningShape shape{config.bench.batch_size,
                    config.bench.seq_len,
                    m.num_hiddens,
                    m.num_heads,
                    m.ffn_num_hiddens,
                    m.dropout,
                    config.train.precision,
                    encoder_facts(m.name).attention,
                    m.pos_encoding == PosEncoding::relative};
  return plan_kernels(shape, {m.attention, config.train.matmul, config.train.blas}, control.tuning, warnings);
}

// A bench row ready to run: its model, optimizer and one training step (which sets its own kernels, so that rows
// can take turns).
struct PreparedRow {
  BenchResult result;
  ToolConfig config;
  torch::Device device = torch::kCPU;
  SequenceModel model{nullptr};
  std::function<void()> step;
};

std::unique_ptr<PreparedRow> prepare_row(const ToolConfig& config, const TrainControl& control) {
  if (auto problems = tool_config_problems(config); !problems.empty())
    throw ConfigError("configuration: " + join(problems, "; "));
  if (control.reset_peak_memory) control.reset_peak_memory();
  auto row = std::make_unique<PreparedRow>();
  row->config = config;
  const auto& b = row->config.bench;
  row->device = resolve_device(config.train.device);
  check_precision(config.train.precision, row->device);
  row->result.kernels = bench_plan(config, control, &row->result.warnings);
  torch::manual_seed(config.train.seed);
  auto options = encoder_options_for(config, b.vocab_size, false, std::max(b.seq_len, config.data.max_len));
  options.attention = row->result.kernels.attention;
  row->model = SequenceModel(options, HeadOptions{HeadKind::tag, b.vocab_size, Pooling::mean});
  row->model->to(row->device);
  row->model->train();
  auto optimizer =
      std::make_shared<torch::optim::Adam>(row->model->parameters(), torch::optim::AdamOptions(config.train.lr));
  row->step = [r = row.get(), optimizer, set_blas = control.tuning.set_blas_override] {
    const auto& b = r->config.bench;
    if (set_blas) set_blas(r->result.kernels.blas == BlasChoice::onednn);
    auto tokens = torch::randint(kNumSpecialTokens, b.vocab_size, {b.batch_size, b.seq_len}, torch::kLong);
    auto lens = torch::randint(b.seq_len / 2, b.seq_len + 1, {b.batch_size}, torch::kLong);
    auto labels = torch::randint(0, b.vocab_size, {b.batch_size, b.seq_len}, torch::kLong);
    labels.masked_fill_(valid_positions(lens, b.seq_len).logical_not(), kIgnoreLabel);
    torch::Tensor loss;
    {
      PrecisionScope precision(r->config.train.precision);
      MatmulScope matmul(r->result.kernels.matmul);
      auto out = r->model->labelled_logits(tokens.to(r->device), lens.to(r->device), labels.to(r->device));
      loss = task_loss(out.logits, out.labels);
    }
    optimizer->zero_grad();
    loss.backward();
    optimizer->step();
    if (r->device.is_cuda()) loss.item<double>();  // wait for the GPU before reading the clock
  };
  return row;
}

// ms per step of `steps` steps.
double time_block(const std::function<void()>& step, int64_t steps) {
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) step();
  const std::chrono::duration<double, std::milli> spent = std::chrono::steady_clock::now() - start;
  return spent.count() / static_cast<double>(steps);
}

BenchResult finish_row(PreparedRow& row) {
  if (row.config.bench.profile) row.result.operators = profile_operators(row.step, 2);
  fill_result(row.result, row.config, *row.model->encoder, row.device);
  return std::move(row.result);
}

// Rows of one shape, timed in turns (repeat r of every row, then repeat r + 1), so that whatever drifts while they
// run (the machine's clock, its neighbours) falls on all of them alike: rows timed one after another differed by up
// to 7 % for the same configuration. Each row's untimed warmup (at least one step: first use of its kernels) also
// measures its peak memory.
std::vector<BenchResult> time_in_turns(std::vector<std::unique_ptr<PreparedRow>>& rows, const BenchOptions& b,
                                       const TrainControl& control) {
  for (auto& row : rows) {
    if (control.reset_peak_memory) control.reset_peak_memory();
    for (int64_t i = 0; i < std::max<int64_t>(b.warmup, 1); ++i) row->step();
    row->result.peak_rss_mb = peak_rss_mb();
  }
  std::vector<std::vector<double>> ms(rows.size());
  for (int64_t r = 0; r < b.repeats; ++r) {
    for (size_t i = 0; i < rows.size(); ++i) ms[i].push_back(time_block(rows[i]->step, b.steps));
  }
  std::vector<BenchResult> results;
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i]->result.ms_per_step = median(ms[i]);
    results.push_back(finish_row(*rows[i]));
  }
  return results;
}

}  // namespace

BenchResult run_bench(const ToolConfig& config, const TrainControl& control) {
  auto row = prepare_row(config, control);
  for (int64_t i = 0; i < config.bench.warmup; ++i) row->step();
  std::vector<double> ms;
  for (int64_t r = 0; r < config.bench.repeats; ++r) ms.push_back(time_block(row->step, config.bench.steps));
  row->result.ms_per_step = median(ms);
  return finish_row(*row);
}

void fill_result(BenchResult& r, const ToolConfig& config, const EncoderImpl& encoder, const torch::Device& device) {
  const auto& b = config.bench;
  r.encoder = config.model.name;
  r.attention = encoder.attention_kernel(device);
  r.automatic = {config.model.attention == AttentionKernel::automatic && !r.attention.empty(),
                 config.train.matmul == MatmulRoute::automatic, config.train.blas == BlasChoice::automatic};
  r.precision = name_of(config.train.precision);
  r.batch_size = b.batch_size;
  r.seq_len = b.seq_len;
  r.vocab_size = b.vocab_size;
  r.threads = torch::get_num_threads();
  r.parameters = encoder.num_parameters();
  r.tokens_per_s = static_cast<double>(b.batch_size * b.seq_len) / (r.ms_per_step / 1000.0);
  r.step_gflop = step_gflop(encoder, b, config.model.num_hiddens);
  r.achieved_gflops = r.step_gflop / (r.ms_per_step / 1000.0);
  if (r.peak_rss_mb == 0) r.peak_rss_mb = peak_rss_mb();  // time_in_turns measures it beforehand
  r.device = device.str();
}

std::vector<BenchResult> run_bench_sweep(const ToolConfig& config, const TrainControl& control) {
  auto results = time_each(config, control);
  if (config.bench.sgemm_n > 0 && !results.empty()) {  // after the steps: their peak memory is their own
    const auto gemm = measure_sgemm(config.bench.sgemm_n, 3);
    for (auto& r : results) r.sgemm_gflops = std::max(gemm.onednn_gflops, gemm.libtorch_gflops);
  }
  return results;
}

namespace {
// The configurations that force, in turn, each choice the configuration leaves to auto (the others still auto),
// so that auto's row can be read against every forced one; with the key=value each forces.
std::vector<std::pair<ToolConfig, std::string>> forced_variants(const ToolConfig& c, bool hook) {
  std::vector<std::pair<ToolConfig, std::string>> out;
  if (c.model.attention == AttentionKernel::automatic && encoder_facts(c.model.name).attention) {
    for (auto kernel : {AttentionKernel::fused, AttentionKernel::reference, AttentionKernel::sdpa}) {
      ToolConfig v = c;
      v.model.attention = kernel;
      const bool too_long = kernel == AttentionKernel::reference && c.bench.seq_len > c.bench.reference_max_n;
      if (!too_long && encoder_problems(v.model).empty()) out.emplace_back(v, "model.attention=" + name_of(kernel));
    }
  }
  if (c.train.matmul == MatmulRoute::automatic) {
    for (auto route : {MatmulRoute::onednn, MatmulRoute::libtorch}) {
      ToolConfig v = c;
      v.train.matmul = route;
      out.emplace_back(v, "train.matmul=" + name_of(route));
    }
  }
  if (c.train.blas == BlasChoice::automatic && hook && c.train.precision == Precision::fp32) {
    for (auto blas : {BlasChoice::onednn, BlasChoice::libtorch}) {
      ToolConfig v = c;
      v.train.blas = blas;
      out.emplace_back(v, "train.blas=" + name_of(blas));
    }
  }
  return out;
}
}  // namespace

std::vector<BenchResult> time_each(const ToolConfig& config, const TrainControl& control) {
  std::vector<BenchResult> results;
  for (const auto& [n, batch] : bench_sweep(config.bench)) {
    ToolConfig c = config;
    c.bench.seq_len = n;
    c.bench.batch_size = batch;
    c.bench.seq_lens.clear();
    if (config.bench.seq_lens.empty()) {
      results.push_back(run_bench(c, control));
      continue;
    }
    // A sweep also times every forced choice beside auto, in turns.
    std::vector<std::unique_ptr<PreparedRow>> rows;
    rows.push_back(prepare_row(c, control));
    for (const auto& [variant, forced] : forced_variants(c, static_cast<bool>(control.tuning.set_blas_override))) {
      rows.push_back(prepare_row(variant, control));
      rows.back()->result.forced = forced;
    }
    for (auto& r : time_in_turns(rows, c.bench, control)) results.push_back(std::move(r));
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

std::string BenchResult::label() const {
  std::string text = encoder;
  if (!attention.empty()) text += " " + attention;
  text += "/" + name_of(kernels.matmul) + "/" + name_of(kernels.blas);
  if (!forced.empty()) return text + " [" + forced + "]";
  return automatic.any() ? text + " (auto)" : text;
}

std::string bench_json(const BenchResult& r) {
  return nlohmann::json{{"encoder", r.encoder},
                        {"attention", r.attention},
                        {"precision", r.precision},
                        {"batch_size", r.batch_size},
                        {"seq_len", r.seq_len},
                        {"vocab_size", r.vocab_size},
                        {"threads", r.threads},
                        {"parameters", r.parameters},
                        {"tokens_per_s", r.tokens_per_s},
                        {"ms_per_step", r.ms_per_step},
                        {"peak_rss_mb", r.peak_rss_mb},
                        {"device", r.device},
                        {"step_gflop", r.step_gflop},
                        {"gflops", r.achieved_gflops},
                        {"sgemm_gflops", r.sgemm_gflops},
                        {"sgemm_share", r.sgemm_share()},
                        {"matmul", name_of(r.kernels.matmul)},
                        {"blas", name_of(r.kernels.blas)},
                        {"auto", r.forced.empty() && r.automatic.any()},
                        {"forced", r.forced},
                        {"label", r.label()}}
      .dump();
}

}  // namespace seqenc
