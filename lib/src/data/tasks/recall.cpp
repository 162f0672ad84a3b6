#include <algorithm>
#include <numeric>

#include "seqenc/data/synthetic.h"

namespace seqenc {

namespace {

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

}  // namespace

TaskSpec recall_task() {
  return synthetic_task(
      HeadKind::tag, [](const DataOptions& o, TaskData& t) { return std::make_unique<RecallTask>(o, t); },
      [](const DataOptions& d) {
        std::vector<std::string> p;
        if (d.pairs < 1 || d.pairs > d.symbols)
          p.push_back("data.pairs: " + std::to_string(d.pairs) + " must be in [1, data.symbols]: keys are distinct");
        if (2 * d.pairs + 2 > d.max_len) p.push_back("data.pairs: 2 * pairs + 2 exceeds data.max_len");
        return p;
      });
}

}  // namespace seqenc
