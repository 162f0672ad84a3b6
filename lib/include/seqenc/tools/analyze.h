// seqenc analyze: the section's comparison measured on running code, as a
// Markdown report with plots.
#pragma once
#include <string>

#include "seqenc/tools/sweep.h"
#include "seqenc/tools/tool_config.h"
#include "seqenc/train/outcome.h"

namespace seqenc {

// Writes out_dir/report.md and its plots (cost, sequential operations, path length, learning over distance,
// positional encoding, attention weights, the recipe study). Refuses a directory that already holds a report; one
// that holds an analysis that stopped (a config.yaml, no report) is continued when the configuration is the same:
// the comparison resumes from its checkpoints and the recipe study's finished runs are kept.
struct AnalysisOutcome {
  std::string report_path;  // empty when the analysis stopped or a run failed: no report is written then
  // Not completed: the comparison of section 4 or the recipe study stopped (e.g. a stop request).
  StopReason stop_reason = StopReason::completed;
  std::vector<std::string> failures;  // runs of the recipe study that failed, each "<run>: <error>"
};

// control steers the comparison that sections 4 and 6 train. The recipe study (section 7) is a sweep: its runs go
// through launcher (in this process, one at a time, when null), sweep.jobs at a time.
AnalysisOutcome write_analysis(const ToolConfig& config, const std::string& out_dir, const TrainControl& control = {},
                               RunLauncher* launcher = nullptr, const SweepControl& sweep = {});

}  // namespace seqenc
