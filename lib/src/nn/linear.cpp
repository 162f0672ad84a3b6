#include "seqenc/nn/linear.h"

#include <torch/autograd.h>
#include <torch/torch.h>

#include "gemm.h"

namespace seqenc {

namespace {

class LinearFunction : public torch::autograd::Function<LinearFunction> {
 public:
  // x2 (M, K), weight (N, K), bias (N,) or empty (none; LibTorch 1.13's Function takes no undefined input) -> (M, N).
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x2,
                               const torch::Tensor& weight, const torch::Tensor& bias) {
    const int64_t M = x2.size(0), K = x2.size(1), N = weight.size(0);
    const bool has_bias = bias.numel() > 0;
    // A fresh output: for M = 1, bias.expand({1, N}).contiguous() would be the bias itself, and beta = 1 would
    // write the product into the parameter.
    auto y = torch::empty({M, N}, x2.options());
    if (has_bias) y.copy_(bias.expand({M, N}));
    detail::gemm(false, true, M, N, K, 1.0f, x2.data_ptr<float>(), K, weight.data_ptr<float>(), K,
                 has_bias ? 1.0f : 0.0f, y.data_ptr<float>(), N);
    ctx->save_for_backward({x2, weight});
    ctx->saved_data["bias"] = has_bias;
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    TORCH_CHECK(!torch::GradMode::is_enabled(), "seqenc::linear has no double backward");
    const auto saved = ctx->get_saved_variables();
    const auto &x2 = saved[0], &weight = saved[1];
    const int64_t M = x2.size(0), K = x2.size(1), N = weight.size(0);
    auto dy = grads[0].contiguous();
    auto dx = torch::empty({M, K}, x2.options()), dw = torch::empty({N, K}, weight.options());
    if (M == 0) dw.zero_();
    detail::gemm(false, false, M, K, N, 1.0f, dy.data_ptr<float>(), N, weight.data_ptr<float>(), K, 0.0f,
                 dx.data_ptr<float>(), K);
    detail::gemm(true, false, N, K, M, 1.0f, dy.data_ptr<float>(), N, x2.data_ptr<float>(), K, 0.0f,
                 dw.data_ptr<float>(), K);
    auto db = ctx->saved_data["bias"].toBool() ? dy.sum(0) : torch::Tensor();
    return {dx, dw, db};
  }
};

bool takes(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  auto plain_float = [](const torch::Tensor& t) { return t.is_cpu() && t.scalar_type() == torch::kFloat; };
  return plain_float(x) && plain_float(weight) && weight.is_contiguous() &&
         (!bias.defined() || (plain_float(bias) && bias.is_contiguous())) && x.dim() >= 1 &&
         x.size(-1) == weight.size(1);
}

}  // namespace

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (!takes(x, weight, bias)) return torch::linear(x, weight, bias);
  auto shape = x.sizes().vec();
  shape.back() = weight.size(0);
  auto y = LinearFunction::apply(x.reshape({-1, x.size(-1)}).contiguous(), weight,
                                 bias.defined() ? bias : torch::empty({0}, weight.options()));
  return y.view(shape);
}

}  // namespace seqenc
