// Training: a Trainer owns the model, optimizer, training state and run directory of one run (as fairseq's
// Trainer and Marian's TrainingState / Scheduler split it) and tells what happens to its observers (train/events.h,
// train/sinks.h); train() is a short loop over it. What differs for a rank of a data-parallel run is behind
// RankSync (train/sync.h).
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "seqenc/nn/heads.h"
#include "seqenc/train/config.h"
#include "seqenc/train/device.h"
#include "seqenc/train/model_factory.h"
#include "seqenc/train/optimizer.h"
#include "seqenc/train/outcome.h"
#include "seqenc/train/step_data.h"
#include "seqenc/train/sync.h"

namespace seqenc {

class Trainer {
 public:
  // Checks config, the run directory and the data, builds the model and optimizer and (resume) restores
  // checkpoint_last.pt, all before writing anything; then locks the run directory (ConfigError if another
  // process has it) and writes config.yaml, vocab.txt and labels.txt.
  Trainer(const Config& config, const std::string& run_dir, bool resume, TrainControl control = {}, Rank rank = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  bool done() const;     // the step budget is spent
  StepData next_step();  // the global batch at the current position of the seeded order, this rank's share
  // Forward and backward of each micro-batch, then one update; returns the global batch's loss. A non-finite loss
  // changes no parameter.
  double train_step(const StepData& step);
  void log_step(double loss);  // progress, and a training window every train.log_every steps
  bool validation_due() const;
  EvalResult validate();  // validation, then the best (if improved) and last checkpoints
  // Why the run must stop before its next step (early stopping, a stop request, control.stop_after_step), if it must.
  std::optional<StopReason> stop_check();
  // Ends the run: a checkpoint for a stopped run, the final evaluation and result.json for a finished one.
  TrainOutcome finish(StopReason reason);

  SequenceModelImpl& model();
  const TrainingState& state() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Trains into run_dir (created if needed): config.yaml, train.log, metrics.jsonl, checkpoint_last.pt,
// checkpoint_best.pt, vocab.txt, labels.txt and result.json. resume continues from checkpoint_last.pt. Refuses
// (ConfigError) to start over a directory that already holds a run. With rank.group, one rank of a
// data-parallel run (every rank calls it with the same arguments).
TrainOutcome train(const Config& config, const std::string& run_dir, bool resume, const TrainControl& control = {},
                   const Rank& rank = {});

}  // namespace seqenc
