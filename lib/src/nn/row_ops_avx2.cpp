#include <immintrin.h>

#include <cmath>

#include "row_ops.h"

// The AVX2 level: eight lanes; row tails and the dropout draws (64-bit products, which AVX2 lacks) run the scalar
// code. Each function carries its target, so the file builds for the baseline x86-64 and runs only where chosen.
#define SEQENC_AVX2 __attribute__((target("avx2,fma")))

namespace seqenc::detail {

namespace {

// Cephes' expf: exp(x) = 2^n exp(r), r = x - n ln 2 in two parts (exact reduction), a degree-6 polynomial for
// exp(r); below -87.34 (under FLT_MIN) the result is 0.
SEQENC_AVX2 inline __m256 exp8(__m256 x) {
  const __m256 underflow = _mm256_set1_ps(-87.3365447f);
  const __m256 zero_where = _mm256_cmp_ps(x, underflow, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, underflow), _mm256_set1_ps(88.3762626647949f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(zero_where, _mm256_mul_ps(y, _mm256_castsi256_ps(exponent)));
}

SEQENC_AVX2 float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

SEQENC_AVX2 float max_avx2(const float* x, int64_t n) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + j));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  float best = _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
  for (; j < n; ++j) best = std::max(best, x[j]);
  return best;
}

SEQENC_AVX2 float exp_avx2(float* x, int64_t n, float shift, float factor, const float* keep) {
  const __m256 s = _mm256_set1_ps(shift), f = _mm256_set1_ps(factor);
  __m256 acc = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), s));
    acc = _mm256_add_ps(acc, e);
    __m256 w = _mm256_mul_ps(e, f);
    if (keep) w = _mm256_mul_ps(w, _mm256_loadu_ps(keep + j));
    _mm256_storeu_ps(x + j, w);
  }
  const float tail = scalar_row_ops(float{}).exp(x + j, n - j, shift, factor, keep ? keep + j : nullptr);
  return horizontal_sum(acc) + tail;
}

SEQENC_AVX2 void mul_avx2(const float* x, const float* keep, int64_t n, float* y) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(keep + j)));
  for (; j < n; ++j) y[j] = x[j] * keep[j];
}

SEQENC_AVX2 void softmax_grad_avx2(float* p, const float* dp, const float* keep, float dot, int64_t n) {
  const __m256 d = _mm256_set1_ps(dot);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 g = _mm256_loadu_ps(dp + j);
    if (keep) g = _mm256_mul_ps(g, _mm256_loadu_ps(keep + j));
    _mm256_storeu_ps(p + j, _mm256_mul_ps(_mm256_loadu_ps(p + j), _mm256_sub_ps(g, d)));
  }
  scalar_row_ops(float{}).softmax_grad(p + j, dp + j, keep ? keep + j : nullptr, dot, n - j);
}

SEQENC_AVX2 void scale_avx2(float* x, int64_t n, float factor) {
  const __m256 f = _mm256_set1_ps(factor);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), f));
  for (; j < n; ++j) x[j] *= factor;
}

// Round to nearest even on the bits, as the scalar code does; a NaN becomes the quiet NaN 0x7FC0.
SEQENC_AVX2 void round_bf16_avx2(const float* x, int64_t n, uint16_t* y) {
  const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7FFF);
  const __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + j));
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, bias), odd), 16);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
    r = _mm256_blendv_epi8(r, _mm256_set1_epi32(0x7FC0), nan);
    // Pack the eight 32-bit results (each below 65536) to 16 bits; packus works per 128-bit half.
    const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + j), packed);
  }
  scalar_row_ops(float{}).round_bf16(x + j, n - j, y + j);
}

}  // namespace

const RowOps<float>& avx2_row_ops() {
  static const RowOps<float> table{
      max_avx2, exp_avx2, mul_avx2, softmax_grad_avx2, scale_avx2, scalar_row_ops(float{}).dropout, round_bf16_avx2};
  return table;
}

}  // namespace seqenc::detail
