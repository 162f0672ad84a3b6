// seqenc compare: the same data, seed and budget for several encoders, then
// a side-by-side table and a Markdown report with plots.
#pragma once
#include <string>
#include <vector>

#include "seqenc/training.h"

namespace seqenc {

struct ComparisonRun {
  std::string encoder;
  TrainOutcome outcome;
};

struct Comparison {
  std::string task;
  std::vector<ComparisonRun> runs;
  std::string group_name;  // "distance" for the lag task
  int exit_code = 0;       // non-zero when a run was interrupted or failed
  std::string report_path;
};

// Trains config with model.encoder set to each of encoders, in run_dir/<encoder>.
// Every variant is validated before any training starts. resume continues an
// interrupted comparison: runs with a checkpoint resume (a finished one only
// re-evaluates), the others start.
Comparison compare(const Config& config, const std::vector<std::string>& encoders, const std::string& run_dir,
                   const TrainControl& control = {}, bool resume = false);

// The side-by-side table as aligned text (for the terminal) or Markdown.
std::string comparison_table(const Comparison& c, bool markdown);
// Writes report.md and its plots into run_dir; returns the report's path.
std::string write_comparison_report(const Comparison& c, const std::string& run_dir);

// Rows of metrics.jsonl for one split: (step, field) pairs.
std::vector<std::pair<double, double>> read_metric(const std::string& metrics_path, const std::string& split,
                                                   const std::string& field);

}  // namespace seqenc
