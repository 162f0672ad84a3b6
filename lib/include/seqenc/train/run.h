// A finished (or checkpointed) run read back from its directory, for eval and export.
#pragma once
#include <string>
#include <vector>

#include "seqenc/train/checkpoint.h"
#include "seqenc/train/config.h"
#include "seqenc/train/evaluate.h"

namespace seqenc {

struct LoadedRun {
  Config config;
  TaskData task;  // vocabulary and labels from the run; test split only for file tasks
  SequenceModel model{nullptr};
  TrainingState state;
  std::vector<std::string> warnings;  // from reading its data (e.g. truncated lines): the caller shows them
};

enum class CheckpointKind { best, last };
SEQENC_CHOICES(CheckpointKind, {CheckpointKind::best, "best"}, {CheckpointKind::last, "last"});

// Throws CheckpointError / ConfigError naming what is missing.
LoadedRun load_run(const std::string& run_dir, CheckpointKind checkpoint = CheckpointKind::best);
// Metrics of a loaded run on its test split, or on data_file (in the training format) when given.
EvalResult evaluate_run(LoadedRun& run, const std::string& data_file = "");

}  // namespace seqenc
