#include "seqenc/train/config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "seqenc/files.h"
#include "seqenc/strings.h"

namespace seqenc {

namespace {

// One configuration key bound to a field of a Config.
struct Field {
  std::string key, type, help;
  std::vector<std::string> choices;
  std::function<void(const YAML::Node&)> set;  // throws YAML::Exception on a wrong type
  std::function<YAML::Node()> get;
};

class Schema {
 public:
  explicit Schema(Config& c) : explicit_keys_(c.explicit_keys) {
    auto& m = c.model;
    add("model.encoder", m.name, "encoder architecture", encoder_names());
    add("model.num_hiddens", m.num_hiddens, "width d of tokens and states");
    add("model.num_layers", m.num_layers, "blocks, convolutions or recurrent layers");
    add("model.dropout", m.dropout, "dropout probability");
    add("model.num_heads", m.num_heads, "attention heads (transformer)");
    add("model.ffn_num_hiddens", m.ffn_num_hiddens, "position-wise FFN width (transformer)");
    add("model.pos_encoding", m.pos_encoding, "positional encoding (transformer)");
    add("model.max_relative_position", m.max_relative_position, "clipping distance of relative positions");
    add("model.attention_bias", m.attention_bias, "biases in W_q, W_k, W_v, W_o");
    add("model.pre_norm", m.pre_norm, "pre-norm blocks instead of the book's post-norm");
    add("model.recipe", m.recipe,
        "default: what README's Recipes measured to learn (transformer: embeddings N(0, 1/d), P never dropped, "
        "train.lr 0.003 and model.dropout 0 where unset); book: the section's model exactly");
    add("model.attention", m.attention, "attention kernel: fused (memory-linear) wherever it applies, or one of them");
    add("model.kernel_size", m.kernel_size, "odd convolution width k (cnn)");
    add("model.dilated", m.dilated, "dilation 1, 2, 4, ... per layer (cnn)");
    add("model.activation", m.activation, "activation (cnn)");
    add("model.cell", m.cell, "recurrent cell (rnn)");
    add("model.bidirectional", m.bidirectional, "both directions, projected to num_hiddens (rnn)");
    add("model.causal", m.causal, "outputs depend on earlier positions only (forced on for text_lm)");
    add("model.pooling", c.pooling, "sequence classification pooling");
    auto& d = c.data;
    add("data.task", d.task, "task or file format", task_names());
    add("data.train", d.train, "training file");
    add("data.valid", d.valid, "validation file (empty: split data.train)");
    add("data.test", d.test, "test file (empty: split data.train)");
    add("data.valid_ratio", d.valid_ratio, "share of data.train lines for validation when split");
    add("data.test_ratio", d.test_ratio, "share of data.train lines for testing when split");
    add("data.tokenizer", d.tokenizer, "tokenizer for files");
    add("data.min_freq", d.min_freq, "minimum training count for a vocabulary entry");
    add("data.max_vocab", d.max_vocab, "maximum vocabulary size, specials included");
    add("data.max_line_bytes", d.max_line_bytes, "longest line of a data file, in bytes; a longer one is an error");
    add("data.max_distinct_tokens", d.max_distinct_tokens,
        "distinct tokens counted exactly when building the vocabulary; past it the rarest are pruned (bounded memory)");
    add("data.max_len", d.max_len, "longest sequence; longer ones are truncated");
    add("data.seed", d.seed, "seed for synthetic data and file splits");
    add("data.train_size", d.train_size, "synthetic training examples");
    add("data.valid_size", d.valid_size, "synthetic validation examples");
    add("data.test_size", d.test_size, "synthetic test examples");
    add("data.symbols", d.symbols, "distinct content symbols (synthetic)");
    add("data.min_len", d.min_len, "shortest synthetic sequence");
    add("data.seq_len", d.seq_len, "longest synthetic sequence");
    add("data.min_distance", d.min_distance, "smallest lookup distance (lag)");
    add("data.max_distance", d.max_distance, "largest lookup distance (lag)");
    add("data.queries", d.queries, "query positions per sequence (lag)");
    add("data.pairs", d.pairs, "most key-value pairs (recall)");
    add("data.max_depth", d.max_depth, "deepest nesting (listops)");
    add("data.max_args", d.max_args, "most arguments per operator (listops)");
    add("data.words", d.words, "lexicon size: words of 2-6 symbols (segment)");
    auto& t = c.train;
    add("train.steps", t.steps, "optimizer steps (or set train.epochs)");
    add("train.epochs", t.epochs, "epochs (used when train.steps is 0)");
    add("train.batch_size", t.batch_size,
        "examples per micro-batch and rank (global batch: batch_size x world size x accumulate_steps)");
    add("train.accumulate_steps", t.accumulate_steps,
        "micro-batches per optimizer step, their gradients accumulated (data parallelism: reduced on the last only)");
    add("train.lr", t.lr, "peak learning rate");
    add("train.optimizer", t.optimizer, "optimizer");
    add("train.weight_decay", t.weight_decay, "weight decay");
    add("train.schedule", t.schedule, "learning-rate schedule");
    add("train.warmup", t.warmup, "linear warm-up steps");
    add("train.clip_norm", t.clip_norm, "gradient norm clipping; 0 turns it off");
    add("train.label_smoothing", t.label_smoothing, "label smoothing of the cross-entropy");
    add("train.seed", t.seed, "seed for initialisation, dropout and batch order");
    add("train.threads", t.threads, "intra-op CPU threads; 0: LibTorch's default (--nproc: cores / workers)");
    add("train.device", t.device, "device");
    add("train.precision", t.precision,
        "bf16: matrix products in bf16 with fp32 accumulation, fp32 weights, optimizer state and checkpoints "
        "(CPU); also what bench times");
    add("train.eval_every", t.eval_every, "steps between validations and checkpoints");
    add("train.log_every", t.log_every, "steps between training log lines");
    add("train.early_stopping", t.early_stopping, "validations without improvement before stopping; 0: off");
    add("train.bucket", t.bucket, "batch examples of similar length together");
    add("train.dist_timeout_s", t.dist_timeout_s,
        "data parallelism (--nproc): seconds a rank waits for the others (rendezvous, each collective)");
    add("train.dist_overlap", t.dist_overlap,
        "data parallelism: reduce gradients while backward runs (c10d::Reducer), else after it (for measuring)");
    add("train.dist_bucket_mb", t.dist_bucket_mb, "data parallelism: MB of gradients per allreduce bucket");
    auto& b = c.bench;
    add("bench.batch_size", b.batch_size, "examples per benchmark step");
    add("bench.seq_len", b.seq_len, "tokens per benchmark example");
    add("bench.vocab_size", b.vocab_size, "vocabulary (and output classes) of the benchmark");
    add("bench.steps", b.steps, "timed steps per repeat");
    add("bench.repeats", b.repeats, "repeats; the median is reported");
    add("bench.warmup", b.warmup, "untimed warm-up steps");
    add("bench.seq_lens", b.seq_lens, "sweep over n, e.g. 128:32,512:8,2048:1 (n:batch; empty: bench.seq_len)");
    add("bench.reference_max_n", b.reference_max_n, "largest n of a sweep that also times the reference attention");
    add("bench.profile", b.profile, "also print where a step's time goes, operator by operator (autograd profiler)");
    add("bench.kernel", b.kernel, "also time the fused attention kernel alone (GFLOP/s) and the machine's sgemm");
    auto& a = c.analyze;
    add("analyze.min_n", a.min_n, "smallest n of the cost and latency sweeps");
    add("analyze.max_n", a.max_n, "largest n of the cost and latency sweeps (doubling from min_n)");
    add("analyze.num_hiddens", a.num_hiddens, "d of the n sweeps");
    add("analyze.fixed_n", a.fixed_n, "n of the d sweep");
    add("analyze.min_d", a.min_d, "smallest d of the d sweep");
    add("analyze.max_d", a.max_d, "largest d of the d sweep (doubling from min_d)");
    add("analyze.repeats", a.repeats, "timing repeats; the median is reported");
    add("analyze.max_path_n", a.max_path_n, "largest n of the path-length measurements");
    add("analyze.train", a.train, "train the comparison for sections 4 and 6 (else skip them)");
    add("analyze.recipes", a.recipes, "train the recipe study of section 7 (else skip it)");
    add("analyze.recipe_steps", a.recipe_steps, "training steps of each run of the recipe study");
  }

