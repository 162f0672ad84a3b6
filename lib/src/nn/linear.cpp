#include "seqenc/nn/linear.h"

#include <torch/autograd.h>
#include <torch/torch.h>

#include "gemm.h"
#include "seqenc/nn/matmul_route.h"
#include "seqenc/nn/precision.h"

namespace seqenc {

namespace {

// c = op(a) op(b) + beta c for row-major float or bf16 a and b, float c.
void product(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const torch::Tensor& a,
             const torch::Tensor& b, float beta, torch::Tensor& c) {
  const int64_t lda = a.size(1), ldb = b.size(1), ldc = c.size(1);
  if (a.scalar_type() == torch::kBFloat16) {
    detail::gemm(trans_a, trans_b, m, n, k, 1.0f, a.data_ptr<c10::BFloat16>(), lda, b.data_ptr<c10::BFloat16>(), ldb,
                 beta, c.data_ptr<float>(), ldc);
  } else {
    detail::gemm(trans_a, trans_b, m, n, k, 1.0f, a.data_ptr<float>(), lda, b.data_ptr<float>(), ldb, beta,
                 c.data_ptr<float>(), ldc);
  }
}

class LinearFunction : public torch::autograd::Function<LinearFunction> {
 public:
  // x2 (M, K), weight (N, K), bias (N,) or empty (none; LibTorch 1.13's Function takes no undefined input) -> (M, N).
  // bf16: both factors rounded to bf16, the product accumulated and returned in fp32; the bf16 copies are what the
  // backward keeps (half the memory of the fp32 inputs).
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x2,
                               const torch::Tensor& weight, const torch::Tensor& bias, bool bf16) {
    const int64_t M = x2.size(0), K = x2.size(1), N = weight.size(0);
    const bool has_bias = bias.numel() > 0;
    // A fresh output: for M = 1, bias.expand({1, N}).contiguous() would be the bias itself, and beta = 1 would
    // write the product into the parameter.
    auto y = torch::empty({M, N}, weight.options());
    if (has_bias) y.copy_(bias.expand({M, N}));
    const auto a = bf16 ? x2.to(torch::kBFloat16) : x2, w = bf16 ? weight.to(torch::kBFloat16) : weight;
    product(false, true, M, N, K, a, w, has_bias ? 1.0f : 0.0f, y);
    ctx->save_for_backward({a, w});
    ctx->saved_data["bias"] = has_bias;
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    TORCH_CHECK(!torch::GradMode::is_enabled(), "seqenc::linear has no double backward");
    const auto saved = ctx->get_saved_variables();
    const auto &x2 = saved[0], &weight = saved[1];  // bf16 when the forward ran in bf16
    const int64_t M = x2.size(0), K = x2.size(1), N = weight.size(0);
    auto dy = grads[0].contiguous();
    auto dx = torch::empty({M, K}, dy.options()), dw = torch::empty({N, K}, dy.options());
    if (M == 0) dw.zero_();
    const auto g = dy.to(x2.scalar_type());
    product(false, false, M, K, N, g, weight, 0.0f, dx);
    product(true, false, N, K, M, g, x2, 0.0f, dw);
    auto db = ctx->saved_data["bias"].toBool() ? dy.sum(0) : torch::Tensor();
    return {dx, dw, db, torch::Tensor()};
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
  if (!takes(x, weight, bias) || matmul_route() == MatmulRoute::libtorch) return torch::linear(x, weight, bias);
  auto shape = x.sizes().vec();
  shape.back() = weight.size(0);
  auto y = LinearFunction::apply(x.reshape({-1, x.size(-1)}).contiguous(), weight,
                                 bias.defined() ? bias : torch::empty({0}, weight.options()), bf16_products());
  return y.view(shape);
}

}  // namespace seqenc
