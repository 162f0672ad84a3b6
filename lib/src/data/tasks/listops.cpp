#include <algorithm>
#include <numeric>

#include "seqenc/data/synthetic.h"

namespace seqenc {

namespace {

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

}  // namespace

TaskSpec listops_task() {
  return synthetic_task(
      HeadKind::classify, [](const DataOptions& o, TaskData& t) { return std::make_unique<ListOpsTask>(o, t); },
      [](const DataOptions& d) {
        std::vector<std::string> p;
        if (d.max_depth < 1) p.push_back("data.max_depth: must be >= 1");
        if (d.max_args < 2) p.push_back("data.max_args: must be >= 2");
        if (d.seq_len < 5) p.push_back("data.seq_len: must be >= 5 for listops");
        return p;
      });
}

}  // namespace seqenc