  const Field* find(const std::string& key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &fields_[it->second];
  }
  const std::vector<Field>& fields() const { return fields_; }
  bool is_section(const std::string& key) const {
    return key == "model" || key == "data" || key == "train" || key == "bench" || key == "analyze";
  }

  // Sets `key` from a YAML scalar, as the file or the command line does (so a recipe leaves it alone);
  // returns a problem or "".
  std::string set(const std::string& key, const YAML::Node& value) const {
    auto problem = assign(key, value);
    if (problem.empty()) explicit_keys_.insert(key);
    return problem;
  }

  // Sets `key` as a default does.
  std::string assign(const std::string& key, const YAML::Node& value) const {
    const Field* f = find(key);
    if (!f) return key + ": unknown key" + suggestion(key);
    if (!value.IsScalar()) return key + ": expected " + f->type + ", got a " + (value.IsMap() ? "mapping" : "list");
    const bool listed =
        f->choices.empty() || std::find(f->choices.begin(), f->choices.end(), value.Scalar()) != f->choices.end();
    if (!listed) return key + ": '" + value.Scalar() + "' is not one of " + join(f->choices, ", ");
    try {
      f->set(value);
    } catch (const YAML::Exception&) {
      return key + ": expected " + f->type + ", got '" + value.Scalar() + "'";
    }
    return "";
  }

