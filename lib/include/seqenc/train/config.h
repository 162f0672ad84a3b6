// Run configuration, as Marian does it: built-in defaults < YAML file <
// --set overrides; unknown keys, wrong types and invalid values are all
// reported at once, with their key paths, before any work starts.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "seqenc/choices.h"
#include "seqenc/data/dataset.h"
#include "seqenc/error.h"
#include "seqenc/nn/encoder.h"
#include "seqenc/nn/heads.h"
#include "seqenc/nn/precision.h"

namespace seqenc {

enum class OptimizerKind { adam, adamw, sgd };
enum class Schedule { constant, warmup_inverse_sqrt, cosine };
enum class DeviceKind { cpu, cuda, automatic };
SEQENC_CHOICES(OptimizerKind, {OptimizerKind::adam, "adam"}, {OptimizerKind::adamw, "adamw"},
               {OptimizerKind::sgd, "sgd"});
SEQENC_CHOICES(Schedule, {Schedule::constant, "constant"}, {Schedule::warmup_inverse_sqrt, "warmup_inverse_sqrt"},
               {Schedule::cosine, "cosine"});
SEQENC_CHOICES(DeviceKind, {DeviceKind::cpu, "cpu"}, {DeviceKind::cuda, "cuda"}, {DeviceKind::automatic, "auto"});

struct TrainOptions {
  int64_t steps = 1000;  // set steps or epochs (the other 0)
  int64_t epochs = 0;
  int64_t batch_size = 32;  // per rank and micro-step: the global batch is batch_size x world size x accumulate_steps
  int64_t accumulate_steps = 1;  // micro-batches per optimizer step (gradient accumulation)
  double lr = 1e-3;
  OptimizerKind optimizer = OptimizerKind::adam;
  double weight_decay = 0.0;
  Schedule schedule = Schedule::constant;
  int64_t warmup = 0;      // steps of linear warm-up
  double clip_norm = 1.0;  // 0: no clipping
  double label_smoothing = 0.0;
  uint64_t seed = 1;
  int64_t threads = 0;  // 0: LibTorch's default
  DeviceKind device = DeviceKind::cpu;
  Precision precision = Precision::fp32;  // bf16: products in bf16 (nn/precision.h); validation stays fp32
  int64_t eval_every = 200;               // steps between validations (and checkpoints)
  int64_t log_every = 50;                 // steps between training log lines
  int64_t early_stopping = 0;             // validations without improvement before stopping; 0: off
  bool bucket = false;                    // batch examples of similar length together
  double dist_timeout_s = 60;             // data parallelism: rendezvous and collectives fail after this long
  bool dist_overlap = true;               // reduce gradients during backward (c10d::Reducer), else after it
  double dist_bucket_mb = 25;             // gradient buckets of about this many MB (PyTorch DDP's default)
};

struct BenchOptions {
  int64_t batch_size = 32;
  int64_t seq_len = 128;
  int64_t vocab_size = 1000;
  int64_t steps = 10;              // timed steps per repeat
  int64_t repeats = 5;             // the median over repeats is reported
  int64_t warmup = 3;              // untimed steps first
  std::string seq_lens;            // a sweep "n:batch,n:batch,..." (or "n,..." at batch_size); empty: seq_len alone
  int64_t reference_max_n = 2048;  // the sweep times the reference attention path up to this n
  bool kernel = false;             // also time the fused attention kernel alone, and the machine's sgemm
  bool profile = false;            // also print the top operators of a step (LibTorch's autograd profiler)
};

// The (n, batch) pairs of a benchmark: bench.seq_lens, or (seq_len, batch_size). ConfigError on bad syntax.
std::vector<std::pair<int64_t, int64_t>> bench_sweep(const BenchOptions& options);

struct AnalyzeOptions {
  int64_t min_n = 16, max_n = 4096;  // cost and latency sweeps over n (doubling)
  int64_t num_hiddens = 64;          // d of the n sweeps
  int64_t fixed_n = 256;             // n of the d sweep
  int64_t min_d = 16, max_d = 512;   // d sweep (doubling)
  int64_t repeats = 3;               // timings are medians over repeats
  int64_t max_path_n = 64;           // path-length measurements up to this n
  bool train = true;                 // section 4 and 6 train the comparison (compare)
  bool recipes = true;               // section 7 trains the recipe study (tools/recipe_study.h)
  int64_t recipe_steps = 800;        // its budget per run
};

struct Config {
  EncoderOptions model;
  Pooling pooling = Pooling::mean;  // model.pooling, for classification heads
  DataOptions data;
  TrainOptions train;
  BenchOptions bench;
  AnalyzeOptions analyze;
  // Keys the file or the command line set (a recipe never overrides them), and what the recipe set ("key: value").
  std::set<std::string> explicit_keys;
  std::vector<std::string> recipe_applied;
};

// The training settings model.recipe gives an encoder where the configuration sets none (README, "Recipes").
struct RecipeSetting {
  std::string key, value;
};
std::vector<RecipeSetting> recipe_settings(const std::string& encoder, Recipe recipe);
// Applies config.model's recipe to the keys not in explicit_keys (undoing another encoder's first).
// load_config and apply_overrides call it; so does compare, for each encoder.
void apply_recipe(Config& config);
// One line: the recipe of config.model and what it set, for logs and reports.
std::string recipe_summary(const Config& config);
// The keys some encoder's recipe sets that the configuration does not.
std::set<std::string> recipe_keys_unset(const Config& config);

// Defaults, then `path` (skipped when empty), then each "key.path=value".
// Throws ConfigError listing every problem.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});
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

struct ConfigKey {
  std::string key, type, default_value, help;
};
std::vector<ConfigKey> config_keys();

// The encoder options a run uses: model.* plus what the data implies (vocab, max_len, causal).
EncoderOptions encoder_options_for(const Config& config, int64_t vocab_size, bool causal, int64_t max_len);

}  // namespace seqenc
