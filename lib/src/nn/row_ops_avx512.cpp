// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() through and warn about it at -O3 (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cmath>

#include <c10/util/Exception.h>

#include "row_ops.h"

// The AVX-512 level: sixteen lanes, row tails under a lane mask (no scalar tail), the dropout draws eight at a time
// (64-bit products: AVX-512 DQ). Each function carries its target, so the file builds for the baseline x86-64.
#define SEQENC_AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl")))

namespace seqenc::detail {

namespace {

SEQENC_AVX512 inline __mmask16 first(int64_t count) {
  return count >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << count) - 1);
}

// exp(x) = 2^n e^r: n = round(x log2 e), r = x - n ln 2 with ln 2 in two parts (Cephes' exact reduction), e^r by a
// degree-5 polynomial fitted for the least relative error on [-ln 2 / 2, ln 2 / 2] (largest error over [-87.3, 0]
// in float: 1.9e-7, against 1.0e-7 for the AVX2 level's Cephes polynomial), 2^n by vscalefps. Five multiply-adds and no
// clamps: under FLT_MIN (x < -87.34, -inf included) the lane mask gives 0, and a NaN stays NaN.
SEQENC_AVX512 inline __m512 exp16(__m512 x) {
  const __mmask16 kept = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3365447f), _CMP_NLT_UQ);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 y = _mm512_set1_ps(8.290315046906471e-3f);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.189793020486832e-2f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.666763573884964e-1f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.999915063381195e-1f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(9.999997019767761e-1f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f));
  return _mm512_maskz_scalef_ps(kept, y, n);
}

SEQENC_AVX512 float max_avx512(const float* x, int64_t n) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  for (int64_t j = 0; j < n; j += 16)
    m = _mm512_mask_max_ps(m, first(n - j), m, _mm512_maskz_loadu_ps(first(n - j), x + j));
  return _mm512_reduce_max_ps(m);
}

// One loop per case, so that the forward (factor 1, no dropout) does no multiplication beyond the exponential.
template <bool kScaled, bool kDropout>
SEQENC_AVX512 float exp_loop(float* x, int64_t n, float shift, float factor, const float* keep) {
  const __m512 s = _mm512_set1_ps(shift), f = _mm512_set1_ps(factor);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 lanes = first(n - j);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, x + j), s));
    acc = _mm512_mask_add_ps(acc, lanes, acc, e);
    __m512 w = kScaled ? _mm512_mul_ps(e, f) : e;
    if (kDropout) w = _mm512_mul_ps(w, _mm512_maskz_loadu_ps(lanes, keep + j));
    _mm512_mask_storeu_ps(x + j, lanes, w);
  }
  return _mm512_reduce_add_ps(acc);
}

SEQENC_AVX512 float exp_avx512(float* x, int64_t n, float shift, float factor, const float* keep) {
  if (factor == 1.0f)
    return keep ? exp_loop<false, true>(x, n, shift, factor, keep) : exp_loop<false, false>(x, n, shift, factor, keep);
  return keep ? exp_loop<true, true>(x, n, shift, factor, keep) : exp_loop<true, false>(x, n, shift, factor, keep);
}

SEQENC_AVX512 void mul_avx512(const float* x, const float* keep, int64_t n, float* y) {
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 lanes = first(n - j);
    _mm512_mask_storeu_ps(y + j, lanes,
                          _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, x + j), _mm512_maskz_loadu_ps(lanes, keep + j)));
  }
}

SEQENC_AVX512 void softmax_grad_avx512(float* p, const float* dp, const float* keep, float dot, int64_t n) {
  const __m512 d = _mm512_set1_ps(dot);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 lanes = first(n - j);
    __m512 g = _mm512_maskz_loadu_ps(lanes, dp + j);
    if (keep) g = _mm512_mul_ps(g, _mm512_maskz_loadu_ps(lanes, keep + j));
    _mm512_mask_storeu_ps(p + j, lanes, _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, p + j), _mm512_sub_ps(g, d)));
  }
}

SEQENC_AVX512 void scale_avx512(float* x, int64_t n, float factor) {
  const __m512 f = _mm512_set1_ps(factor);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 lanes = first(n - j);
    _mm512_mask_storeu_ps(x + j, lanes, _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, x + j), f));
  }
}

// Eight SplitMix64 draws, for counters base + 0..7.
SEQENC_AVX512 inline __m512i draws8(uint64_t seed, uint64_t base) {
  const __m512i counter =
      _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(base + 1)), _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
  __m512i z =
      _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(seed)),
                       _mm512_mullo_epi64(counter, _mm512_set1_epi64(static_cast<long long>(0x9E3779B97F4A7C15ull))));
  z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)),
                         _mm512_set1_epi64(static_cast<long long>(0xBF58476D1CE4E5B9ull)));
  z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)),
                         _mm512_set1_epi64(static_cast<long long>(0x94D049BB133111EBull)));
  return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}

// 32 columns per eight draws, whose 16-bit lanes are, in memory order, the columns in order. Key tiles start at a
// multiple of 4 (fused_attention.cpp's tiling), so a tile's first column is a draw's first lane.
SEQENC_AVX512 void dropout_avx512(const DropoutDraws& draws, int64_t row, int64_t key0, int64_t n, float* keep) {
  TORCH_INTERNAL_ASSERT(key0 % 4 == 0, "dropout draws from a column that is not a multiple of 4");
  const uint64_t base = static_cast<uint64_t>(row) * draws.groups_per_row + static_cast<uint64_t>(key0 / 4);
  const __m512i threshold = _mm512_set1_epi16(static_cast<short>(draws.threshold));
  const __m512 scale = _mm512_set1_ps(static_cast<float>(draws.scale));
  // A threshold of 65536 (p rounding to 1) wraps to 0 here and keeps every lane, but then the scale is 0.
  for (int64_t c = 0; c < n; c += 32) {
    const __mmask32 kept = _mm512_cmpge_epu16_mask(draws8(draws.seed, base + static_cast<uint64_t>(c / 4)), threshold);
    _mm512_mask_storeu_ps(keep + c, first(n - c), _mm512_maskz_mov_ps(static_cast<__mmask16>(kept), scale));
    if (n - c > 16) {
      _mm512_mask_storeu_ps(keep + c + 16, first(n - c - 16),
                            _mm512_maskz_mov_ps(static_cast<__mmask16>(kept >> 16), scale));
    }
  }
}

// Round to nearest even on the bits, as the scalar code does; a NaN becomes the quiet NaN 0x7FC0.
SEQENC_AVX512 void round_bf16_avx512(const float* x, int64_t n, uint16_t* y) {
  const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7FFF);
  const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF), inf = _mm512_set1_epi32(0x7F800000);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 lanes = first(n - j);
    const __m512i u = _mm512_maskz_loadu_epi32(lanes, x + j);
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), one);
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, bias), odd), 16);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs_mask), inf);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7FC0));
    _mm512_mask_cvtepi32_storeu_epi16(y + j, lanes, r);
  }
}

}  // namespace

const RowOps<float>& avx512_row_ops() {
  static const RowOps<float> table{max_avx512,   exp_avx512,     mul_avx512,       softmax_grad_avx512,
                                   scale_avx512, dropout_avx512, round_bf16_avx512};
  return table;
}

}  // namespace seqenc::detail
