// What differs between a run in one process and a rank of a data-parallel run, behind one interface: the Trainer
// asks, a LocalSync answers alone and a DistributedSync agrees with the other ranks over c10d. Only this layer
// knows whether there is a process group.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "seqenc/train/checkpoint.h"
#include "seqenc/train/distributed.h"
#include "seqenc/train/outcome.h"
#include "seqenc/train/train_options.h"

namespace seqenc {

class SequenceModelImpl;

// This process's place in a run. Rank 0 alone writes the run directory (config, metrics, checkpoints, results,
// train.log). Ranks of a data-parallel run share a ProcessGroup: each trains on its shard of every global batch
// (train.batch_size x world_size x train.accumulate_steps) and gradients are summed.
struct Rank {
  int rank = 0;
  int world_size = 1;
  std::shared_ptr<ProcessGroup> group;  // set when world_size > 1
  bool writes() const { return rank == 0; }
  static Rank of(std::shared_ptr<ProcessGroup> group);  // this process's place in group (one process if null)
};

// The validation record every rank keeps: rank 0's, so that all agree on the best step and on early stopping.
struct ValidationRecord {
  double best_metric = -1;
  int64_t best_step = -1;
  int64_t evals_without_improvement = 0;
  double loss = 0, accuracy = 0;  // of this validation
};

// The default CPU generator's state (what dropout draws from), and setting it, each under the generator's lock.
torch::Tensor dropout_generator_state();
void set_dropout_generator_state(const torch::Tensor& state);

class RankSync {
 public:
  virtual ~RankSync() = default;
  virtual int rank() const { return 0; }
  virtual int world_size() const { return 1; }
  bool writes() const { return rank() == 0; }
  // ConfigError on every rank unless all pass the same text (what names it in the message).
  virtual void check_same(const std::string& /*text*/, const std::string& /*what*/) {}
  // Once the model is built (and resumed from `state`): every rank starts from rank 0's parameters and buffers,
  // draws its own dropout (restored from state.rank_generators when the checkpoint's world size is this run's,
  // else seeded by rank and step), and reduces gradients as options say. Returns a line for the log ("" for one
  // process).
  virtual std::string join(SequenceModelImpl& /*model*/, const TrainOptions& /*options*/,
                           const TrainingState& /*state*/) {
    return "";
  }
  // Every rank's dropout generator state, rank r's in row r (for the checkpoint; a collective).
  virtual torch::Tensor generator_states() { return dropout_generator_state().unsqueeze(0); }
  // loss.backward() of one micro-batch. The last of a step sums gradients over ranks; returns the global loss
  // (loss_sum, this rank's weighted micro-batch losses, summed over ranks) when `last`, else loss_sum.
  virtual double backward(const torch::Tensor& loss, bool last, double loss_sum) = 0;
  // Whether a non-finite micro-batch loss may end the step at once: ranks must wait for the global loss.
  virtual bool decides_alone() const { return true; }
  // Rank 0's record, on every rank.
  virtual void share(ValidationRecord& /*record*/) {}
  // Rank 0's values, on every rank (e.g. the kernels it chose).
  virtual void share(std::vector<int64_t>& /*values*/) {}
  // The stop every rank takes: the most urgent of the ranks' reasons (a signal may reach ranks at different
  // steps). cause names a stop request another rank received.
  virtual std::optional<StopReason> agree(std::optional<StopReason> mine, std::string& /*cause*/) { return mine; }
  // For result.json: what communication cost (nothing for one process).
  virtual std::optional<DistributedSummary> summary(int64_t /*steps*/, double /*session_s*/) const {
    return std::nullopt;
  }
  virtual CommStats stats() const { return {}; }
};

// One process: nothing to agree on.
class LocalSync : public RankSync {
 public:
  double backward(const torch::Tensor& loss, bool last, double loss_sum) override;
};

// A rank of a data-parallel run over c10d (train/distributed_sync.cpp).
std::unique_ptr<RankSync> distributed_sync(std::shared_ptr<ProcessGroup> group);

// A LocalSync for a one-process rank, else a DistributedSync over rank.group.
std::unique_ptr<RankSync> make_sync(const Rank& rank);

}  // namespace seqenc
