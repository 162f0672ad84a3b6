// The optimizer train.optimizer names, and the learning rate train.schedule gives each step.
#pragma once
#include <memory>
#include <vector>

#include <torch/optim/optimizer.h>

#include "seqenc/train/train_options.h"

namespace seqenc {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainOptions& options,
                                                        const std::vector<torch::Tensor>& parameters);

// The learning rate at step (0-based) of a run of total_steps.
double scheduled_lr(const TrainOptions& options, int64_t step, int64_t total_steps);

}  // namespace seqenc
