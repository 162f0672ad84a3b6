// Mixed precision. Inside a PrecisionScope(Precision::bf16) the forward pass
// multiplies in bf16 with fp32 accumulation: seqenc's linears and fused
// attention through oneDNN's bf16 gemm (results in fp32), LibTorch's own
// products (convolutions, the reference attention's bmm) through its CPU
// autocast. Parameters, gradients, optimizer state, softmax, LayerNorm and the
// loss stay fp32, so checkpoints are the same in either precision.
#pragma once
#include <string>

#include <c10/core/ScalarType.h>

#include "seqenc/choices.h"

namespace seqenc {

enum class Precision { fp32, bf16 };
SEQENC_CHOICES(Precision, {Precision::fp32, "fp32"}, {Precision::bf16, "bf16"});

// Turns CPU autocast on (bf16) for this thread until destroyed; fp32 leaves everything as it is.
class PrecisionScope {
 public:
  explicit PrecisionScope(Precision precision);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  bool active_ = false, was_enabled_ = false;
  c10::ScalarType was_dtype_ = c10::ScalarType::BFloat16;
};

// True inside a bf16 scope on this thread (or any CPU autocast to bf16): seqenc's kernels then multiply in bf16.
bool bf16_products();

// What bf16 buys on this CPU, probed once per process: its instructions and a measured 512^3 product each way.
struct Bf16Support {
  bool runs = false;  // oneDNN's bf16 gemm runs here
  bool avx512_bf16 = false, amx_bf16 = false;
  double bf16_gflops = 0, fp32_gflops = 0;
  std::string error;  // why it does not run
  bool faster() const { return runs && bf16_gflops > fp32_gflops; }
  // One line for logs and bench: the instructions, both rates, and what that means for training speed.
  std::string summary() const;
};
const Bf16Support& bf16_support();

}  // namespace seqenc
