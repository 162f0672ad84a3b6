// A run's configuration, as Marian does it: built-in defaults < YAML file < --set overrides; unknown keys, wrong
// types and invalid values are all reported at once, with their key paths, before any work starts. The schema is
// composed of each layer's keys (data.*, model.*, train.*); the tools add theirs (tools/tools_config.h).
#pragma once
#include <set>
#include <string>
#include <vector>

#include "seqenc/data/dataset.h"
#include "seqenc/error.h"
#include "seqenc/nn/encoder.h"
#include "seqenc/nn/heads.h"
#include "seqenc/schema.h"
#include "seqenc/train/train_options.h"

namespace seqenc {

struct Config {
  EncoderOptions model;
  Pooling pooling = Pooling::mean;  // model.pooling, for classification heads
  DataOptions data;
  TrainOptions train;
  // Keys the file or the command line set (a recipe never overrides them), and what the recipe set ("key: value").
  std::set<std::string> explicit_keys;
  std::vector<std::string> recipe_applied;
};

// The run's keys (model.*, data.*, train.*) bound to config's fields; explicit keys are recorded in config.
void add_run_keys(Schema& schema, Config& config);

// Defaults, then `path` (skipped when empty), then each "key.path=value". Throws ConfigError listing every
// problem. A run directory's config.yaml may hold sections of higher layers (bench, analyze): reading one back
// with run_directory skips them.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {}, bool run_directory = false);
// Reads path (when not empty) and then the overrides into schema; ConfigError "origin: problem; problem" for
// keys that are unknown, mistyped or given twice. origin is path, or "configuration".
void read_config_sources(Schema& schema, const std::string& path, const std::vector<std::string>& overrides,
                         bool run_directory = false);
// Applies "key.path=value" overrides to an existing configuration (and validates).
void apply_overrides(Config& config, const std::vector<std::string>& overrides, const std::string& origin = "--set");
// Problems with values and their combinations, each "key: problem".
std::vector<std::string> config_problems(const Config& config);
// Throws ConfigError (origin: problems) if config_problems() finds anything.
void check_config(const Config& config, const std::string& origin);

// Every key and its value, but those in `omit`.
std::string to_yaml(const Config& config, const std::set<std::string>& omit = {});
// note: a comment line for the header (what the keys resolve to in this run, e.g. its global batch).
void save_config(const Config& config, const std::string& path, const std::set<std::string>& omit = {},
                 const std::string& note = "");
// The resolved configuration's file text: a header, then yaml.
std::string config_file_text(const std::string& yaml, const std::set<std::string>& omit, const std::string& note);

// "key: value" lines of the keys that shape a model (model.*, and the data.* keys that decide its vocabulary,
// classes and length), which checkpoints keep to explain a shape mismatch.
std::string model_keys_text(const Config& config);

// The run's keys with their defaults.
std::vector<KeyDescription> config_keys();

// The encoder options a run uses: model.* plus what the data implies (vocab, max_len, causal).
EncoderOptions encoder_options_for(const Config& config, int64_t vocab_size, bool causal, int64_t max_len);

}  // namespace seqenc
