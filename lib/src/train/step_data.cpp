#include "seqenc/train/step_data.h"

#include <fmt/format.h>
#include <torch/torch.h>

namespace seqenc {

namespace {
// Items [size*i/n, size*(i+1)/n) of v: the i-th of n near-equal contiguous shares.
std::vector<int64_t> share(const std::vector<int64_t>& v, int64_t i, int64_t n) {
  const auto size = static_cast<int64_t>(v.size());
  return std::vector<int64_t>(v.begin() + size * i / n, v.begin() + size * (i + 1) / n);
}

int64_t count_labels(const Batch& batch) { return batch.labels.ne(kIgnoreLabel).sum().item<int64_t>(); }
}  // namespace

StepData step_data(const Batcher& batcher, const std::vector<int64_t>& global, int rank, int world_size,
                   int64_t accumulate) {
  StepData step;
  const auto whole = batcher.collate(global);
  step.global_tokens = whole.num_tokens;
  if (world_size == 1 && accumulate == 1) {
    step.micro_batches = {whole};
    step.weights = {1.0};
    return step;
  }
  const auto total = static_cast<double>(count_labels(whole));
  const auto mine = share(global, rank, world_size);
  for (int64_t a = 0; a < accumulate; ++a) {
    const auto ids = share(mine, a, accumulate);
    step.micro_batches.push_back(batcher.collate(ids.empty() ? std::vector<int64_t>{global.front()} : ids));
    const auto labels = ids.empty() ? 0 : count_labels(step.micro_batches.back());
    step.weights.push_back(total > 0 ? static_cast<double>(labels) / total : 0.0);
  }
  return step;
}

std::string convert_position(TrainingState& s, int64_t global_batch, int64_t batches_per_epoch) {
  if (s.global_batch_size <= 0 || s.global_batch_size == global_batch) return "";
  const int64_t examples = s.batch_in_epoch * s.global_batch_size;
  s.batch_in_epoch = examples / global_batch;
  if (s.batch_in_epoch >= batches_per_epoch) {
    s.batch_in_epoch = 0;
    ++s.epoch;
  }
  return fmt::format(
      "the checkpoint's global batch was {} examples ({} rank(s)), this run's is {}: {} examples into epoch {} is "
      "global batch {} now{}",
      s.global_batch_size, s.world_size, global_batch, examples, s.epoch, s.batch_in_epoch,
      examples % global_batch == 0 ? "" : " (rounded down)");
}

}  // namespace seqenc
