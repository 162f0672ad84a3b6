#include "seqenc/data/synthetic.h"

#include <algorithm>
#include <functional>
#include <numeric>
#include <random>

#include "seqenc/strings.h"

namespace seqenc {

namespace {

using Rng = std::mt19937_64;

int64_t uniform(Rng& rng, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }

// A different but reproducible stream for each split.
Rng split_rng(uint64_t seed, uint64_t split) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(split)};
  return Rng(seq);
}

struct Generator {
  virtual ~Generator() = default;
  virtual void example(Rng& rng, Dataset& out) const = 0;
};

struct LagTask : Generator {
  const DataOptions& o;
  int64_t first_marker;
  LagTask(const DataOptions& options, TaskData& task) : o(options) {
    for (int64_t s = 0; s < o.symbols; ++s) {
      task.vocab.add("s" + std::to_string(s));
      task.label_names.push_back("s" + std::to_string(s));
    }
    first_marker = task.vocab.size();
    for (int64_t d = o.min_distance; d <= o.max_distance; ++d) task.vocab.add("?" + std::to_string(d));
    task.head = HeadKind::tag;
    task.group_name = "distance";
  }
  void example(Rng& rng, Dataset& out) const override {
    const int64_t n = uniform(rng, o.min_len, o.seq_len);
    std::vector<int32_t> tokens(n), labels(n, kIgnoreLabel), groups(n, -1);
    std::vector<int32_t> symbol(n);
    for (int64_t i = 0; i < n; ++i) {
      symbol[i] = static_cast<int32_t>(uniform(rng, 0, o.symbols - 1));
      tokens[i] = static_cast<int32_t>(kNumSpecialTokens + symbol[i]);
    }
    std::vector<bool> marker(n, false), target(n, false);
    int64_t placed = 0;
    for (int64_t attempt = 0; attempt < o.queries * 20 && placed < o.queries; ++attempt) {
      const int64_t d = uniform(rng, o.min_distance, o.max_distance);
      const int64_t t = uniform(rng, d, n - 1);
      if (marker[t] || target[t] || marker[t - d]) continue;
      marker[t] = true;
      target[t - d] = true;
      tokens[t] = static_cast<int32_t>(first_marker + d - o.min_distance);
      labels[t] = symbol[t - d];
      groups[t] = static_cast<int32_t>(d);
      ++placed;
    }
    out.add(tokens, labels, groups);
  }
};

struct CopyTask : Generator {
  const DataOptions& o;
  bool reverse;
  int32_t separator, blank;
  CopyTask(const DataOptions& options, TaskData& task, bool reversed) : o(options), reverse(reversed) {
    for (int64_t s = 0; s < o.symbols; ++s) {
      task.vocab.add("s" + std::to_string(s));
      task.label_names.push_back("s" + std::to_string(s));
    }
    separator = static_cast<int32_t>(task.vocab.add("="));
    blank = static_cast<int32_t>(task.vocab.add("_"));
    task.head = HeadKind::tag;
    task.group_name = "distance";
  }
  void example(Rng& rng, Dataset& out) const override {
    const int64_t lo = std::max<int64_t>(1, (o.min_len - 1) / 2), hi = std::max(lo, (o.seq_len - 1) / 2);
    const int64_t m = uniform(rng, lo, hi), n = 2 * m + 1;
    std::vector<int32_t> tokens(n, blank), labels(n, kIgnoreLabel), groups(n, -1), symbol(m);
    for (int64_t i = 0; i < m; ++i) {
      symbol[i] = static_cast<int32_t>(uniform(rng, 0, o.symbols - 1));
      tokens[i] = static_cast<int32_t>(kNumSpecialTokens + symbol[i]);
    }
    tokens[m] = separator;
    for (int64_t j = 0; j < m; ++j) {
      const int64_t source = reverse ? m - 1 - j : j, position = m + 1 + j;
      labels[position] = symbol[source];
      groups[position] = static_cast<int32_t>(position - source);
    }
    out.add(tokens, labels, groups);
  }
};

struct RecallTask : Generator {
  const DataOptions& o;
  int32_t first_key, first_value, query;
  RecallTask(const DataOptions& options, TaskData& task) : o(options) {
    first_key = static_cast<int32_t>(task.vocab.size());
    for (int64_t s = 0; s < o.symbols; ++s) task.vocab.add("k" + std::to_string(s));
    first_value = static_cast<int32_t>(task.vocab.size());
    for (int64_t s = 0; s < o.symbols; ++s) {
      task.vocab.add("v" + std::to_string(s));
      task.label_names.push_back("v" + std::to_string(s));
    }
    query = static_cast<int32_t>(task.vocab.add("?"));
    task.head = HeadKind::tag;
    task.group_name = "distance";
  }
  void example(Rng& rng, Dataset& out) const override {
    const int64_t K = uniform(rng, std::max<int64_t>(1, o.pairs / 2), o.pairs);
    std::vector<int32_t> keys(o.symbols);
    std::iota(keys.begin(), keys.end(), 0);
    std::shuffle(keys.begin(), keys.end(), rng);
    const int64_t n = 2 * K + 2;
    std::vector<int32_t> tokens(n), labels(n, kIgnoreLabel), groups(n, -1), values(K);
    for (int64_t i = 0; i < K; ++i) {
      values[i] = static_cast<int32_t>(uniform(rng, 0, o.symbols - 1));
      tokens[2 * i] = first_key + keys[i];
      tokens[2 * i + 1] = first_value + values[i];
    }
    const int64_t asked = uniform(rng, 0, K - 1);
    tokens[n - 2] = query;
    tokens[n - 1] = first_key + keys[asked];
    labels[n - 1] = values[asked];
    groups[n - 1] = static_cast<int32_t>(n - 1 - (2 * asked + 1));
    out.add(tokens, labels, groups);
  }
};

