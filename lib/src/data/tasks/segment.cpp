#include <algorithm>
#include <numeric>

#include "seqenc/data/synthetic.h"

namespace seqenc {

namespace {

// Word segmentation, a local tagging task: words of a random lexicon written without spaces, each character
// tagged B (begins a word) or I. A tag depends on the few characters around it, never on far ones.
struct SegmentTask : Generator {
  const DataOptions& o;
  std::vector<std::vector<int32_t>> lexicon;
  SegmentTask(const DataOptions& options, TaskData& task) : o(options) {
    for (int64_t s = 0; s < o.symbols; ++s)
      task.vocab.add(std::string(1, static_cast<char>('a' + s % 26)) + (s < 26 ? "" : std::to_string(s / 26)));
    task.label_names = {"B", "I"};
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

TaskSpec segment_task() {
  return synthetic_task(
      HeadKind::tag, [](const DataOptions& o, TaskData& t) { return std::make_unique<SegmentTask>(o, t); },
      [](const DataOptions& d) {
        std::vector<std::string> p;
        if (d.words < 2) p.push_back("data.words: must be >= 2");
        if (d.seq_len < 6) p.push_back("data.seq_len: must be >= 6 for segment (the longest word)");
        return p;
      });
}

}  // namespace seqenc
