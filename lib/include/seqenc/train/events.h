// One stream of training events, as Marian's TrainingState tells its observers and Lightning calls its callbacks:
// the Trainer says what happened, and each observer (console progress, train.log, metrics.jsonl, checkpoints,
// result.json, any sink registered in train/sinks.h) does its part. Observers hear each event in the order they
// were added; a file written at a checkpoint (metrics.jsonl) is flushed by the checkpoint writer before it saves.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>

#include "seqenc/data/dataset.h"
#include "seqenc/train/checkpoint.h"
#include "seqenc/train/config.h"
#include "seqenc/train/evaluate.h"
#include "seqenc/train/outcome.h"

namespace seqenc {

class SequenceModelImpl;

enum class MessageLevel { info, warning, error };

// Once, before anything is said: what is trained, from where.
struct RunStart {
  const Config& config;
  const TaskData& task;
  const TrainingState& state;  // where training starts: step 0, or a resumed checkpoint's
  int64_t total_steps;
  bool resumed;
};

// After every optimizer step.
struct StepDone {
  int64_t step, total_steps;
  double loss;          // of this step's global batch
  double tokens_per_s;  // this session's, all ranks together
  double eta_s;         // until total_steps at this session's pace
};

// Every train.log_every steps, and at the last step.
struct TrainWindow {
  int64_t step, total_steps, epoch;
  double loss;  // mean since the last window
  double lr, tokens_per_s, elapsed_s;
};

// After each validation (every train.eval_every steps, and at the last).
struct Validated {
  int64_t step, epoch;
  double elapsed_s;  // training time when validation started
  const EvalResult& result;
  const std::string& group_name;  // what the result's groups measure, "" if none
  bool best;                      // the best so far: its checkpoint is kept
};

// A checkpoint is due: after each validation, and when a run stops before its end.
struct CheckpointDue {
  SequenceModelImpl& model;
  torch::optim::Optimizer* optimizer;
  const TrainingState& state;  // as the checkpoint records it
  bool best;                   // also the best checkpoint
};

class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;
  virtual void on_start(const RunStart&) {}
  virtual void on_message(MessageLevel, const std::string&) {}
  virtual void on_step(const StepDone&) {}
  virtual void on_train_window(const TrainWindow&) {}
  virtual void on_validation(const Validated&) {}
  virtual void on_checkpoint(const CheckpointDue&) {}
  virtual void on_finish(const TrainOutcome&) {}
};

// The observers of one run; each event reaches them in the order they were added.
class EventStream {
 public:
  void add(std::unique_ptr<TrainingObserver> observer);
  void start(const RunStart& e);
  void say(MessageLevel level, const std::string& text);
  void step(const StepDone& e);
  void train_window(const TrainWindow& e);
  void validation(const Validated& e);
  void checkpoint(const CheckpointDue& e);
  void finish(const TrainOutcome& outcome);

 private:
  std::vector<std::unique_ptr<TrainingObserver>> observers_;
};

}  // namespace seqenc
