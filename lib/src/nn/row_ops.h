// Private to nn/: the fused attention kernel's work on rows of a score tile (row max, exponentials and their sum,
// dropout draws and multipliers, the softmax gradient, bf16 rounding), one implementation per SIMD level, chosen
// at run time by what the CPU has (or by the caller, so that tests run every fallback on a machine that has them
// all). float runs at every level; double (tests, gradient checks) runs the scalar code.
#pragma once
#include <cstdint>
#include <vector>

#include "seqenc/nn/fused_attention.h"

namespace seqenc::detail {

// Dropout's draws: SplitMix64 over the counter row * groups_per_row + column / 4; each 64-bit draw gives four 16-bit
// lanes (columns 4c..4c+3, lowest bits first), and a lane below `threshold` drops its weight.
struct DropoutDraws {
  uint64_t seed = 0;
  uint64_t groups_per_row = 0;
  uint32_t threshold = 0;  // of 65536
  double scale = 0;        // what a kept weight is multiplied by: 65536 / (65536 - threshold)

  static uint64_t draw(uint64_t seed, uint64_t counter) {
    uint64_t z = seed + (counter + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

template <typename T>
struct RowOps {
  // The largest of x[0, n) (-inf for n = 0).
  T (*max)(const T* x, int64_t n);
  // x[j] = exp(x[j] - shift) * factor * keep[j] (keep null: 1) for j < n; returns the sum of exp(x[j] - shift).
  // Callers keep x[j] - shift <= 0 (shift is at least the row's max): a result under FLT_MIN is flushed to 0.
  T (*exp)(T* x, int64_t n, T shift, T factor, const T* keep);
  // y[j] = x[j] * keep[j].
  void (*mul)(const T* x, const T* keep, int64_t n, T* y);
  // The softmax's gradient in place of the weights: p[j] *= dp[j] * keep[j] - dot (keep null: 1).
  void (*softmax_grad)(T* p, const T* dp, const T* keep, T dot, int64_t n);
  // x[j] *= factor.
  void (*scale)(T* x, int64_t n, T factor);
  // keep[c] = 0 or draws.scale for columns [key0, key0 + n) of global row `row`.
  void (*dropout)(const DropoutDraws& draws, int64_t row, int64_t key0, int64_t n, T* keep);
  // y[j] = x[j] rounded to bf16, to nearest even (a NaN stays a NaN), as c10::BFloat16 rounds.
  void (*round_bf16)(const float* x, int64_t n, uint16_t* y);
};

// The levels this CPU runs, lowest first.
std::vector<KernelSimd> simd_levels();
// `level` itself, or for KernelSimd::best the highest this CPU runs; a level the CPU lacks is a ModelError.
KernelSimd resolve_simd(KernelSimd level);

// The operations at a resolved level (double: the scalar ones at every level).
const RowOps<float>& row_ops(KernelSimd level, float);
const RowOps<double>& row_ops(KernelSimd level, double);

// One level's tables (row_ops.cpp, row_ops_avx2.cpp, row_ops_avx512.cpp).
const RowOps<float>& scalar_row_ops(float);
const RowOps<double>& scalar_row_ops(double);
const RowOps<float>& avx2_row_ops();
const RowOps<float>& avx512_row_ops();

}  // namespace seqenc::detail
