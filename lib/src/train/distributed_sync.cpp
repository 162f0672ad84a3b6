#include <fmt/format.h>
#include <torch/torch.h>

#include "seqenc/nn/heads.h"
#include "seqenc/train/sync.h"

namespace seqenc {

namespace {

// Which stop wins when ranks disagree: a stop request over early stopping over a test's stop_after_step.
int urgency(std::optional<StopReason> reason) {
  if (!reason) return 0;
  switch (*reason) {
    case StopReason::stopped:
      return 1;
    case StopReason::early_stopping:
      return 2;
    case StopReason::interrupted:
      return 3;
    default:
      return 0;
  }
}

std::optional<StopReason> reason_of(int64_t urgency_level) {
  for (auto reason : {StopReason::stopped, StopReason::early_stopping, StopReason::interrupted}) {
    if (urgency(reason) == urgency_level) return reason;
  }
  return std::nullopt;
}

class DistributedSync : public RankSync {
 public:
  explicit DistributedSync(std::shared_ptr<ProcessGroup> group) : group_(std::move(group)) {}

  int rank() const override { return group_->rank(); }
  int world_size() const override { return group_->world_size(); }
  void check_same(const std::string& text, const std::string& what) override { group_->check_same(text, what); }
  bool decides_alone() const override { return false; }
  CommStats stats() const override { return group_->stats(); }
  torch::Tensor generator_states() override {
    return group_->allgather(dropout_generator_state(), "the gathering of dropout generators for a checkpoint");
  }

  // Every rank starts from rank 0's parameters (then dropout draws differ between ranks), and with
  // train.dist_overlap reduces gradients through a Reducer hooked to them.
  std::string join(SequenceModelImpl& model, const TrainOptions& t, const TrainingState& state) override {
    auto tensors = model.parameters();
    for (const auto& b : model.buffers()) tensors.push_back(b);
    group_->broadcast(tensors);
    if (state.rank_generators.defined() && state.rank_generators.size(0) == world_size()) {
      set_dropout_generator_state(state.rank_generators[rank()]);  // where this rank's draws stood
    } else {
      torch::manual_seed(t.seed + 1000003ull * static_cast<uint64_t>(rank()) + static_cast<uint64_t>(state.step));
    }
    bucket_bytes_ = static_cast<int64_t>(t.dist_bucket_mb * (1 << 20));
    parameters_ = model.parameters();
    if (t.dist_overlap) reducer_ = std::make_unique<GradientReducer>(*group_, parameters_, bucket_bytes_);
    return reducer_
               ? fmt::format("during backward, {} bucket(s) of <= {} MB", reducer_->num_buckets(), t.dist_bucket_mb)
               : std::string("after backward (train.dist_overlap: false)");
  }

  double backward(const torch::Tensor& loss, bool last, double loss_sum) override {
    auto scalars = torch::tensor({loss_sum}, torch::kFloat64);
    if (reducer_) {
      reducer_->backward(loss, last, last ? scalars : torch::Tensor());
    } else {
      loss.backward();
      if (!last) return loss_sum;
      std::vector<torch::Tensor> tensors;
      for (auto& p : parameters_) {
        if (p.grad().defined()) tensors.push_back(p.grad());
      }
      tensors.push_back(scalars);
      group_->allreduce_sum(tensors, bucket_bytes_);
    }
    return last ? scalars.item<double>() : loss_sum;
  }

  void share(ValidationRecord& r) override {
    auto packed = torch::tensor({r.best_metric, static_cast<double>(r.best_step),
                                 static_cast<double>(r.evals_without_improvement), r.loss, r.accuracy},
                                torch::kFloat64);
    group_->broadcast({packed});
    r.best_metric = packed[0].item<double>();
    r.best_step = packed[1].item<int64_t>();
    r.evals_without_improvement = packed[2].item<int64_t>();
    r.loss = packed[3].item<double>();
    r.accuracy = packed[4].item<double>();
  }

  void share(std::vector<int64_t>& values) override {
    auto packed = torch::tensor(values, torch::kLong);
    group_->broadcast({packed});
    for (size_t i = 0; i < values.size(); ++i) values[i] = packed[static_cast<int64_t>(i)].item<int64_t>();
  }

  std::optional<StopReason> agree(std::optional<StopReason> mine, std::string& cause) override {
    const auto agreed = reason_of(group_->allreduce_max(urgency(mine)));
    if (agreed == StopReason::interrupted && cause.empty()) cause = "a stop request to another rank";
    return agreed;
  }

  std::optional<DistributedSummary> summary(int64_t steps, double session_s) const override {
    DistributedSummary s;
    s.comm = group_->stats();
    steps = std::max<int64_t>(1, steps);
    s.allreduce_bytes_per_step = s.comm.bytes / steps;
    s.comm_share = s.comm.seconds / std::max(1e-9, session_s);
    s.overlap = reducer_ != nullptr;
    s.grad_buckets = reducer_ ? static_cast<int64_t>(reducer_->num_buckets())
                              : static_cast<int64_t>(bucket_tensors(parameters_, bucket_bytes_).size());
    s.exposed_comm_ms_per_step = 1000 * s.comm.exposed_s / static_cast<double>(steps);
    return s;
  }

 private:
  std::shared_ptr<ProcessGroup> group_;
  std::unique_ptr<GradientReducer> reducer_;
  std::vector<torch::Tensor> parameters_;
  int64_t bucket_bytes_ = ProcessGroup::kBucketBytes;
};

}  // namespace

std::unique_ptr<RankSync> distributed_sync(std::shared_ptr<ProcessGroup> group) {
  return std::make_unique<DistributedSync>(std::move(group));
}

}  // namespace seqenc
