// What one optimizer step trains on: this rank's share of the global batch, cut into micro-batches.
#pragma once
#include <string>
#include <vector>

#include "seqenc/data/batching.h"
#include "seqenc/train/checkpoint.h"

namespace seqenc {

// This rank's share of the global batch (train.batch_size x world size x train.accumulate_steps examples of the
// seeded order) as train.accumulate_steps micro-batches.
struct StepData {
  std::vector<Batch> micro_batches;
  // Each micro-batch's labels over the global batch's, the weight of its mean loss: the weighted losses of all
  // micro-batches and ranks sum to the global batch's mean over its labels. 0 for an empty share (which carries
  // the batch's first example, so that every rank runs the same computation).
  std::vector<double> weights;
  int64_t global_tokens = 0;  // of the global batch, all ranks together
};

// Rank `rank` of `world_size`'s contiguous share of the global batch `global` (example indices).
StepData step_data(const Batcher& batcher, const std::vector<int64_t>& global, int rank, int world_size,
                   int64_t accumulate_steps);

// A checkpoint's place in its epoch, in global batches of this run: the same examples seen when the global batch
// (train.batch_size x world size) changed, rounded down to a whole batch. "" when nothing changed, else a line
// saying what moved.
std::string convert_position(TrainingState& state, int64_t global_batch, int64_t batches_per_epoch);

}  // namespace seqenc
