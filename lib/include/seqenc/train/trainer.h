// Training: a Trainer owns the model, optimizer, training state and run
// directory of one run (as fairseq's Trainer and Marian's TrainingState /
// Scheduler split it), and train() is a short loop over it.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "seqenc/choices.h"
#include "seqenc/data/batching.h"
#include "seqenc/nn/heads.h"
#include "seqenc/train/checkpoint.h"
#include "seqenc/train/config.h"
#include "seqenc/train/distributed.h"
#include "seqenc/train/evaluate.h"

namespace seqenc {

enum class StopReason { completed, early_stopping, interrupted, non_finite_loss, stopped };
SEQENC_CHOICES(StopReason, {StopReason::completed, "completed"}, {StopReason::early_stopping, "early_stopping"},
               {StopReason::interrupted, "interrupted"}, {StopReason::non_finite_loss, "non_finite_loss"},
               {StopReason::stopped, "stopped"});

// How the caller steers a run. The library owns no process state: the program
// answers stop_requested from its signal handler and resets memory counters.
struct TrainControl {
  int64_t stop_after_step = -1;  // stop (as if killed after a checkpoint) at this step; tests use it
  bool quiet = false;            // no console output
  // Polled after every step: a non-empty answer (the cause, e.g. "Ctrl-C") stops the run after a checkpoint.
  std::function<std::string()> stop_requested;
  // Called as a run starts, so that the peak memory it reports is its own.
  std::function<void()> reset_peak_memory;
  // Called once everything is checked, before the run directory is first written (compare writes its own
  // config.yaml there); it may still refuse by throwing.
  std::function<void()> on_start;
};

// This process's place in a run. Rank 0 alone writes the run directory
// (config, metrics, checkpoints, results, train.log): the Trainer's RunDir is
// made a writer or not from this, the one place that decides. Every rank logs
// to its console, with its rank when there is more than one. Ranks of a
// data-parallel run share a ProcessGroup: each trains on its shard of every
// global batch (train.batch_size x world_size x train.accumulate_steps) and
// gradients are averaged.
struct Rank {
  int rank = 0;
  int world_size = 1;
  std::shared_ptr<ProcessGroup> group;  // set when world_size > 1
  bool writes() const { return rank == 0; }
  static Rank of(std::shared_ptr<ProcessGroup> group);  // this process's place in group (one process if null)
};

// What one optimizer step trains on here: this rank's share of the global batch (train.batch_size x world size x
// train.accumulate_steps examples of the seeded order) as train.accumulate_steps micro-batches.
struct StepData {
  std::vector<Batch> micro_batches;
  // Each micro-batch's labels over the global batch's, the weight of its mean loss: the weighted losses of all
  // micro-batches and ranks sum to the global batch's mean over its labels. 0 for an empty share (which carries
  // the batch's first example, so that every rank runs the same computation).
  std::vector<double> weights;
  int64_t global_tokens = 0;  // of the global batch, all ranks together
};

struct TrainOutcome {
  StopReason stop_reason = StopReason::completed;
  std::string run_dir;
  TrainingState state;
  double train_loss = 0;    // mean over the last logging window
  EvalResult valid, test;   // of the best checkpoint (completed and early-stopped runs)
  std::string group_name;   // what the task's groups measure ("distance"), empty if none
  double wall_s = 0;        // training time, evaluation excluded
  double tokens_per_s = 0;  // of the global batch, all ranks together
  double peak_rss_mb = 0;
  int world_size = 1;
  CommStats comm;  // this rank's collectives during the run
  int64_t parameters = 0;
  int64_t seq_len = 0;  // n at which cost is given: the task's longest sequence
  EncoderCost cost;
  bool finished() const { return stop_reason == StopReason::completed || stop_reason == StopReason::early_stopping; }
};

class Trainer {
 public:
  // Checks config, the run directory and the data, builds the model and
  // optimizer and (resume) restores checkpoint_last.pt, all before writing
  // anything; then locks the run directory (ConfigError if another process
  // has it) and writes config.yaml, vocab.txt and labels.txt.
  Trainer(const Config& config, const std::string& run_dir, bool resume, TrainControl control = {}, Rank rank = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  bool done() const;     // the step budget is spent
  StepData next_step();  // the global batch at the current position of the seeded order, this rank's share
  // Forward and backward of each micro-batch, then one update; returns the global batch's loss. A non-finite loss
  // changes no parameter.
  double train_step(const StepData& step);
  void log_step(double loss);  // progress, and the metrics line every train.log_every steps
  bool validation_due() const;
  EvalResult validate();  // writes the metrics line; saves the best (if improved) and last checkpoints
  void save_last();
  void save_best();
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

// Trains into run_dir (created if needed): config.yaml, train.log,
// metrics.jsonl, checkpoint_last.pt, checkpoint_best.pt, vocab.txt,
// labels.txt and result.json. resume continues from checkpoint_last.pt.
// Refuses (ConfigError) to start over a directory that already holds a run.
// With rank.group, one rank of a data-parallel run (every rank calls it with the same arguments).
TrainOutcome train(const Config& config, const std::string& run_dir, bool resume, const TrainControl& control = {},
                   const Rank& rank = {});

// A model for this configuration and task (vocabulary, classes, causality, max_len).
SequenceModel build_model(const Config& config, const TaskData& task);

// The learning rate at step (0-based) of a run of total_steps.
double scheduled_lr(const TrainOptions& options, int64_t step, int64_t total_steps);

torch::Device resolve_device(DeviceKind device);  // ConfigError if unavailable
// ConfigError if `precision` cannot run on `device` (bf16 on a GPU, or on a CPU where oneDNN's bf16 gemm fails).
void check_precision(Precision precision, const torch::Device& device);

// Peak resident memory of this process in MB (VmHWM).
double peak_rss_mb();

}  // namespace seqenc
