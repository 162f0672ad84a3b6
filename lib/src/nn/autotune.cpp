#include "seqenc/nn/autotune.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <torch/version.h>

#include "seqenc/files.h"
#include "seqenc/nn/attention.h"
#include "seqenc/nn/linear.h"
#include "seqenc/nn/sdpa_attention.h"
#include "seqenc/strings.h"

namespace seqenc {

namespace {

using json = nlohmann::json;
constexpr const char* kCacheFormat = "seqenc-kernels-1";
constexpr double kNotTimed = std::numeric_limits<double>::infinity();
// The reference path keeps n x n scores, weights and their gradients: it is not timed past this much memory.
constexpr double kReferenceBytesLimit = 1024.0 * 1024 * 1024;

// The fastest of five timed calls after one untimed, in ms. The minimum, not the median: a choice is cached for the
// machine, and on a busy one (a build beside a run) a median of three still caught a call descheduled for seconds.
double best_ms(const std::function<void()>& f) {
  f();
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < 5; ++r) {
    const auto start = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

int64_t pow2_at_least(int64_t x) {
  int64_t p = 1;
  while (p < x) p *= 2;
  return p;
}

// One forward and backward of the attention alone on the run's shapes, valid lengths and dropout.
double time_attention(const TuningShape& s, AttentionKernel kernel) {
  const int64_t bh = s.batch * s.num_heads, hd = s.num_hiddens / std::max<int64_t>(1, s.num_heads);
  if (kernel == AttentionKernel::sdpa && !sdpa_available()) return kNotTimed;
  if (kernel == AttentionKernel::reference &&
      3.0 * static_cast<double>(bh) * static_cast<double>(s.n * s.n) * 4 > kReferenceBytesLimit)
    return kNotTimed;
  DotProductAttention attention(s.dropout, kernel);
  attention->train();
  auto q = torch::randn({bh, s.n, hd}).requires_grad_(true), k = torch::randn({bh, s.n, hd}).requires_grad_(true);
  auto v = torch::randn({bh, s.n, hd}).requires_grad_(true);
  const auto lens = torch::randint(s.n / 2, s.n + 1, {bh}, torch::kLong);
  return best_ms([&] {
    torch::Tensor out;
    {
      PrecisionScope precision(s.precision);
      out = attention->forward(q, k, v, lens);
    }
    out.sum().backward();
  });
}

// The run's largest linear, forward and backward, through `route`.
double time_matmul(const TuningShape& s, MatmulRoute route) {
  const int64_t m = s.batch * s.n, d = s.num_hiddens, f = std::max(s.ffn_num_hiddens, s.num_hiddens);
  auto x = torch::randn({m, d}).requires_grad_(true), w = torch::randn({f, d}).requires_grad_(true);
  auto b = torch::zeros({f}).requires_grad_(true);
  return best_ms([&] {
    torch::Tensor y;
    {
      MatmulScope scope(route);
      PrecisionScope precision(s.precision);
      y = linear(x, w, b);
    }
    y.sum().backward();
  });
}

// LibTorch's own float products as a step makes them: one large (a convolution's or bmm's) and n small ones (a
// recurrent cell's), with the program's sgemm_ answering or not.
double time_blas(const TuningShape& s, bool override_on, const TuningContext& context) {
  context.set_blas_override(override_on);
  const int64_t m = s.batch * s.n, d = s.num_hiddens;
  auto x = torch::randn({m, d}), w = torch::randn({d, d}), h = torch::randn({s.batch, d});
  auto cell = torch::randn({d, 3 * d});
  return best_ms([&] {
    torch::mm(x, w);
    for (int64_t t = 0; t < std::min<int64_t>(s.n, 64); ++t) torch::mm(h, cell);
  });
}

std::string shape_class(const std::string& kind, const TuningShape& s) {
  return fmt::format("{} bh={} n={} d={} h={} ffn={} dropout={} {}", kind, pow2_at_least(s.batch * s.num_heads),
                     pow2_at_least(s.n), s.num_hiddens, s.num_heads, s.ffn_num_hiddens, s.dropout > 0 ? 1 : 0,
                     name_of(s.precision));
}

// The choices already measured on this machine, kept in a JSON file under a lock while a choice is made.
class ChoiceCache {
 public:
  // Keys are prefixed with the machine (machine_key()): a choice holds for one CPU, thread count and LibTorch.
  ChoiceCache(const std::string& path, std::string machine, std::vector<std::string>* warnings)
      : path_(path), machine_(std::move(machine)), warnings_(warnings) {}

  // The cached choice for key, or the one `measure` gives (then cached); "" names nothing cached or measured.
  std::pair<std::string, std::string> get_or_measure(
      const std::string& key, const std::function<std::pair<std::string, std::string>()>& measure);

 private:
  json read();
  bool lock(FileLock& held);
  std::string path_, machine_;
  std::vector<std::string>* warnings_;
};

// flock: a second lock on the file waits even within one process, so each lookup holds its own and lets go of it.
bool ChoiceCache::lock(FileLock& held) {
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path());
  long holder = 0;
  for (int attempt = 0; attempt < 600; ++attempt) {  // another process measuring: at most a minute
    if (FileLock::try_lock(path_ + ".lock", held, holder)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

json ChoiceCache::read() {
  std::string problem;
  const auto text = std::filesystem::exists(path_) ? read_whole_file(path_, &problem) : std::string();
  if (text.empty() && problem.empty()) return json{{"format", kCacheFormat}, {"entries", json::object()}};
  try {
    auto cache = json::parse(text);
    if (cache.value("format", "") == kCacheFormat && cache.contains("entries") && cache["entries"].is_object())
      return cache;
    problem = "not a seqenc kernel cache";
  } catch (const json::exception& e) {
    problem = e.what();
  }
  if (warnings_) warnings_->push_back(path_ + ": damaged (" + problem + "); ignored and measured again");
  return json{{"format", kCacheFormat}, {"entries", json::object()}};
}

std::pair<std::string, std::string> ChoiceCache::get_or_measure(
    const std::string& shape, const std::function<std::pair<std::string, std::string>()>& measure) {
  FileLock held;  // released on every return
  if (path_.empty() || !lock(held)) return measure();
  const std::string key = machine_ + " | " + shape;
  auto cache = read();
  const auto& entry = cache["entries"].value(key, json::object());
  if (entry.is_object() && entry.contains("choice") && entry["choice"].is_string())
    return {entry["choice"].get<std::string>(), entry.value("timings", "") + " (cached)"};
  auto [choice, timings] = measure();
  cache["entries"][key] = {{"choice", choice}, {"timings", timings}};
  try {
    write_file_atomic(path_, cache.dump(1) + "\n");
  } catch (const WriteError& e) {
    if (warnings_) warnings_->push_back(std::string(e.what()) + "; the choice is not cached");
  }
  return {choice, timings};
}

// The fastest of candidates by `time` ("" where none could be timed), with the timings as one line.
template <typename Choice>
std::pair<std::string, std::string> fastest(const std::string& what, const std::vector<Choice>& candidates,
                                            const std::function<double(Choice)>& time) {
  std::string best, line = what + ":";
  double best_time = kNotTimed;
  for (auto c : candidates) {
    const double ms = time(c);
    line += ms == kNotTimed ? fmt::format(" {} not timed", name_of(c)) : fmt::format(" {} {:.2f} ms", name_of(c), ms);
    if (ms < best_time) best_time = ms, best = name_of(c);
  }
  return {best, line};
}

void plan_attention(const TuningShape& s, AttentionKernel forced, const TuningContext& context, ChoiceCache& cache,
                    KernelPlan& plan) {
  if (!s.attention || s.relative) {
    plan.attention = s.relative ? AttentionKernel::reference : AttentionKernel::fused;
    return;
  }
  if (forced != AttentionKernel::automatic || !context.measure) {
    plan.attention = forced == AttentionKernel::automatic ? AttentionKernel::fused : forced;
    return;
  }
  std::vector<AttentionKernel> candidates = {AttentionKernel::fused, AttentionKernel::reference};
  if (sdpa_available()) candidates.push_back(AttentionKernel::sdpa);
  auto [choice, timings] = cache.get_or_measure(shape_class("attention", s), [&] {
    return fastest<AttentionKernel>("attention", candidates, [&](AttentionKernel k) { return time_attention(s, k); });
  });
  plan.attention = parse_choice<AttentionKernel>(choice).value_or(AttentionKernel::fused);
  plan.timings.push_back(timings);
}

void plan_matmul(const TuningShape& s, MatmulRoute forced, const TuningContext& context, ChoiceCache& cache,
                 KernelPlan& plan) {
  if (forced != MatmulRoute::automatic || !context.measure) {
    plan.matmul = forced == MatmulRoute::automatic ? MatmulRoute::onednn : forced;
    return;
  }
  auto [choice, timings] = cache.get_or_measure(shape_class("matmul", s), [&] {
    return fastest<MatmulRoute>("matmul", {MatmulRoute::onednn, MatmulRoute::libtorch},
                                [&](MatmulRoute r) { return time_matmul(s, r); });
  });
  plan.matmul = parse_choice<MatmulRoute>(choice).value_or(MatmulRoute::onednn);
  plan.timings.push_back(timings);
}

void plan_blas(const TuningShape& s, BlasChoice forced, const TuningContext& context, ChoiceCache& cache,
               KernelPlan& plan) {
  // Without the program's sgemm_ there is nothing to choose; under bf16 LibTorch's products leave sgemm_ alone.
  if (forced != BlasChoice::automatic || !context.measure || !context.set_blas_override ||
      s.precision == Precision::bf16) {
    plan.blas = forced == BlasChoice::automatic ? BlasChoice::onednn : forced;
    return;
  }
  auto [choice, timings] = cache.get_or_measure(shape_class("blas", s), [&] {
    return fastest<BlasChoice>("blas", {BlasChoice::onednn, BlasChoice::libtorch},
                               [&](BlasChoice b) { return time_blas(s, b == BlasChoice::onednn, context); });
  });
  plan.blas = parse_choice<BlasChoice>(choice).value_or(BlasChoice::onednn);
  plan.timings.push_back(timings);
}

}  // namespace

std::string machine_key() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = trim(line.substr(line.find(':') + 1));
      break;
    }
  }
  return fmt::format("{} | {} thread(s) | LibTorch {}", model, torch::get_num_threads(), TORCH_VERSION);
}

KernelPlan plan_kernels(const TuningShape& shape, const KernelRequest& request, const TuningContext& context,
                        std::vector<std::string>* warnings) {
  // Measuring draws random inputs and dropout masks: the caller's random stream stays as it was.
  auto generator = at::detail::getDefaultCPUGenerator();
  const auto state = generator.get_state();
  const std::string machine = machine_key();
  ChoiceCache cache(context.measure ? context.cache_path : "", machine, warnings);
  KernelPlan plan;
  TuningShape s = shape;
  s.n = std::max<int64_t>(2, s.n);
  plan_attention(s, request.attention, context, cache, plan);
  plan_matmul(s, request.matmul, context, cache, plan);
  plan_blas(s, request.blas, context, cache, plan);
  generator.set_state(state);
  const bool measured = !plan.timings.empty();
  plan.how = measured ? "by measurement on " + machine : context.measure ? "forced" : "default";
  apply_blas_choice(plan, context);
  return plan;
}

void apply_blas_choice(const KernelPlan& plan, const TuningContext& context) {
  if (context.set_blas_override) context.set_blas_override(plan.blas == BlasChoice::onednn);
}

std::string KernelPlan::summary() const {
  std::string line = fmt::format("kernels: attention {}, matmul {}, blas {} ({})", name_of(attention), name_of(matmul),
                                 name_of(blas), how);
  if (!timings.empty()) line += "; " + join(timings, "; ");
  return line;
}

std::string KernelPlan::to_json() const {
  return json{{"attention", name_of(attention)},
              {"matmul", name_of(matmul)},
              {"blas", name_of(blas)},
              {"how", how},
              {"timings", timings}}
      .dump(1);
}

std::optional<KernelPlan> KernelPlan::from_json(const std::string& text) {
  try {
    const auto j = json::parse(text);
    const auto attention = parse_choice<AttentionKernel>(j.at("attention").get<std::string>());
    const auto matmul = parse_choice<MatmulRoute>(j.at("matmul").get<std::string>());
    const auto blas = parse_choice<BlasChoice>(j.at("blas").get<std::string>());
    if (!attention || !matmul || !blas || *attention == AttentionKernel::automatic ||
        *matmul == MatmulRoute::automatic || *blas == BlasChoice::automatic)
      return std::nullopt;
    KernelPlan plan;
    plan.attention = *attention;
    plan.matmul = *matmul;
    plan.blas = *blas;
    plan.how = j.value("how", "");
    plan.timings = j.value("timings", std::vector<std::string>{});
    return plan;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

}  // namespace seqenc