 private:
  template <typename T>
  void add(const std::string& key, T& field, const std::string& help, std::vector<std::string> choices = {}) {
    Field f;
    f.key = key;
    f.help = help;
    f.choices = std::move(choices);
    f.type = type_name<T>();
    f.set = [&field](const YAML::Node& n) {
      if constexpr (std::is_enum_v<T>) {
        field = *parse_choice<T>(n.Scalar());  // set() checked the name against f.choices
      } else if constexpr (std::is_same_v<T, std::string>) {
        field = n.Scalar();
      } else if constexpr (std::is_unsigned_v<T>) {
        if (!n.Scalar().empty() && n.Scalar()[0] == '-') throw YAML::Exception(YAML::Mark::null_mark(), "negative");
        field = n.as<T>();
      } else if constexpr (std::is_floating_point_v<T>) {
        const T value = n.as<T>();  // YAML reads .inf and .nan as numbers; no key means either
        if (!std::isfinite(value)) throw YAML::Exception(YAML::Mark::null_mark(), "not finite");
        field = value;
      } else {
        field = n.as<T>();
      }
    };
    f.get = [&field] {
      // Shortest text that reads back to the same double: 0.0003, not 0.00029999999999999997.
      if constexpr (std::is_enum_v<T>)
        return YAML::Node(name_of(field));
      else if constexpr (std::is_floating_point_v<T>)
        return YAML::Node(fmt::format("{}", field));
      else
        return YAML::Node(field);
    };
    // A closed choice: its names come from the enum, and it is parsed here, once.
    if constexpr (std::is_enum_v<T>) f.choices = choice_names<T>();
    index_[key] = fields_.size();
    fields_.push_back(std::move(f));
  }

  template <typename T>
  static std::string type_name() {
    if constexpr (std::is_same_v<T, bool>)
      return "true or false";
    else if constexpr (std::is_same_v<T, std::string> || std::is_enum_v<T>)
      return "a string";
    else if constexpr (std::is_floating_point_v<T>)
      return "a number";
    else if constexpr (std::is_unsigned_v<T>)
      return "a non-negative integer";
    else
      return "an integer";
  }

