// What a sweep shows: DIR/results.jsonl (a line per finished run) and DIR/report.md, a table of mean ± standard
// deviation over seeds per combination, sorted by validation accuracy, with a plot of it against each swept key.
// Both are rebuilt from the runs present (their result.json), and written whole.
#pragma once
#include <string>
#include <vector>

#include "seqenc/tools/sweep.h"

namespace seqenc {

// A finished run's numbers, from its result.json.
struct SweepResult {
  SweepRun run;
  double valid_accuracy = 0, test_accuracy = 0, valid_loss = 0, test_loss = 0;
  int64_t steps = 0;
  double seconds = 0, tokens_per_s = 0;  // training time (validation excluded) and its speed
};

// Every finished run of the plan, in its order.
std::vector<SweepResult> sweep_results(const SweepPlan& plan);

// Mean and sample standard deviation (n - 1; 0 for a single value).
struct MeanSd {
  double mean = 0, sd = 0;
  size_t n = 0;
};
MeanSd mean_sd(const std::vector<double>& values);

// One row of the report: a combination with its runs' statistics.
struct SweepRow {
  std::vector<std::pair<std::string, std::string>> values;
  MeanSd valid_accuracy, test_accuracy, valid_loss, seconds, tokens_per_s;
  int64_t steps = 0;
};
// The combinations with a finished run, best validation accuracy first.
std::vector<SweepRow> sweep_rows(const std::vector<SweepResult>& results);
// The table of those rows, as aligned text (the terminal) or Markdown.
std::string sweep_table(const std::vector<SweepRow>& rows, bool markdown);

// Writes DIR/results.jsonl, and DIR/report.md with its plots when `report`; returns report.md's path.
std::string write_sweep_results(const SweepPlan& plan, bool report = true);

}  // namespace seqenc
