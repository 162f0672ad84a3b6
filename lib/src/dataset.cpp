#include "seqenc/dataset.h"

#include <algorithm>
#include <fstream>
#include <numeric>

#include "seqenc/heads.h"
#include "seqenc/synthetic.h"
#include "seqenc/text_files.h"

namespace seqenc {

namespace {
const std::vector<std::string> kSpecials = {"<pad>", "<unk>", "<bos>", "<eos>", "<cls>"};
}

Vocabulary::Vocabulary() {
  for (const auto& s : kSpecials) add(s);
}

Vocabulary::Vocabulary(const std::vector<std::string>& tokens) {
  for (size_t i = 0; i < kSpecials.size(); ++i) {
    if (i >= tokens.size() || tokens[i] != kSpecials[i]) {
      throw DataError("vocabulary does not start with the special tokens <pad> <unk> <bos> <eos> <cls>");
    }
  }
  for (const auto& t : tokens) add(t);
}

Vocabulary Vocabulary::build(const std::vector<std::pair<std::string, int64_t>>& counts, int64_t min_freq,
                             int64_t max_size) {
  std::vector<size_t> order(counts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return counts[a].second > counts[b].second; });
  Vocabulary v;
  for (size_t i : order) {
    if (v.size() >= max_size || counts[i].second < min_freq) break;
    v.add(counts[i].first);
  }
  return v;
}

int64_t Vocabulary::add(const std::string& token) {
  auto it = ids_.find(token);
  if (it != ids_.end()) return it->second;
  const int64_t id = size();
  tokens_.push_back(token);
  ids_.emplace(token, id);
  return id;
}

int64_t Vocabulary::id(std::string_view token) const {
  auto it = ids_.find(std::string(token));
  return it == ids_.end() ? kUnkId : it->second;
}

bool Vocabulary::contains(std::string_view token) const { return ids_.count(std::string(token)) > 0; }

const std::string& Vocabulary::token(int64_t id) const {
  if (id < 0 || id >= size()) throw std::out_of_range("token id " + std::to_string(id) + " outside the vocabulary");
  return tokens_[static_cast<size_t>(id)];
}

void Vocabulary::save(const std::string& path) const { save_lines(path, tokens_); }

Vocabulary Vocabulary::load(const std::string& path) { return Vocabulary(load_lines(path)); }

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
  if (is_synthetic_task(options.task)) return make_synthetic_task(options);
  const auto formats = file_format_names();
  if (std::find(formats.begin(), formats.end(), options.task) != formats.end()) return load_file_task(options);
  std::string known;
  for (const auto& n : task_names()) known += (known.empty() ? "" : ", ") + n;
  throw DataError("unknown task '" + options.task + "' (known: " + known + ")");
}

void save_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error("cannot write " + path);
  for (const auto& l : lines) out << l << '\n';
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::vector<std::string> load_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot open file");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

}  // namespace seqenc
