#include "seqenc/data/file_format.h"

#include "seqenc/data/text_files.h"

namespace seqenc {

namespace {
std::vector<std::string> file_problems(const DataOptions& d) {
  std::vector<std::string> p;
  auto need = [&p](bool ok, const std::string& problem) {
    if (!ok) p.push_back(problem);
  };
  need(!d.train.empty(), "data.train: a training file is needed for task " + d.task.name());
  need(d.valid.empty() == d.test.empty(), "data.valid, data.test: give both, or neither to split data.train");
  need(d.valid_ratio >= 0 && d.test_ratio >= 0 && d.valid_ratio + d.test_ratio < 1,
       "data.valid_ratio, data.test_ratio: must be >= 0 and sum to less than 1");
  need(d.min_freq >= 1, "data.min_freq: must be >= 1");
  need(d.max_vocab > kNumSpecialTokens, "data.max_vocab: must be > " + std::to_string(kNumSpecialTokens));
  need(d.max_line_bytes >= 1, "data.max_line_bytes: must be >= 1");
  need(d.max_distinct_tokens >= d.max_vocab, "data.max_distinct_tokens: must be >= data.max_vocab");
  return p;
}
}  // namespace

TaskSpec file_task(FileFormat format) {
  auto shared = std::make_shared<const FileFormat>(std::move(format));
  TaskSpec spec;
  spec.head = shared->head;
  spec.format = shared;
  spec.problems = file_problems;
  spec.load = [shared](const DataOptions& o) { return load_file_task(o, *shared); };
  return spec;
}

TabSplit split_at_tab(const std::string& line, bool require_labels, const LineReader& reader,
                      const std::string& expected) {
  TabSplit split;
  const auto tab = line.find('\t');
  if (tab == std::string::npos) {
    if (require_labels) reader.fail(expected + ", found no tab");
    split.text = line;
    return split;
  }
  split.text = line.substr(0, tab);
  split.labels = line.substr(tab + 1);
  split.has_labels = true;
  if (split.labels.find('\t') != std::string::npos) reader.fail("more than one tab");
  return split;
}

std::string text_before_tab(const std::string& line) { return line.substr(0, line.find('\t')); }

}  // namespace seqenc
