// The training loop: run directories, metrics, checkpoints, resume, signals.
#pragma once
#include <map>
#include <string>

#include "seqenc/checkpoint.h"
#include "seqenc/config.h"
#include "seqenc/heads.h"

namespace seqenc {

struct EvalResult {
  double loss = 0;      // mean cross-entropy per label
  double accuracy = 0;  // share of labels predicted right
  int64_t examples = 0;
  int64_t labels = 0;
  std::map<int64_t, std::pair<int64_t, int64_t>> by_group;  // group (lag distance) -> (correct, total)
};

// Metrics of model (put in eval mode) on every example of data.
EvalResult evaluate(SequenceModelImpl& model, const Dataset& data, int64_t batch_size, const torch::Device& device);

// Mean cross-entropy over labelled positions (kIgnoreLabel ignored).
torch::Tensor task_loss(const torch::Tensor& logits, const torch::Tensor& labels, double label_smoothing = 0);

// A model for this configuration and task (vocabulary, classes, causality, max_len).
SequenceModel build_model(const Config& config, const TaskData& task);

// The learning rate at step (0-based) of a run of total_steps.
double scheduled_lr(const TrainOptions& options, int64_t step, int64_t total_steps);

torch::Device resolve_device(const std::string& device);  // cpu | cuda | auto; ConfigError if unavailable

struct TrainOutcome {
  int exit_code = 0;          // 0, 1 (non-finite loss), 128 + signal (interrupted)
  std::string stop_reason;    // completed | early_stopping | interrupted | non_finite_loss | stopped
  std::string run_dir;
  TrainingState state;
  double train_loss = 0;      // mean over the last logging window
  EvalResult valid, test;     // of the best checkpoint
  double wall_s = 0;          // training time, evaluation excluded
  double tokens_per_s = 0;
  double peak_rss_mb = 0;
  int64_t parameters = 0;
  int64_t seq_len = 0;        // n at which cost is given: the task's longest sequence
  EncoderCost cost;
};

struct TrainControl {
  int64_t stop_after_step = -1;  // stop (as if killed after a checkpoint) at this step; tests use it
  bool quiet = false;            // no console output
};

// Trains into run_dir (created if needed). Writes config.yaml, train.log,
// metrics.jsonl, checkpoint_last.pt, checkpoint_best.pt, vocab.txt,
// labels.txt and result.json. resume continues from checkpoint_last.pt.
// Refuses (ConfigError) to start over a directory that already holds a run.
TrainOutcome train(const Config& config, const std::string& run_dir, bool resume, const TrainControl& control = {});

// A finished (or checkpointed) run read back from its directory.
struct LoadedRun {
  Config config;
  TaskData task;  // vocabulary and labels from the run; test split only for file tasks
  SequenceModel model{nullptr};
  TrainingState state;
};
// checkpoint: "best" or "last". Throws CheckpointError / ConfigError naming what is missing.
LoadedRun load_run(const std::string& run_dir, const std::string& checkpoint = "best");
// Metrics of a loaded run on its test split, or on data_file (in the training format) when given.
EvalResult evaluate_run(LoadedRun& run, const std::string& data_file = "");
// {"loss", "accuracy", "examples", "labels", "accuracy_by_<group>"} as JSON text.
std::string eval_result_json(const EvalResult& result, const std::string& group_name);

// Ctrl-C / SIGTERM: the loop finishes its step, saves a checkpoint and returns
// 128 + signal. A second signal ends the process at once.
void install_stop_handlers();
int pending_stop_signal();

// Peak resident memory of this process in MB, and a reset of it where Linux allows.
double peak_rss_mb();
void reset_peak_rss();

}  // namespace seqenc
