#include "seqenc/train/sync.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <mutex>

namespace seqenc {

Rank Rank::of(std::shared_ptr<ProcessGroup> group) {
  if (!group) return {};
  return Rank{group->rank(), group->world_size(), std::move(group)};
}

torch::Tensor dropout_generator_state() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void set_dropout_generator_state(const torch::Tensor& state) {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  // A copy of its own: a rank's row of the checkpoint's table is a view at an offset, which LibTorch 2.x's
  // CPUGeneratorImpl::set_state does not expect (rank 1 crashed resuming on 2.x).
  generator.set_state(state.clone(at::MemoryFormat::Contiguous));
}

double LocalSync::backward(const torch::Tensor& loss, bool, double loss_sum) {
  loss.backward();
  return loss_sum;
}

std::unique_ptr<RankSync> make_sync(const Rank& rank) {
  if (rank.world_size > 1 && !rank.group) throw std::logic_error("Trainer: a world size > 1 needs a ProcessGroup");
  if (!rank.group) return std::make_unique<LocalSync>();
  return distributed_sync(rank.group);
}

}  // namespace seqenc
