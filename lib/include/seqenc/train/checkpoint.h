// Checkpoints hold everything needed to continue a run; they are written to a
// temporary file and renamed, so a kill at any moment leaves the previous one.
#pragma once
#include <string>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include "seqenc/error.h"

namespace seqenc {

// Where training stands, beside the model and optimizer state.
struct TrainingState {
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t batch_in_epoch = 0;  // position in the epoch's batch order
  double best_metric = -1;     // best validation accuracy so far
  int64_t best_step = -1;
  int64_t evals_without_improvement = 0;
  double elapsed_s = 0;  // training time before this process
  int64_t tokens_seen = 0;
  double window_loss = 0;  // training loss summed since the last log line
  int64_t window_steps = 0;
  // Data parallelism: batch_in_epoch counts global batches of global_batch_size examples (train.batch_size x
  // world_size); a run resumed with another global batch converts its position. 0: as the resuming run's.
  int64_t world_size = 1;
  int64_t global_batch_size = 0;
  // Each rank's dropout generator (LibTorch's default CPU generator), rank r's state in row r: a resume with the
  // same world size restores every rank's, so that it continues exactly. Undefined in older checkpoints.
  torch::Tensor rank_generators;
};

// optimizer may be null (a model-only checkpoint, as the best one is). model_keys: the "key: value" lines of the
// configuration keys that shape the model (config.h's model_keys_text), kept so that a load onto a model of
// another shape can name the key that differs.
void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const TrainingState& state, const std::string& model_keys = "");
// Throws CheckpointError naming the file when it is missing, damaged or not a seqenc checkpoint, and when its
// tensors do not fit the model: naming the keys that differ from model_keys where both are known ("model.num_layers:
// 2 in the checkpoint, 3 now"), else the first tensor that differs.
TrainingState load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                              const std::string& model_keys = "");

}  // namespace seqenc
