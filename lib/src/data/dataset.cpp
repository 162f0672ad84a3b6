#include "seqenc/data/dataset.h"

#include <algorithm>

#include "seqenc/data/task.h"
#include "seqenc/data/tokenizer.h"
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

std::vector<std::string> data_problems(const DataOptions& d) {
  std::vector<std::string> p;
  if (d.max_len <= 0) p.push_back("data.max_len: must be > 0");
  try {
    for (auto& problem : task_spec(d.task).problems(d)) p.push_back(std::move(problem));
  } catch (const DataError& e) {
    p.push_back(e.what());
  }
  for (auto& problem : tokenizer_problems(d)) p.push_back(std::move(problem));
  return p;
}

TaskData load_task(const DataOptions& options) {
  if (auto problems = data_problems(options); !problems.empty()) throw DataError(join(problems, "; "));
  return task_spec(options.task).load(options);
}

}  // namespace seqenc
