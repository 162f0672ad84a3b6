// Datasets as seqenc trains on them: token ids, labels and valid lengths,
// with the vocabulary and label names that give them meaning.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace seqenc {

// Bad input data: the message names the file and line where it can.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Every data setting; synthetic tasks read the generator keys, file formats the file keys.
struct DataOptions {
  std::string task = "lag";  // lag | copy | reverse | recall | listops | tsv_classify | tsv_tag | text_lm
  int64_t max_len = 128;     // longer sequences are truncated (with one warning per file)
  uint64_t seed = 1;
  // users' files
  std::string train, valid, test;  // valid/test empty: split train by the ratios below
  double valid_ratio = 0.1, test_ratio = 0.1;
  std::string tokenizer = "whitespace";  // whitespace | char
  int64_t min_freq = 1;
  int64_t max_vocab = 50000;
  // synthetic tasks
  int64_t train_size = 4000, valid_size = 500, test_size = 500;
  int64_t symbols = 16;                      // distinct content symbols
  int64_t min_len = 48, seq_len = 64;        // sequence lengths drawn from [min_len, seq_len]
  int64_t min_distance = 1, max_distance = 16;  // lag: lookup distances
  int64_t queries = 4;                       // lag: query positions per sequence
  int64_t pairs = 8;                         // recall: key-value pairs (at most)
  int64_t max_depth = 3, max_args = 4;       // listops
};

// Tokens <-> ids. Ids 0-4 are <pad> <unk> <bos> <eos> <cls> in every vocabulary.
class Vocabulary {
 public:
  Vocabulary();
  explicit Vocabulary(const std::vector<std::string>& tokens);  // the specials must come first
  // Adds tokens with count >= min_freq, most frequent first (ties by first use), up to max_size in all.
  static Vocabulary build(const std::vector<std::pair<std::string, int64_t>>& counts_in_first_use_order,
                          int64_t min_freq, int64_t max_size);
  int64_t add(const std::string& token);
  int64_t id(std::string_view token) const;  // <unk> when absent
  bool contains(std::string_view token) const;
  const std::string& token(int64_t id) const;
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  const std::vector<std::string>& tokens() const { return tokens_; }
  void save(const std::string& path) const;  // one token per line
  static Vocabulary load(const std::string& path);

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
};

// Examples stored flat (memory of the order of the token count): example i
// has tokens [offsets[i], offsets[i+1]). Labels: one per example (classify)
// or one per token (tag, lm; kIgnoreLabel where there is none). groups, the
// same shape as labels, holds a group per label (the lag distance) or -1.
struct Dataset {
  std::vector<int32_t> tokens;
  std::vector<int64_t> offsets{0};
  std::vector<int32_t> labels;
  std::vector<int32_t> groups;
  bool per_token_labels = false;

  int64_t size() const { return static_cast<int64_t>(offsets.size()) - 1; }
  int64_t length(int64_t i) const { return offsets[i + 1] - offsets[i]; }
  int64_t num_tokens() const { return static_cast<int64_t>(tokens.size()); }
  // Appends one example; per-token labels/groups must match tokens in length.
  void add(const std::vector<int32_t>& example_tokens, const std::vector<int32_t>& example_labels,
           const std::vector<int32_t>& example_groups);
};

// A task ready to train: three splits and everything needed to read them.
struct TaskData {
  std::string task;
  std::string head;  // classify | tag | lm
  Vocabulary vocab;
  std::vector<std::string> label_names;  // class names (lm: the vocabulary)
  std::string group_name;                // what groups measure ("distance"), empty if none
  bool causal = false;                   // the task needs a causal encoder (lm)
  Dataset train, valid, test;
  int64_t num_classes() const { return static_cast<int64_t>(label_names.size()); }
  int64_t max_length() const;  // longest sequence over the splits
};

// Builds the task named by options.task (synthetic or from files).
TaskData load_task(const DataOptions& options);
bool is_synthetic_task(const std::string& task);
std::vector<std::string> task_names();

// Label and line files: one entry per line, UTF-8.
void save_lines(const std::string& path, const std::vector<std::string>& lines);
std::vector<std::string> load_lines(const std::string& path);

}  // namespace seqenc
