// The bench.* keys: what seqenc bench times (the tools layer's part of the configuration schema).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "seqenc/nn/fused_attention.h"
#include "seqenc/schema.h"

namespace seqenc {

struct BenchOptions {
  int64_t batch_size = 32;
  int64_t seq_len = 128;
  int64_t vocab_size = 1000;
  int64_t steps = 10;              // timed steps per repeat
  int64_t repeats = 5;             // the median over repeats is reported
  int64_t warmup = 3;              // untimed steps first
  std::string seq_lens;            // a sweep "n:batch,n:batch,..." (or "n,..." at batch_size); empty: seq_len alone
  int64_t reference_max_n = 2048;  // the sweep times the reference attention path up to this n
  bool kernel = false;             // also time the fused attention kernel alone, and the machine's sgemm
  bool profile = false;            // also print the top operators of a step (LibTorch's autograd profiler)
  int64_t sgemm_n = 2048;          // the sgemm (n^3) a step's FLOP rate is compared with; 0: not measured
  bool kernel_cpu_time = false;    // time them in this process's CPU time, not wall time (a loaded machine)
  KernelSimd kernel_simd = KernelSimd::best;  // the kernel's SIMD level
  double kernel_dropout = 0;                  // the kernel's dropout
};

void add_bench_keys(Schema& schema, BenchOptions& bench);
// Every problem of the bench.* keys, each "bench.key: problem".
std::vector<std::string> bench_problems(const BenchOptions& bench);
// The (n, batch) pairs of a benchmark: bench.seq_lens, or (seq_len, batch_size). ConfigError on bad syntax.
std::vector<std::pair<int64_t, int64_t>> bench_sweep(const BenchOptions& options);

}  // namespace seqenc
