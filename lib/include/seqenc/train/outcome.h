// How a run is steered from outside (TrainControl) and how it ended (TrainOutcome).
#pragma once
#include <functional>
#include <optional>
#include <string>

#include "seqenc/choices.h"
#include "seqenc/nn/autotune.h"
#include "seqenc/nn/encoder.h"
#include "seqenc/train/checkpoint.h"
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
  // How auto kernel choices are made (nn/autotune.h): the program measures and caches; by default, fixed.
  TuningContext tuning;
  // Elastic restarts of the workers before this attempt (the launcher's count), for train.log and result.json.
  int restarts = 0;
};

// What data parallelism cost a run (result.json reports it for runs of several ranks).
struct DistributedSummary {
  CommStats comm;  // this rank's collectives during the run
  int64_t allreduce_bytes_per_step = 0;
  double comm_share = 0;  // of this session's training time
  bool overlap = false;   // gradients reduced during backward
  int64_t grad_buckets = 0;
  double exposed_comm_ms_per_step = 0;
};

struct TrainOutcome {
  StopReason stop_reason = StopReason::completed;
  std::string run_dir;
  TrainingState state;
  double train_loss = 0;    // mean over the last logging window
  EvalResult valid, test;   // of the best checkpoint (completed and early-stopped runs, on the writing rank)
  bool evaluated = false;   // valid and test hold the final evaluation
  std::string group_name;   // what the task's groups measure ("distance"), empty if none
  double wall_s = 0;        // training time, evaluation excluded
  double tokens_per_s = 0;  // of the global batch, all ranks together
  double peak_rss_mb = 0;
  int world_size = 1;
  int64_t global_batch_size = 0;
  int restarts = 0;  // elastic restarts of the workers during the run
  CommStats comm;    // this rank's collectives during the run
  std::optional<DistributedSummary> distributed;
  int64_t parameters = 0;
  int64_t seq_len = 0;  // n at which cost is given: the task's longest sequence
  EncoderCost cost;
  KernelPlan kernels;  // what computed the run
  bool finished() const { return stop_reason == StopReason::completed || stop_reason == StopReason::early_stopping; }
};

}  // namespace seqenc
