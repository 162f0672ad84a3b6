#include "seqenc/data/dataset.h"

#include <algorithm>

#include "seqenc/data/synthetic.h"
#include "seqenc/data/text_files.h"
#include "seqenc/strings.h"

namespace seqenc {

void Dataset::add(const std::vector<int32_t>& example_tokens, const std::vector<int32_t>& example_labels,
                  const std::vector<int32_t>& example_groups) {
  tokens.insert(tokens.end(), example_tokens.begin(), example_tokens.end());
  offsets.push_back(static_cast<int64_t>(tokens.size()));
  labels.insert(labels.end(), example_labels.begin(), example_labels.end());
  if (example_groups.empty()) {
    groups.insert(groups.end(), example_labels.size(), -1);
  } else {
    groups.insert(groups.end(), example_groups.begin(), example_groups.end());
  }
}

int64_t TaskData::max_length() const {
  int64_t longest = 0;
  for (const Dataset* d : {&train, &valid, &test})
    for (int64_t i = 0; i < d->size(); ++i) longest = std::max(longest, d->length(i));
  return longest;
}

std::vector<std::string> TaskData::warnings() const {
  std::vector<std::string> all;
  for (const Dataset* d : {&train, &valid, &test}) all.insert(all.end(), d->warnings.begin(), d->warnings.end());
  return all;
}

namespace {
void synthetic_problems(const DataOptions& d, std::vector<std::string>& p) {
  auto need = [&p](bool ok, const std::string& problem) {
    if (!ok) p.push_back(problem);
  };
  const auto num = [](int64_t v) { return std::to_string(v); };
  need(d.symbols >= 2, "data.symbols: must be >= 2");
  need(d.min_len >= 1 && d.min_len <= d.seq_len, "data.min_len: must be in [1, data.seq_len]");
  need(d.seq_len <= d.max_len, "data.seq_len: " + num(d.seq_len) + " exceeds data.max_len " + num(d.max_len));
  need(d.train_size > 0, "data.train_size: must be > 0");
  need(d.valid_size > 0, "data.valid_size: must be > 0");
  need(d.test_size > 0, "data.test_size: must be > 0");
  if (d.task == "lag") {
    need(d.min_distance >= 1, "data.min_distance: must be >= 1");
    need(d.max_distance >= d.min_distance, "data.max_distance: must be >= data.min_distance");
    need(d.max_distance < d.min_len, "data.max_distance: " + num(d.max_distance) + " must be below data.min_len " +
                                         num(d.min_len) + " so that every distance fits in every sequence");
    need(d.queries >= 1, "data.queries: must be >= 1");
  }
  if (d.task == "copy" || d.task == "reverse") need(d.seq_len >= 3, "data.seq_len: must be >= 3 for " + d.task);
  if (d.task == "recall") {
    need(d.pairs >= 1 && d.pairs <= d.symbols,
         "data.pairs: " + num(d.pairs) + " must be in [1, data.symbols]: keys are distinct");
    need(2 * d.pairs + 2 <= d.max_len, "data.pairs: 2 * pairs + 2 exceeds data.max_len");
  }
  if (d.task == "segment") {
    need(d.words >= 2, "data.words: must be >= 2");
    need(d.seq_len >= 6, "data.seq_len: must be >= 6 for segment (the longest word)");
  }
  if (d.task == "listops") {
    need(d.max_depth >= 1, "data.max_depth: must be >= 1");
    need(d.max_args >= 2, "data.max_args: must be >= 2");
    need(d.seq_len >= 5, "data.seq_len: must be >= 5 for listops");
  }
}

void file_problems(const DataOptions& d, std::vector<std::string>& p) {
  auto need = [&p](bool ok, const std::string& problem) {
    if (!ok) p.push_back(problem);
  };
  need(!d.train.empty(), "data.train: a training file is needed for task " + d.task);
  need(d.valid.empty() == d.test.empty(), "data.valid, data.test: give both, or neither to split data.train");
  need(d.valid_ratio >= 0 && d.test_ratio >= 0 && d.valid_ratio + d.test_ratio < 1,
       "data.valid_ratio, data.test_ratio: must be >= 0 and sum to less than 1");
  need(d.min_freq >= 1, "data.min_freq: must be >= 1");
  need(d.max_vocab > kNumSpecialTokens, "data.max_vocab: must be > " + std::to_string(kNumSpecialTokens));
  need(d.max_line_bytes >= 1, "data.max_line_bytes: must be >= 1");
  need(d.max_distinct_tokens >= d.max_vocab, "data.max_distinct_tokens: must be >= data.max_vocab");
}
}  // namespace

std::vector<std::string> data_problems(const DataOptions& d) {
  std::vector<std::string> p;
  if (d.max_len <= 0) p.push_back("data.max_len: must be > 0");
  const auto formats = file_format_names();
  if (is_synthetic_task(d.task)) {
    synthetic_problems(d, p);
  } else if (std::find(formats.begin(), formats.end(), d.task) != formats.end()) {
    file_problems(d, p);
  } else {
    p.push_back("data.task: unknown task '" + d.task + "' (known: " + join(task_names(), ", ") + ")");
  }
  return p;
}

bool is_synthetic_task(const std::string& task) {
  const auto names = synthetic_task_names();
  return std::find(names.begin(), names.end(), task) != names.end();
}

std::vector<std::string> task_names() {
  auto names = synthetic_task_names();
  for (const auto& n : file_format_names()) names.push_back(n);
  return names;
}

TaskData load_task(const DataOptions& options) {
  if (auto problems = data_problems(options); !problems.empty()) throw DataError(join(problems, "; "));
  return is_synthetic_task(options.task) ? make_synthetic_task(options) : load_file_task(options);
}

}  // namespace seqenc