  static size_t distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        const size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diag = up;
      }
    }
    return row[b.size()];
  }

  std::string suggestion(const std::string& key) const {
    std::string best;
    size_t best_distance = 4;
    for (const auto& f : fields_) {
      const size_t gap = key.size() > f.key.size() ? key.size() - f.key.size() : f.key.size() - key.size();
      if (gap >= best_distance) continue;  // the distance is at least the gap: no need to compute it
      const size_t d = distance(key, f.key);
      if (d < best_distance) best_distance = d, best = f.key;
    }
    return best.empty() ? "" : " (did you mean " + best + "?)";
  }

  std::set<std::string>& explicit_keys_;
  std::vector<Field> fields_;
  std::map<std::string, size_t> index_;
};

void walk(const Schema& schema, const YAML::Node& node, const std::string& prefix, std::vector<std::string>& problems) {
  for (const auto& item : node) {
    const std::string key = prefix.empty() ? item.first.Scalar() : prefix + "." + item.first.Scalar();
    if (item.second.IsMap() && (schema.is_section(key) || !schema.find(key))) {
      if (!schema.is_section(key)) {
        problems.push_back(key + ": unknown section");
        continue;
      }
      walk(schema, item.second, key, problems);
    } else if (schema.is_section(key)) {
      problems.push_back(key + ": expected a mapping of keys");
    } else if (item.second.IsNull()) {
      problems.push_back(key + ": no value given");
    } else {
      auto p = schema.set(key, item.second);
      if (!p.empty()) problems.push_back(p);
    }
  }
}

}  // namespace

void apply_overrides(Config& config, const std::vector<std::string>& overrides, const std::string& origin) {
  Schema schema(config);
  std::vector<std::string> problems;
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0) {
      problems.push_back("'" + o + "': expected KEY=VALUE");
      continue;
    }
    const std::string key = o.substr(0, eq), value = o.substr(eq + 1);
    YAML::Node node;
    try {
      node = YAML::Load(value);
    } catch (const YAML::Exception&) {
      node = YAML::Node(value);
    }
    if (node.IsNull()) node = YAML::Node(value);  // "key=" is an empty string, not null
    auto p = schema.set(key, node);
    if (!p.empty()) problems.push_back(p);
  }
  if (!problems.empty()) throw ConfigError(origin + ": " + join(problems, "; "));
  apply_recipe(config);
}

std::vector<RecipeSetting> recipe_settings(const std::string& encoder, Recipe recipe) {
  // Measured in README, "Recipes": with the book's settings a transformer learns local structure too slowly to
  // show it in the budget a CNN needs; a larger step and no dropout do, on local and long-range tasks alike.
  if (encoder == "transformer" && recipe == Recipe::standard) return {{"train.lr", "0.003"}, {"model.dropout", "0"}};
  return {};
}

void apply_recipe(Config& config) {
  Config defaults;
  Schema current(config), initial(defaults);
  config.recipe_applied.clear();
  for (const auto& encoder : encoder_names()) {  // first undo what another encoder's recipe set
    for (const auto& s : recipe_settings(encoder, Recipe::standard)) {
      if (!config.explicit_keys.count(s.key)) current.assign(s.key, initial.find(s.key)->get());
    }
  }
  for (const auto& s : recipe_settings(config.model.name, config.model.recipe)) {
    if (config.explicit_keys.count(s.key)) continue;
    current.assign(s.key, YAML::Node(s.value));
    config.recipe_applied.push_back(s.key + ": " + s.value);
  }
}

std::string recipe_summary(const Config& config) {
  std::string summary = name_of(config.model.recipe);
  if (config.model.name == "transformer") {
    summary += config.model.recipe == Recipe::book ? " (the section's model)"
                                                   : " (token embeddings N(0, 1/d), positions never dropped)";
  }
  if (!config.recipe_applied.empty()) summary += "; " + join(config.recipe_applied, ", ");
  return summary;
}

