#include <algorithm>
#include <numeric>

#include "seqenc/data/synthetic.h"

namespace seqenc {

namespace {

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

}  // namespace

namespace {
ProblemCheck long_enough(const std::string& task) {
  return [task](const DataOptions& d) {
    return d.seq_len >= 3 ? std::vector<std::string>{}
                          : std::vector<std::string>{"data.seq_len: must be >= 3 for " + task};
  };
}
}  // namespace

TaskSpec copy_task() {
  return synthetic_task(
      HeadKind::tag, [](const DataOptions& o, TaskData& t) { return std::make_unique<CopyTask>(o, t, false); },
      long_enough("copy"));
}

TaskSpec reverse_task() {
  return synthetic_task(
      HeadKind::tag, [](const DataOptions& o, TaskData& t) { return std::make_unique<CopyTask>(o, t, true); },
      long_enough("reverse"));
}

}  // namespace seqenc
