// seqenc compare: the same data, seed and budget for several encoders. The
// side-by-side table and the report with plots are tools/comparison_report.h.
#pragma once
#include <string>
#include <vector>

#include "seqenc/train/trainer.h"

namespace seqenc {

struct ComparisonRun {
  std::string encoder;
  std::string recipe;  // recipe_summary of its configuration
  TrainOutcome outcome;
};

struct Comparison {
  std::string task;
  Precision precision = Precision::fp32;  // train.precision of every run
  std::vector<ComparisonRun> runs;
  std::string group_name;  // what the task's groups measure ("distance" for lag), empty if none
  // Every run finished (completed or stopped early); otherwise the last run tells why it stopped.
  bool finished() const;
};

// Trains config with model.encoder set to each of encoders, in run_dir/<encoder>,
// and writes run_dir/config.yaml. Every variant is validated before any
// training starts. resume continues an interrupted comparison: runs with a
// checkpoint resume (a finished one only re-evaluates), the others start.
// With rank.group, every rank of a data-parallel run calls it; rank 0 writes.
Comparison compare(const Config& config, const std::vector<std::string>& encoders, const std::string& run_dir,
                   const TrainControl& control = {}, bool resume = false, const Rank& rank = {});

}  // namespace seqenc
