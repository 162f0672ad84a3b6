// Private to nn/: row-major matrix products C = alpha op(A) op(B) + beta C.
// float goes to oneDNN's sgemm: its JIT kernels run ~6x faster here than the
// OpenBLAS build LibTorch uses (docs/performance.md); double goes to
// CBLAS (only tests and gradient measurements use it); bf16 inputs go to
// oneDNN's bf16 gemm, which accumulates and writes fp32. Inside an OpenMP
// parallel region all run single-threaded.
#pragma once
#include <cstdint>

#include <c10/util/BFloat16.h>

namespace seqenc::detail {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const c10::BFloat16* a, int64_t lda,
          const c10::BFloat16* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace seqenc::detail
