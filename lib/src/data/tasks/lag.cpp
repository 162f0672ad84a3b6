#include <algorithm>
#include <numeric>

#include "seqenc/data/synthetic.h"

namespace seqenc {

namespace {

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

}  // namespace

TaskSpec lag_task() {
  return synthetic_task(
      HeadKind::tag, [](const DataOptions& o, TaskData& t) { return std::make_unique<LagTask>(o, t); },
      [](const DataOptions& d) {
        std::vector<std::string> p;
        auto need = [&p](bool ok, const std::string& problem) {
          if (!ok) p.push_back(problem);
        };
        need(d.min_distance >= 1, "data.min_distance: must be >= 1");
        need(d.max_distance >= d.min_distance, "data.max_distance: must be >= data.min_distance");
        need(d.max_distance < d.min_len, "data.max_distance: " + std::to_string(d.max_distance) +
                                             " must be below data.min_len " + std::to_string(d.min_len) +
                                             " so that every distance fits in every sequence");
        need(d.queries >= 1, "data.queries: must be >= 1");
        return p;
      });
}

}  // namespace seqenc
