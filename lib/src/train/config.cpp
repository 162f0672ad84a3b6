#include "seqenc/train/config.h"

#include "seqenc/data/data_keys.h"
#include "seqenc/data/task.h"
#include "seqenc/files.h"
#include "seqenc/nn/model_keys.h"
#include "seqenc/strings.h"
#include "seqenc/train/recipe.h"

namespace seqenc {

void add_run_keys(Schema& schema, Config& c) {
  add_model_keys(schema, c.model, c.pooling);
  add_data_keys(schema, c.data);
  add_train_keys(schema, c.train);
}

void read_config_sources(Schema& schema, const std::string& path, const std::vector<std::string>& overrides,
                         bool run_directory) {
  std::vector<std::string> problems;
  if (!path.empty()) schema.read_file(path, problems, run_directory);
  std::vector<std::string> override_problems;
  schema.read_overrides(overrides, override_problems);
  if (!override_problems.empty()) problems.push_back("--set: " + join(override_problems, "; "));
  if (!problems.empty()) throw ConfigError((path.empty() ? "configuration" : path) + ": " + join(problems, "; "));
}

void apply_overrides(Config& config, const std::vector<std::string>& overrides, const std::string& origin) {
  Schema schema(&config.explicit_keys);
  add_run_keys(schema, config);
  std::vector<std::string> problems;
  schema.read_overrides(overrides, problems);
  if (!problems.empty()) throw ConfigError(origin + ": " + join(problems, "; "));
  apply_recipe(config);
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides, bool run_directory) {
  Config config;
  Schema schema(&config.explicit_keys);
  add_run_keys(schema, config);
  read_config_sources(schema, path, overrides, run_directory);
  apply_recipe(config);
  check_config(config, path.empty() ? "configuration" : path);
  return config;
}

namespace {
// train.tensorboard_hparams names keys of the run's configuration.
std::vector<std::string> hparams_problems(const Config& config) {
  Config copy = config;
  Schema schema;
  add_run_keys(schema, copy);
  std::vector<std::string> p;
  for (const auto& key : split_list(config.train.tensorboard_hparams)) {
    if (!schema.find(key)) p.push_back("train.tensorboard_hparams: '" + key + "' is not a key of the run");
  }
  return p;
}
}  // namespace

std::vector<std::string> config_problems(const Config& c) {
  std::vector<std::string> p;
  auto add_all = [&p](std::vector<std::string> more) { p.insert(p.end(), more.begin(), more.end()); };
  bool causal = c.model.causal;
  try {
    causal = causal || task_spec(c.data.task).head == HeadKind::lm;
  } catch (const DataError&) {
    // data_problems names the unknown task
  }
  EncoderOptions model = c.model;
  model.causal = causal;
  add_all(encoder_problems(model));
  add_all(head_problems({HeadKind::classify, 2, c.pooling}, causal));
  add_all(data_problems(c.data));
  add_all(train_problems(c.train));
  add_all(hparams_problems(c));
  return p;
}

void check_config(const Config& config, const std::string& origin) {
  auto problems = config_problems(config);
  if (!problems.empty()) throw ConfigError(origin + ": " + join(problems, "; "));
}

std::string to_yaml(const Config& config, const std::set<std::string>& omit) {
  Config copy = config;
  Schema schema;
  add_run_keys(schema, copy);
  return schema.to_yaml(omit);
}

std::string config_file_text(const std::string& yaml, const std::set<std::string>& omit, const std::string& note) {
  std::string header = "# seqenc resolved configuration: defaults < config file < --set\n";
  if (!note.empty()) header += "# " + note + "\n";
  if (!omit.empty()) {
    header +=
        "# left to each encoder's recipe: " + join(std::vector<std::string>(omit.begin(), omit.end()), ", ") + "\n";
  }
  return header + yaml;
}

void save_config(const Config& config, const std::string& path, const std::set<std::string>& omit,
                 const std::string& note) {
  write_file_atomic(path, config_file_text(to_yaml(config, omit), omit, note));
}

std::string model_keys_text(const Config& config) {
  Config copy = config;
  Schema schema;
  add_run_keys(schema, copy);
  std::string text;
  for (const auto& k : schema.keys()) {
    const bool shapes = k.key.rfind("model.", 0) == 0 || k.key == "data.task" || k.key == "data.max_len" ||
                        k.key == "data.tokenizer" || k.key == "data.max_vocab" || k.key == "data.min_freq";
    if (shapes) text += k.key + ": " + scalar_text(k.get()) + "\n";
  }
  return text;
}

std::vector<KeyDescription> config_keys() {
  Config defaults;
  Schema schema;
  add_run_keys(schema, defaults);
  return schema.describe();
}

EncoderOptions encoder_options_for(const Config& config, int64_t vocab_size, bool causal, int64_t max_len) {
  EncoderOptions o = config.model;
  o.vocab_size = vocab_size;
  o.causal = o.causal || causal;
  o.max_len = max_len;
  return o;
}

}  // namespace seqenc
