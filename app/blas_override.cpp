// The seqenc program answers LibTorch's own float matrix products with oneDNN.
//
// LibTorch calls the Fortran BLAS sgemm_ (libblas.so.3) for the products it
// computes itself: the GRU/LSTM cells, convolutions' unfolded products, bmm.
// The OpenBLAS behind it here runs a generic SSE3 kernel (~50-64 GFLOP/s on
// 2 cores) where oneDNN's sgemm runs ~270-320 (docs/performance.md). An
// executable's exported symbols come first in the dynamic linker's global
// lookup, so this definition serves those calls; anything oneDNN refuses goes
// on to the next sgemm_ (libblas.so.3). The library itself does not do this:
// interposing BLAS is a decision for a program, not for whoever links seqenc.
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>

#include <atomic>
#include <cctype>

#include "blas_override.h"

namespace {

// train.blas: libtorch hands LibTorch's own products back to its BLAS (nn/autotune.h measures which is faster).
std::atomic<bool> g_answer_with_onednn{true};

using SgemmFn = void (*)(const char*, const char*, const int*, const int*, const int*, const float*, const float*,
                         const int*, const float*, const int*, const float*, float*, const int*);

char row_major_trans(char fortran) {
  const char t = static_cast<char>(std::toupper(static_cast<unsigned char>(fortran)));
  return t == 'N' ? 'N' : 'T';  // 'C' is 'T' for real matrices
}

}  // namespace

extern "C" void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                       const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
                       const float* beta, float* c, const int* ldc) {
  if (*m == 0 || *n == 0) return;
  // Column-major C (m x n) = op(A) op(B) is row-major C^T (n x m) = op(B)^T op(A)^T.
  if (*k > 0 && g_answer_with_onednn.load(std::memory_order_relaxed) &&
      dnnl_sgemm(row_major_trans(*transb), row_major_trans(*transa), *n, *m, *k, *alpha, b, *ldb, a, *lda, *beta, c,
                 *ldc) == dnnl_success) {
    return;
  }
  static const auto next = reinterpret_cast<SgemmFn>(dlsym(RTLD_NEXT, "sgemm_"));
  next(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void seqenc::app::answer_blas_with_onednn(bool on) { g_answer_with_onednn.store(on); }
