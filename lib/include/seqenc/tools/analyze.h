// seqenc analyze: the section's comparison measured on running code, as a
// Markdown report with plots.
#pragma once
#include <string>

#include "seqenc/tools/tool_config.h"
#include "seqenc/train/outcome.h"

namespace seqenc {

// Writes out_dir/report.md and its plots (cost, sequential operations, path
// length, learning over distance, positional encoding, attention weights).
// Refuses a directory that already holds a report.
struct AnalysisOutcome {
  std::string report_path;
  // Not completed: the comparison of section 4 stopped (e.g. a stop request); the report ends there.
  StopReason stop_reason = StopReason::completed;
};

// control steers the comparison that sections 4 and 6 train.
AnalysisOutcome write_analysis(const ToolConfig& config, const std::string& out_dir, const TrainControl& control = {});

}  // namespace seqenc
