// Where seqenc's linear layers (nn/linear.h) send their products: oneDNN's sgemm directly, or LibTorch's own
// torch::linear (MKL in the 2.x wheel, OpenBLAS in Debian's 1.13). Which is faster depends on the CPU, so it is
// chosen by measurement (nn/autotune.h) unless train.matmul forces one. Set per thread for a scope, as
// PrecisionScope sets the precision; a linear's backward follows what its forward chose.
#pragma once
#include "seqenc/choices.h"

namespace seqenc {

enum class MatmulRoute { automatic, onednn, libtorch };
SEQENC_CHOICES(MatmulRoute, {MatmulRoute::automatic, "auto"}, {MatmulRoute::onednn, "onednn"},
               {MatmulRoute::libtorch, "libtorch"});

// LibTorch's own products (convolutions, GRU cells, the reference attention's bmm) call the BLAS sgemm_; the
// seqenc program can answer those calls with oneDNN (app/blas_override.cpp). train.blas says whether it should.
enum class BlasChoice { automatic, onednn, libtorch };
SEQENC_CHOICES(BlasChoice, {BlasChoice::automatic, "auto"}, {BlasChoice::onednn, "onednn"},
               {BlasChoice::libtorch, "libtorch"});

class MatmulScope {
 public:
  explicit MatmulScope(MatmulRoute route);  // automatic leaves the current route
  ~MatmulScope();
  MatmulScope(const MatmulScope&) = delete;
  MatmulScope& operator=(const MatmulScope&) = delete;

 private:
  MatmulRoute previous_;
};

// This thread's route: oneDNN unless a scope says LibTorch.
MatmulRoute matmul_route();

}  // namespace seqenc