std::set<std::string> recipe_keys_unset(const Config& config) {
  std::set<std::string> keys;
  for (const auto& encoder : encoder_names()) {
    for (const auto& s : recipe_settings(encoder, Recipe::standard)) {
      if (!config.explicit_keys.count(s.key)) keys.insert(s.key);
    }
  }
  return keys;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  Config config;
  std::vector<std::string> problems;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) throw ConfigError(path + ": cannot read config file");
    YAML::Node root;
    try {
      root = YAML::Load(in);
    } catch (const YAML::ParserException& e) {
      throw ConfigError(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                        ": YAML syntax error: " + e.msg);
    }
    if (!root.IsNull()) {
      if (!root.IsMap()) throw ConfigError(path + ": expected a mapping with sections model, data, train, bench");
      Schema schema(config);
      walk(schema, root, "", problems);
    }
  }
  const std::string origin = path.empty() ? "configuration" : path;
  try {
    apply_overrides(config, overrides);
  } catch (const ConfigError& e) {
    problems.push_back(e.what());
  }
  if (!problems.empty()) throw ConfigError(origin + ": " + join(problems, "; "));
  check_config(config, origin);
  return config;
}

std::vector<std::string> config_problems(const Config& c) {
  std::vector<std::string> p;
  auto need = [&p](bool ok, const std::string& problem) {
    if (!ok) p.push_back(problem);
  };
  auto add_all = [&p](std::vector<std::string> more) { p.insert(p.end(), more.begin(), more.end()); };
  const bool causal = c.model.causal || c.data.task == "text_lm";
  EncoderOptions model = c.model;
  model.causal = causal;
  add_all(encoder_problems(model));
  add_all(head_problems({HeadKind::classify, 2, c.pooling}, causal));
  add_all(data_problems(c.data));

  const auto& t = c.train;
  need(t.steps >= 0, "train.steps: must be >= 0");
  need(t.epochs >= 0, "train.epochs: must be >= 0");
  need(t.steps > 0 || t.epochs > 0, "train.steps, train.epochs: set one of them > 0");
  need(!(t.steps > 0 && t.epochs > 0), "train.steps, train.epochs: set only one of them (the other 0)");
  need(t.batch_size > 0, "train.batch_size: must be > 0");
  need(t.accumulate_steps >= 1, "train.accumulate_steps: must be >= 1, got " + std::to_string(t.accumulate_steps));
  need(t.lr > 0, "train.lr: must be > 0");
  need(t.weight_decay >= 0, "train.weight_decay: must be >= 0");
  need(t.warmup >= 0, "train.warmup: must be >= 0");
  need(t.schedule != Schedule::warmup_inverse_sqrt || t.warmup > 0,
       "train.warmup: must be > 0 for warmup_inverse_sqrt");
  need(t.clip_norm >= 0, "train.clip_norm: must be >= 0");
  need(t.label_smoothing >= 0 && t.label_smoothing < 1, "train.label_smoothing: must be in [0, 1)");
  need(t.threads >= 0, "train.threads: must be >= 0");
  need(t.eval_every > 0, "train.eval_every: must be > 0");
  need(t.log_every > 0, "train.log_every: must be > 0");
  need(t.early_stopping >= 0, "train.early_stopping: must be >= 0");
  need(t.dist_timeout_s > 0, "train.dist_timeout_s: must be > 0");
  need(t.dist_bucket_mb > 0 && t.dist_bucket_mb <= 1024, "train.dist_bucket_mb: must be in (0, 1024]");
  need(t.precision == Precision::fp32 || t.device != DeviceKind::cuda,
       "train.precision: bf16 runs on the CPU (train.device: cpu); on a GPU use fp32");

  const auto& b = c.bench;
  need(b.batch_size > 0, "bench.batch_size: must be > 0");
  need(b.seq_len > 1, "bench.seq_len: must be > 1");
  need(b.vocab_size > 5, "bench.vocab_size: must be > 5");
  need(b.steps > 0, "bench.steps: must be > 0");
  need(b.repeats > 0, "bench.repeats: must be > 0");
  need(b.warmup >= 0, "bench.warmup: must be >= 0");
  try {
    for (const auto& [n, batch] : bench_sweep(b)) {
      need(n > 1 && batch > 0,
           "bench.seq_lens: n must be > 1 and batch > 0, got " + std::to_string(n) + ":" + std::to_string(batch));
    }
  } catch (const ConfigError& e) {
    p.push_back(e.what());
  }

  const auto& a = c.analyze;
  need(a.min_n >= 2 && a.min_n <= a.max_n, "analyze.min_n: must be in [2, analyze.max_n]");
  need(a.min_d >= 1 && a.min_d <= a.max_d, "analyze.min_d: must be in [1, analyze.max_d]");
  need(a.num_hiddens > 0, "analyze.num_hiddens: must be > 0");
  need(a.fixed_n >= 2, "analyze.fixed_n: must be >= 2");
  need(a.repeats > 0, "analyze.repeats: must be > 0");
  need(a.max_path_n >= 4, "analyze.max_path_n: must be >= 4");
  need(a.recipe_steps >= 100, "analyze.recipe_steps: must be >= 100 (validation runs every 100 steps)");
  return p;
}

