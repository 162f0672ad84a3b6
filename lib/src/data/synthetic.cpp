#include "seqenc/data/synthetic.h"

#include "seqenc/strings.h"

namespace seqenc {

int64_t uniform(Rng& rng, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }

Rng split_rng(uint64_t seed, uint64_t split) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(split)};
  return Rng(seq);
}

namespace {

std::vector<std::string> shared_problems(const DataOptions& d) {
  std::vector<std::string> p;
  auto need = [&p](bool ok, const std::string& problem) {
    if (!ok) p.push_back(problem);
  };
  need(d.symbols >= 2, "data.symbols: must be >= 2");
  need(d.min_len >= 1 && d.min_len <= d.seq_len, "data.min_len: must be in [1, data.seq_len]");
  need(d.seq_len <= d.max_len,
       "data.seq_len: " + std::to_string(d.seq_len) + " exceeds data.max_len " + std::to_string(d.max_len));
  need(d.train_size > 0, "data.train_size: must be > 0");
  need(d.valid_size > 0, "data.valid_size: must be > 0");
  need(d.test_size > 0, "data.test_size: must be > 0");
  return p;
}

TaskData generate(const DataOptions& o, HeadKind head, const GeneratorFactory& make) {
  TaskData task;
  task.task = o.task;
  task.head = head;
  const auto generator = make(o, task);
  const std::pair<Dataset*, int64_t> splits[] = {
      {&task.train, o.train_size}, {&task.valid, o.valid_size}, {&task.test, o.test_size}};
  uint64_t split = 0;
  for (auto [dataset, size] : splits) {
    dataset->per_token_labels = head != HeadKind::classify;
    auto rng = split_rng(o.seed, split++);
    for (int64_t i = 0; i < size; ++i) generator->example(rng, *dataset);
  }
  return task;
}

}  // namespace

TaskSpec synthetic_task(HeadKind head, GeneratorFactory make, ProblemCheck problems) {
  TaskSpec spec;
  spec.head = head;
  spec.problems = [problems](const DataOptions& o) {
    auto p = shared_problems(o);
    if (problems) {
      for (auto& more : problems(o)) p.push_back(std::move(more));
    }
    return p;
  };
  spec.load = [head, make](const DataOptions& o) { return generate(o, head, make); };
  return spec;
}

}  // namespace seqenc
