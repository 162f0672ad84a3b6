#include "row_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "seqenc/error.h"

// The scalar level (plain loops: the compiler may vectorise them for the baseline x86-64, nothing more), the table
// of levels, and which of them this CPU runs.

namespace seqenc::detail {

namespace {

template <typename T>
T max_of(const T* x, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < n; ++j) m = std::max(m, x[j]);
  return m;
}

// exp(-87.34) is FLT_MIN: smaller results are flushed to 0, as the vector levels do (no denormals in the products).
template <typename T>
T exp_flushed(T x) {
  if constexpr (std::is_same_v<T, float>) {
    if (x < -87.3365447f) return 0;
  }
  return std::exp(x);
}

template <typename T>
T exp_of(T* x, int64_t n, T shift, T factor, const T* keep) {
  T sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    const T e = exp_flushed(x[j] - shift);
    sum += e;
    x[j] = e * factor * (keep ? keep[j] : T(1));
  }
  return sum;
}

template <typename T>
void mul_of(const T* x, const T* keep, int64_t n, T* y) {
  for (int64_t j = 0; j < n; ++j) y[j] = x[j] * keep[j];
}

template <typename T>
void softmax_grad_of(T* p, const T* dp, const T* keep, T dot, int64_t n) {
  if (keep) {
    for (int64_t j = 0; j < n; ++j) p[j] *= dp[j] * keep[j] - dot;
  } else {
    for (int64_t j = 0; j < n; ++j) p[j] *= dp[j] - dot;
  }
}

template <typename T>
void scale_of(T* x, int64_t n, T factor) {
  for (int64_t j = 0; j < n; ++j) x[j] *= factor;
}

template <typename T>
void dropout_of(const DropoutDraws& draws, int64_t row, int64_t key0, int64_t n, T* keep) {
  const auto scale = static_cast<T>(draws.scale);
  const uint64_t base = static_cast<uint64_t>(row) * draws.groups_per_row;
  for (int64_t c = 0; c < n;) {
    const int64_t key = key0 + c;
    uint64_t bits = DropoutDraws::draw(draws.seed, base + static_cast<uint64_t>(key / 4)) >> (16 * (key % 4));
    for (int64_t lane = key % 4; lane < 4 && c < n; ++lane, ++c, bits >>= 16) {
      keep[c] = (bits & 0xFFFF) >= draws.threshold ? scale : T(0);
    }
  }
}

void round_bf16_of(const float* x, int64_t n, uint16_t* y) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, sizeof u);
    const auto rounded = static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    y[i] = (u & 0x7FFFFFFFu) > 0x7F800000u ? uint16_t{0x7FC0} : rounded;
  }
}

template <typename T>
RowOps<T> scalar_table() {
  return {max_of<T>, exp_of<T>, mul_of<T>, softmax_grad_of<T>, scale_of<T>, dropout_of<T>, round_bf16_of};
}

bool cpu_runs_avx2() {
  static const bool yes = (__builtin_cpu_init(), __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"));
  return yes;
}

bool cpu_runs_avx512() {
  static const bool yes = (__builtin_cpu_init(),
                           cpu_runs_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"));
  return yes;
}

}  // namespace

const RowOps<float>& scalar_row_ops(float) {
  static const auto table = scalar_table<float>();
  return table;
}

const RowOps<double>& scalar_row_ops(double) {
  static const auto table = scalar_table<double>();
  return table;
}

std::vector<KernelSimd> simd_levels() {
  std::vector<KernelSimd> levels{KernelSimd::scalar};
  if (cpu_runs_avx2()) levels.push_back(KernelSimd::avx2);
  if (cpu_runs_avx512()) levels.push_back(KernelSimd::avx512);
  return levels;
}

KernelSimd resolve_simd(KernelSimd level) {
  const auto levels = simd_levels();
  if (level == KernelSimd::best) return levels.back();
  if (std::find(levels.begin(), levels.end(), level) == levels.end()) {
    throw ModelError("fused attention: this CPU does not run SIMD level " + name_of(level));
  }
  return level;
}

const RowOps<float>& row_ops(KernelSimd level, float) {
  switch (level) {
    case KernelSimd::avx512:
      return avx512_row_ops();
    case KernelSimd::avx2:
      return avx2_row_ops();
    default:
      return scalar_row_ops(float{});
  }
}

const RowOps<double>& row_ops(KernelSimd, double) { return scalar_row_ops(double{}); }

}  // namespace seqenc::detail
