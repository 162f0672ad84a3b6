#include "seqenc/nn/cross_entropy.h"

#include <cmath>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/torch.h>

#include "row_ops.h"

namespace seqenc {

namespace {

// Rows per task of at::parallel_for: a row of 1000 logits is about a microsecond of work.
constexpr int64_t kRowsPerTask = 16;

struct Rows {
  const detail::RowOps<float>* ops;  // at the CPU's best SIMD level
  const float* logits;
  const int64_t* labels;
  int64_t num_classes;
  int64_t ignore_index;
  double smoothing;
};

// Each row's softmax statistics, its max (shift) and sum of exp(x - shift), and its loss:
// (1 - smoothing) (lse - x[label]) + smoothing (lse - mean(x)), lse = shift + log(sum), computed from x - shift so
// that a row of huge logits keeps its precision; 0 for an ignored row.
void forward_rows(const Rows& r, int64_t begin, int64_t end, float* shift, float* sum, double* loss) {
  const auto& ops = *r.ops;
  std::vector<float> scratch(static_cast<size_t>(r.num_classes));
  const auto C = r.num_classes;
  for (int64_t i = begin; i < end; ++i) {
    const float* x = r.logits + i * C;
    const int64_t label = r.labels[i];
    shift[i] = 0;
    sum[i] = 1;
    loss[i] = 0;
    if (label == r.ignore_index) continue;
    shift[i] = ops.max(x, C);
    std::copy(x, x + C, scratch.begin());
    sum[i] = ops.exp(scratch.data(), C, shift[i], 1.0f, nullptr);
    const double log_sum = std::log(static_cast<double>(sum[i]));
    loss[i] = (1 - r.smoothing) * (log_sum + static_cast<double>(shift[i] - x[label]));
    if (r.smoothing > 0) {
      double below_max = 0;
      for (int64_t j = 0; j < C; ++j) below_max += static_cast<double>(shift[i] - x[j]);
      loss[i] += r.smoothing * (log_sum + below_max / static_cast<double>(C));
    }
  }
}

// grad[i] = scale (softmax(x_i) - (1 - smoothing) onehot(label_i) - smoothing / C); 0 for an ignored row.
void backward_rows(const Rows& r, const float* shift, const float* sum, float scale, int64_t begin, int64_t end,
                   float* grad) {
  const auto& ops = *r.ops;
  const auto C = r.num_classes;
  for (int64_t i = begin; i < end; ++i) {
    float* g = grad + i * C;
    const int64_t label = r.labels[i];
    if (label == r.ignore_index) {
      std::fill(g, g + C, 0.0f);
      continue;
    }
    std::copy(r.logits + i * C, r.logits + (i + 1) * C, g);
    ops.exp(g, C, shift[i], scale / sum[i], nullptr);
    g[label] -= static_cast<float>(1 - r.smoothing) * scale;
    if (r.smoothing > 0) {
      const auto uniform = static_cast<float>(r.smoothing / static_cast<double>(C)) * scale;
      for (int64_t j = 0; j < C; ++j) g[j] -= uniform;
    }
  }
}

const detail::RowOps<float>* best_row_ops() {
  return &detail::row_ops(detail::resolve_simd(KernelSimd::best), float{});
}

class CrossEntropyFunction : public torch::autograd::Function<CrossEntropyFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& logits,
                               const torch::Tensor& labels, int64_t ignore_index, double smoothing, int64_t counted) {
    const Rows rows{best_row_ops(), logits.data_ptr<float>(), labels.data_ptr<int64_t>(), logits.size(1), ignore_index,
                    smoothing};
    const auto N = logits.size(0);
    auto stats = torch::empty({2, N}, logits.options());  // each row's shift and sum
    float* shift = stats.data_ptr<float>();
    std::vector<double> loss(static_cast<size_t>(N));
    at::parallel_for(0, N, kRowsPerTask, [&](int64_t begin, int64_t end) {
      forward_rows(rows, begin, end, shift, shift + N, loss.data());
    });
    double total = 0;  // in row order: the same sum whatever the threads
    for (const double l : loss) total += l;
    ctx->save_for_backward({logits, labels, stats});
    ctx->saved_data["ignore_index"] = ignore_index;
    ctx->saved_data["smoothing"] = smoothing;
    ctx->saved_data["counted"] = counted;
    return torch::tensor(static_cast<float>(total / static_cast<double>(counted)), logits.options());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& logits = saved[0];
    const Rows rows{best_row_ops(),
                    logits.data_ptr<float>(),
                    saved[1].data_ptr<int64_t>(),
                    logits.size(1),
                    ctx->saved_data["ignore_index"].toInt(),
                    ctx->saved_data["smoothing"].toDouble()};
    const auto scale = grad_outputs[0].item<float>() / static_cast<float>(ctx->saved_data["counted"].toInt());
    auto grad = torch::empty_like(logits);
    const float* shift = saved[2].data_ptr<float>();
    const auto N = logits.size(0);
    at::parallel_for(0, N, kRowsPerTask, [&](int64_t begin, int64_t end) {
      backward_rows(rows, shift, shift + N, scale, begin, end, grad.data_ptr<float>());
    });
    return {grad, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, int64_t ignore_index,
                            double label_smoothing) {
  namespace F = torch::nn::functional;
  const auto libtorch = [&] {
    return F::cross_entropy(logits, labels,
                            F::CrossEntropyFuncOptions().ignore_index(ignore_index).label_smoothing(label_smoothing));
  };
  const bool fused = logits.is_cpu() && logits.scalar_type() == torch::kFloat && logits.dim() == 2 &&
                     logits.size(1) > 0 && labels.is_cpu() && labels.scalar_type() == torch::kLong &&
                     labels.dim() == 1 && labels.size(0) == logits.size(0);
  if (!fused) return libtorch();
  const auto flat = labels.contiguous();
  const int64_t* label = flat.data_ptr<int64_t>();
  int64_t counted = 0;
  bool in_range = true;
  for (int64_t i = 0; i < flat.size(0); ++i) {
    if (label[i] == ignore_index) continue;
    ++counted;
    in_range = in_range && label[i] >= 0 && label[i] < logits.size(1);
  }
  // No row to learn from (LibTorch's answer is 0 / 0), or a label out of range (LibTorch's error): LibTorch's.
  if (counted == 0 || !in_range) return libtorch();
  return CrossEntropyFunction::apply(logits.contiguous(), flat, ignore_index, label_smoothing, counted);
}

}  // namespace seqenc