struct ListOpsTask : Generator {
  const DataOptions& o;
  int32_t ops[4], close, digit0;
  ListOpsTask(const DataOptions& options, TaskData& task) : o(options) {
    const char* names[4] = {"[MIN", "[MAX", "[MED", "[SM"};
    for (int i = 0; i < 4; ++i) ops[i] = static_cast<int32_t>(task.vocab.add(names[i]));
    close = static_cast<int32_t>(task.vocab.add("]"));
    digit0 = static_cast<int32_t>(task.vocab.size());
    for (int d = 0; d < 10; ++d) {
      task.vocab.add(std::to_string(d));
      task.label_names.push_back(std::to_string(d));
    }
    task.head = HeadKind::classify;
  }
  int32_t expression(Rng& rng, int64_t depth, std::vector<int32_t>& tokens) const {
    if (depth > 0 && (depth >= o.max_depth || uniform(rng, 0, 9) < 3)) {
      const auto d = static_cast<int32_t>(uniform(rng, 0, 9));
      tokens.push_back(digit0 + d);
      return d;
    }
    const auto op = uniform(rng, 0, 3);
    tokens.push_back(ops[op]);
    std::vector<int32_t> args(uniform(rng, 2, o.max_args));
    for (auto& a : args) a = expression(rng, depth + 1, tokens);
    tokens.push_back(close);
    std::sort(args.begin(), args.end());
    switch (op) {
      case 0:
        return args.front();
      case 1:
        return args.back();
      case 2:
        return args[(args.size() - 1) / 2];  // lower median for even counts
      default:
        return std::accumulate(args.begin(), args.end(), 0) % 10;
    }
  }
  void example(Rng& rng, Dataset& out) const override {
    for (;;) {
      std::vector<int32_t> tokens;
      const int32_t value = expression(rng, 0, tokens);
      if (static_cast<int64_t>(tokens.size()) <= o.seq_len) {
        out.add(tokens, {value}, {});
        return;
      }
    }
  }
};

// Word segmentation, a local tagging task: words of a random lexicon written without spaces, each character
// tagged B (begins a word) or I. A tag depends on the few characters around it, never on far ones.
struct SegmentTask : Generator {
  const DataOptions& o;
  std::vector<std::vector<int32_t>> lexicon;
  SegmentTask(const DataOptions& options, TaskData& task) : o(options) {
    for (int64_t s = 0; s < o.symbols; ++s)
      task.vocab.add(std::string(1, static_cast<char>('a' + s % 26)) + (s < 26 ? "" : std::to_string(s / 26)));
    task.label_names = {"B", "I"};
    task.head = HeadKind::tag;
    auto rng = split_rng(o.seed, 99);  // the lexicon is the same in every split
    for (int64_t w = 0; w < o.words; ++w) {
      std::vector<int32_t> word(static_cast<size_t>(uniform(rng, 2, 6)));
      for (auto& c : word) c = static_cast<int32_t>(kNumSpecialTokens + uniform(rng, 0, o.symbols - 1));
      lexicon.push_back(word);
    }
  }
  void example(Rng& rng, Dataset& out) const override {
    const int64_t n = uniform(rng, o.min_len, o.seq_len);
    std::vector<int32_t> tokens, labels;
    while (static_cast<int64_t>(tokens.size()) < n) {
      const auto& word = lexicon[static_cast<size_t>(uniform(rng, 0, o.words - 1))];
      for (size_t i = 0; i < word.size() && static_cast<int64_t>(tokens.size()) < n; ++i) {
        tokens.push_back(word[i]);
        labels.push_back(i == 0 ? 0 : 1);
      }
    }
    out.add(tokens, labels, std::vector<int32_t>(tokens.size(), -1));
  }
};

}  // namespace

std::vector<std::string> synthetic_task_names() { return {"lag", "copy", "reverse", "recall", "listops", "segment"}; }

TaskData make_synthetic_task(const DataOptions& o) {
  if (auto problems = data_problems(o); !problems.empty()) throw DataError(join(problems, "; "));
  TaskData task;
  task.task = o.task;
  std::unique_ptr<Generator> gen;
  if (o.task == "lag")
    gen = std::make_unique<LagTask>(o, task);
  else if (o.task == "copy")
    gen = std::make_unique<CopyTask>(o, task, false);
  else if (o.task == "reverse")
    gen = std::make_unique<CopyTask>(o, task, true);
  else if (o.task == "recall")
    gen = std::make_unique<RecallTask>(o, task);
  else if (o.task == "listops")
    gen = std::make_unique<ListOpsTask>(o, task);
  else if (o.task == "segment")
    gen = std::make_unique<SegmentTask>(o, task);
  else
    throw DataError("unknown synthetic task '" + o.task + "'");
  const bool per_token = task.head == HeadKind::tag;
  const std::pair<Dataset*, int64_t> splits[] = {
      {&task.train, o.train_size}, {&task.valid, o.valid_size}, {&task.test, o.test_size}};
  uint64_t split = 0;
  for (auto [dataset, size] : splits) {
    dataset->per_token_labels = per_token;
    auto rng = split_rng(o.seed, split++);
    for (int64_t i = 0; i < size; ++i) gen->example(rng, *dataset);
  }
  return task;
}

}  // namespace seqenc
