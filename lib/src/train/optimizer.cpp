#include "seqenc/train/optimizer.h"

#include <cmath>

#include <torch/optim.h>

namespace seqenc {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainOptions& t,
                                                        const std::vector<torch::Tensor>& params) {
  switch (t.optimizer) {
    case OptimizerKind::adamw:
      return std::make_unique<torch::optim::AdamW>(params,
                                                   torch::optim::AdamWOptions(t.lr).weight_decay(t.weight_decay));
    case OptimizerKind::sgd:
      return std::make_unique<torch::optim::SGD>(
          params, torch::optim::SGDOptions(t.lr).momentum(0.9).weight_decay(t.weight_decay));
    case OptimizerKind::adam:
      break;
  }
  return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(t.lr).weight_decay(t.weight_decay));
}

double scheduled_lr(const TrainOptions& t, int64_t step, int64_t total_steps) {
  const double s = static_cast<double>(step + 1), warmup = static_cast<double>(t.warmup);
  if (t.schedule == Schedule::warmup_inverse_sqrt) return t.lr * std::min(s / warmup, std::sqrt(warmup / s));
  if (t.warmup > 0 && s <= warmup) return t.lr * s / warmup;
  if (t.schedule == Schedule::cosine) {
    const double span = std::max(1.0, static_cast<double>(total_steps) - warmup);
    const double progress = std::min(1.0, (s - warmup) / span);
    return t.lr * 0.5 * (1 + std::cos(M_PI * progress));
  }
  return t.lr;
}

}  // namespace seqenc
