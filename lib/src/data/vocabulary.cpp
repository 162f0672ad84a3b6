#include "seqenc/data/vocabulary.h"

#include <algorithm>
#include <fstream>
#include <numeric>
#include <stdexcept>

#include "seqenc/error.h"
#include "seqenc/files.h"

namespace seqenc {

namespace {
const std::vector<std::string> kSpecials = {"<pad>", "<unk>", "<bos>", "<eos>", "<cls>"};
}

const std::vector<std::string>& special_tokens() { return kSpecials; }

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
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return counts[a].second > counts[b].second; });
  Vocabulary v;
  for (size_t i : order) {
    if (v.size() >= max_size || counts[i].second < min_freq) break;
    v.add(counts[i].first);
  }
  return v;
}

Vocabulary Vocabulary::with_pieces(const std::vector<std::string>& pieces) {
  Vocabulary v;
  for (const auto& piece : pieces) {
    if (v.contains(piece)) throw DataError("the tokenizer's piece '" + piece + "' is a special token or repeats");
    v.add(piece);
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

Vocabulary Vocabulary::load(const std::string& path) {
  const auto tokens = load_lines(path);
  try {
    return Vocabulary(tokens);
  } catch (const DataError& e) {
    throw DataError(path + ": " + e.what());
  }
}

void save_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + '\n';
  write_file_atomic(path, text);
}

std::vector<std::string> load_lines(const std::string& path) {
  if (auto why = input_problem(path); !why.empty()) throw DataError(path + ": " + why);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot open file");
  std::vector<std::string> lines;
  std::unordered_map<std::string, size_t> seen;  // a repeated entry would shift every id after it
  std::string line;
  while (std::getline(in, line)) {
    const auto number = lines.size() + 1;
    if (line.empty()) throw DataError(path + ":" + std::to_string(number) + ": empty entry");
    auto [it, inserted] = seen.emplace(line, number);
    if (!inserted) {
      throw DataError(path + ":" + std::to_string(number) + ": entry repeats line " + std::to_string(it->second));
    }
    lines.push_back(line);
  }
  return lines;
}

}  // namespace seqenc