void check_config(const Config& config, const std::string& origin) {
  auto problems = config_problems(config);
  if (!problems.empty()) throw ConfigError(origin + ": " + join(problems, "; "));
}

std::string to_yaml(const Config& config, const std::set<std::string>& omit) {
  Config copy = config;
  Schema schema(copy);
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string section;
  for (const auto& f : schema.fields()) {
    if (omit.count(f.key)) continue;
    const auto dot = f.key.find('.');
    const std::string s = f.key.substr(0, dot), name = f.key.substr(dot + 1);
    if (s != section) {
      if (!section.empty()) out << YAML::EndMap;
      out << YAML::Key << s << YAML::Value << YAML::BeginMap;
      section = s;
    }
    out << YAML::Key << name << YAML::Value << f.get();
  }
  out << YAML::EndMap << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

void save_config(const Config& config, const std::string& path, const std::set<std::string>& omit,
                 const std::string& note) {
  std::string header = "# seqenc resolved configuration: defaults < config file < --set\n";
  if (!note.empty()) header += "# " + note + "\n";
  if (!omit.empty()) {
    header +=
        "# left to each encoder's recipe: " + join(std::vector<std::string>(omit.begin(), omit.end()), ", ") + "\n";
  }
  write_file_atomic(path, header + to_yaml(config, omit));
}

std::vector<ConfigKey> config_keys() {
  Config defaults;
  Schema schema(defaults);
  std::vector<ConfigKey> keys;
  for (const auto& f : schema.fields()) {
    YAML::Emitter e;
    e << f.get();
    std::string help = f.help;
    if (!f.choices.empty()) help += " (" + join(f.choices, " | ") + ")";
    keys.push_back({f.key, f.type, e.c_str(), help});
  }
  return keys;
}

std::vector<std::pair<int64_t, int64_t>> bench_sweep(const BenchOptions& b) {
  if (b.seq_lens.empty()) return {{b.seq_len, b.batch_size}};
  std::vector<std::pair<int64_t, int64_t>> sweep;
  for (const auto& item : split_list(b.seq_lens)) {
    const auto colon = item.find(':');
    try {
      size_t used = 0;
      const int64_t n = std::stoll(item.substr(0, colon), &used);
      if (used != (colon == std::string::npos ? item.size() : colon)) throw std::invalid_argument(item);
      const int64_t batch = colon == std::string::npos ? b.batch_size : std::stoll(item.substr(colon + 1), &used);
      if (colon != std::string::npos && used != item.size() - colon - 1) throw std::invalid_argument(item);
      sweep.emplace_back(n, batch);
    } catch (const std::logic_error&) {
      throw ConfigError("bench.seq_lens: '" + item + "' is not n or n:batch");
    }
  }
  return sweep;
}

EncoderOptions encoder_options_for(const Config& config, int64_t vocab_size, bool causal, int64_t max_len) {
  EncoderOptions o = config.model;
  o.vocab_size = vocab_size;
  o.causal = o.causal || causal;
  o.max_len = max_len;
  return o;
}

}  // namespace seqenc
