// seqenc bench: the project's training-step benchmark, over one n or a sweep,
// and the fused attention kernel's rate next to the machine's matrix product.
#pragma once
#include <string>
#include <vector>

#include "seqenc/nn/autotune.h"
#include "seqenc/tools/profile.h"
#include "seqenc/tools/tool_config.h"
#include "seqenc/train/outcome.h"

namespace seqenc {

struct BenchResult {
  std::string encoder;
  std::string attention;  // the attention kernel (fused, reference or sdpa); empty for an encoder without attention
  KernelPlan kernels;     // what computed the step, chosen as a run would choose it
  struct {
    bool attention = false, matmul = false, blas = false;
    bool any() const { return attention || matmul || blas; }
  } automatic;                        // which of kernels' choices auto made
  std::string forced;                 // a sweep's row that forces one choice ("model.attention=reference"); "" else
  std::vector<std::string> warnings;  // e.g. a damaged kernel cache, ignored
  // "transformer fused/onednn/onednn (auto)": the encoder, its kernels, and whether auto chose them or what a
  // sweep's row forced ("[model.attention=reference]").
  std::string label() const;
  std::string precision;  // train.precision: fp32 or bf16
  int64_t batch_size = 0, seq_len = 0, vocab_size = 0, threads = 0, parameters = 0;
  double tokens_per_s = 0;  // batch_size x seq_len positions per second (median over repeats)
  double ms_per_step = 0;   // median over repeats
  double peak_rss_mb = 0;   // of this process since control.reset_peak_memory (when the caller gives one)
  // Model FLOPs of a step: 3 x the forward's (backward = 2 x forward), attention over valid keys only, the output
  // layer over labelled positions; averaged over the step's distribution of valid lengths.
  double step_gflop = 0;
  double achieved_gflops = 0;  // step_gflop / step time
  double sgemm_gflops = 0;     // the machine's best float matrix product in the same run (bench.sgemm_n; 0: none)
  double sgemm_share() const { return sgemm_gflops > 0 ? achieved_gflops / sgemm_gflops : 0; }
  std::string device;
  std::vector<OperatorTime> operators;  // with bench.profile: one more step under the profiler, by self time
};

// A step: random tokens, random valid lengths in [n/2, n], the encoder with a
// token-classification head over the vocabulary, cross-entropy, backward, Adam. The kernels are planned as a
// training run plans them (nn/autotune.h, control.tuning).
BenchResult run_bench(const ToolConfig& config, const TrainControl& control = {});
// run_bench at every (n, batch) of bench_sweep(config.bench); in a sweep (bench.seq_lens), each choice left to
// auto (model.attention, train.matmul, train.blas) is also timed forced to each of its values beside auto's row
// (the reference attention up to bench.reference_max_n).
// Each row also gets the machine's sgemm rate measured after the steps (bench.sgemm_n), for its FLOP share.
std::vector<BenchResult> run_bench_sweep(const ToolConfig& config, const TrainControl& control = {});
// The rows of run_bench_sweep without the sgemm measurement.
std::vector<BenchResult> time_each(const ToolConfig& config, const TrainControl& control = {});
// A timed row's description of what it timed (encoder, kernels, rates); run_bench calls it.
void fill_result(BenchResult& r, const ToolConfig& config, const EncoderImpl& encoder, const torch::Device& device);
std::string bench_json(const BenchResult& r);

// The fused attention kernel alone on (batch_heads, n, head_dim) queries, keys and values, all keys valid.
struct KernelRate {
  int64_t batch_heads = 0, n = 0, head_dim = 0;
  double forward_ms = 0, backward_ms = 0;
  double forward_gflops = 0, backward_gflops = 0;  // 4 n^2 d and 10 n^2 d FLOPs per head (FlashAttention-2's count)
};
// How the kernel is timed: its SIMD level and dropout, and the clock (CPU time: the process's, which a loaded
// machine skews less than wall time; meant for train.threads=1).
struct KernelTiming {
  KernelSimd simd = KernelSimd::best;
  double dropout = 0;
  bool cpu_time = false;
};
KernelRate measure_attention_kernel(int64_t batch_heads, int64_t n, int64_t head_dim, int64_t repeats,
                                    const KernelTiming& timing = {});

// The machine's float matrix product, size x size x size: through oneDNN (what seqenc's linears and the
// kernel use) and through LibTorch's own torch::mm.
struct GemmRate {
  int64_t size = 0;
  double onednn_gflops = 0, libtorch_gflops = 0;
};
GemmRate measure_sgemm(int64_t size, int64_t repeats, bool cpu_time = false);

}  // namespace seqenc
