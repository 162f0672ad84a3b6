#include "seqenc/tools/tool_config.h"

#include "seqenc/files.h"
#include "seqenc/strings.h"
#include "seqenc/train/recipe.h"

namespace seqenc {

void add_tool_keys(Schema& schema, ToolConfig& config) {
  add_run_keys(schema, config);
  add_bench_keys(schema, config.bench);
  add_analyze_keys(schema, config.analyze);
  add_sweep_keys(schema, config.sweep);
}

ToolConfig load_tool_config(const std::string& path, const std::vector<std::string>& overrides) {
  ToolConfig config;
  Schema schema(&config.explicit_keys);
  add_tool_keys(schema, config);
  read_config_sources(schema, path, overrides);
  apply_recipe(config);
  if (auto problems = tool_config_problems(config); !problems.empty())
    throw ConfigError((path.empty() ? "configuration" : path) + ": " + join(problems, "; "));
  return config;
}

std::vector<std::string> tool_config_problems(const ToolConfig& config) {
  auto p = config_problems(config);
  for (auto& more : bench_problems(config.bench)) p.push_back(std::move(more));
  for (auto& more : analyze_problems(config.analyze)) p.push_back(std::move(more));
  for (auto& more : sweep_problems(config.sweep)) p.push_back(std::move(more));
  return p;
}

std::string to_yaml(const ToolConfig& config, const std::set<std::string>& omit) {
  ToolConfig copy = config;
  Schema schema;
  add_tool_keys(schema, copy);
  return schema.to_yaml(omit);
}

void save_config(const ToolConfig& config, const std::string& path, const std::set<std::string>& omit,
                 const std::string& note) {
  write_file_atomic(path, config_file_text(to_yaml(config, omit), omit, note));
}

std::vector<KeyDescription> tool_config_keys() {
  ToolConfig defaults;
  Schema schema;
  add_tool_keys(schema, defaults);
  return schema.describe();
}

}  // namespace seqenc
