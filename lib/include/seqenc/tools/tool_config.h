// Everything a configuration file may hold: a run's keys (train/config.h) and the tools' own sections (bench.*,
// analyze.*, sweep.*). The program reads every file through this, so a file written for one command serves all.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "seqenc/tools/analyze_options.h"
#include "seqenc/tools/bench_options.h"
#include "seqenc/tools/sweep_options.h"
#include "seqenc/train/config.h"

namespace seqenc {

struct ToolConfig : Config {
  BenchOptions bench;
  AnalyzeOptions analyze;
  SweepOptions sweep;
};

// The whole schema (run keys, then bench.*, analyze.* and sweep.*) bound to config's fields.
void add_tool_keys(Schema& schema, ToolConfig& config);
// Defaults < path (skipped when empty) < overrides; ConfigError listing every problem.
ToolConfig load_tool_config(const std::string& path, const std::vector<std::string>& overrides = {});
// Every problem of every section, each "key: problem".
std::vector<std::string> tool_config_problems(const ToolConfig& config);
// Every key and its value, and the file (with the resolved configuration's header).
std::string to_yaml(const ToolConfig& config, const std::set<std::string>& omit = {});
void save_config(const ToolConfig& config, const std::string& path, const std::set<std::string>& omit = {},
                 const std::string& note = "");
// Every key of a configuration file with its default.
std::vector<KeyDescription> tool_config_keys();

}  // namespace seqenc
