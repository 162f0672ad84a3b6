// y = x W^T + b, the computation of torch::nn::Linear, with the products on
// oneDNN's sgemm for float CPU tensors (forward and backward) and torch::linear
// otherwise. Modules keep their torch::nn::Linear (parameter names, options,
// export) and call linear(module, x) instead of module(x).
#pragma once
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

namespace seqenc {

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);
inline torch::Tensor linear(const torch::nn::Linear& module, const torch::Tensor& x) {
  return linear(x, module->weight, module->bias);
}

}  // namespace seqenc
