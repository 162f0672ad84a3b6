#include "seqenc/tools/bench_options.h"

#include <algorithm>

#include "seqenc/error.h"
#include "seqenc/strings.h"

namespace seqenc {

void add_bench_keys(Schema& s, BenchOptions& b) {
  s.add("bench.batch_size", b.batch_size, "examples per benchmark step");
  s.add("bench.seq_len", b.seq_len, "tokens per benchmark example");
  s.add("bench.vocab_size", b.vocab_size, "vocabulary (and output classes) of the benchmark");
  s.add("bench.steps", b.steps, "timed steps per repeat");
  s.add("bench.repeats", b.repeats, "repeats; the median is reported");
  s.add("bench.warmup", b.warmup, "untimed warm-up steps");
  s.add("bench.seq_lens", b.seq_lens, "sweep over n, e.g. 128:32,512:8,2048:1 (n:batch; empty: bench.seq_len)");
  s.add("bench.reference_max_n", b.reference_max_n, "largest n of a sweep that also times the reference attention");
  s.add("bench.profile", b.profile, "also print where a step's time goes, operator by operator (autograd profiler)");
  s.add("bench.kernel", b.kernel, "also time the fused attention kernel alone (GFLOP/s) and the machine's sgemm");
  s.add("bench.sgemm_n", b.sgemm_n,
        "size n of the n^3 sgemm measured in the same run that a step's FLOP rate is a share of (0: not measured)");
  s.add(
      "bench.kernel_cpu_time", b.kernel_cpu_time,
      "time the kernel and sgemm in the process's CPU time, not wall time (with train.threads=1 on a loaded machine)");
  s.add("bench.kernel_simd", b.kernel_simd, "the fused kernel's SIMD level (best: the best this CPU runs)");
  s.add("bench.kernel_dropout", b.kernel_dropout, "dropout inside the timed fused kernel");
}

std::vector<std::string> bench_problems(const BenchOptions& b) {
  std::vector<std::string> p;
  auto need = [&p](bool ok, const std::string& problem) {
    if (!ok) p.push_back(problem);
  };
  need(b.batch_size > 0, "bench.batch_size: must be > 0");
  need(b.seq_len > 1, "bench.seq_len: must be > 1");
  need(b.vocab_size > 5, "bench.vocab_size: must be > 5");
  need(b.steps > 0, "bench.steps: must be > 0");
  need(b.repeats > 0, "bench.repeats: must be > 0");
  need(b.warmup >= 0, "bench.warmup: must be >= 0");
  need(b.sgemm_n >= 0, "bench.sgemm_n: must be >= 0");
  need(b.kernel_dropout >= 0 && b.kernel_dropout < 1, "bench.kernel_dropout: must be in [0, 1)");
  const auto levels = fused_attention_simd_levels();
  need(std::find(levels.begin(), levels.end(), b.kernel_simd) != levels.end() || b.kernel_simd == KernelSimd::best,
       "bench.kernel_simd: this CPU does not run " + name_of(b.kernel_simd));
  try {
    for (const auto& [n, batch] : bench_sweep(b)) {
      need(n > 1 && batch > 0,
           "bench.seq_lens: n must be > 1 and batch > 0, got " + std::to_string(n) + ":" + std::to_string(batch));
    }
  } catch (const ConfigError& e) {
    p.push_back(e.what());
  }
  return p;
}

std::vector<std::pair<int64_t, int64_t>> bench_sweep(const BenchOptions& b) {
  if (b.seq_lens.empty()) return {{b.seq_len, b.batch_size}};
  std::vector<std::pair<int64_t, int64_t>> sweep;
  for (const auto& item : split_list(b.seq_lens)) {
    const auto colon = item.find(':');
    try {
      size_t used = 0;
      const int64_t n = std::stoll(item.substr(0, colon), &used);
      if (used != (colon == std::string::npos ? item.size() : colon)) throw std::invalid_argument(item);
      const int64_t batch = colon == std::string::npos ? b.batch_size : std::stoll(item.substr(colon + 1), &used);
      if (colon != std::string::npos && used != item.size() - colon - 1) throw std::invalid_argument(item);
      sweep.emplace_back(n, batch);
    } catch (const std::logic_error&) {
      throw ConfigError("bench.seq_lens: '" + item + "' is not n or n:batch");
    }
  }
  return sweep;
}

}  // namespace seqenc
