// What compare shows: the side-by-side table and a Markdown report with plots.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "seqenc/train/compare.h"

namespace seqenc {

// The side-by-side table as aligned text (for the terminal) or Markdown.
std::string comparison_table(const Comparison& c, bool markdown);
// Writes report.md and its plots into run_dir; returns the report's path.
std::string write_comparison_report(const Comparison& c, const std::string& run_dir);

// Rows of metrics.jsonl for one split: (step, field) pairs.
std::vector<std::pair<double, double>> read_metric(const std::string& metrics_path, const std::string& split,
                                                   const std::string& field);

}  // namespace seqenc
