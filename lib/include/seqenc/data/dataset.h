// Datasets as seqenc trains on them: token ids, labels and valid lengths,
// with the vocabulary and label names that give them meaning.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "seqenc/choices.h"
#include "seqenc/data/vocabulary.h"
#include "seqenc/error.h"
#include "seqenc/registry.h"

namespace seqenc {

struct TaskSpec;       // data/task.h: a synthetic task or a file format
struct TokenizerSpec;  // data/tokenizer.h
class Tokenizer;       // data/tokenizer.h
using TaskName = Choice<TaskSpec>;
using TokenizerName = Choice<TokenizerSpec>;

// What a task's labels are, and so which head trains it: one label per
// sequence (classify), one per position (tag), the next token (lm).
enum class HeadKind { classify, tag, lm };
SEQENC_CHOICES(HeadKind, {HeadKind::classify, "classify"}, {HeadKind::tag, "tag"}, {HeadKind::lm, "lm"});

// What kind of SentencePiece model data.tokenizer sentencepiece trains (SentencePiece's model_type).
enum class SubwordModel { unigram, bpe };
SEQENC_CHOICES(SubwordModel, {SubwordModel::unigram, "unigram"}, {SubwordModel::bpe, "bpe"});

// Every data setting; synthetic tasks read the generator keys, file formats the file keys.
struct DataOptions {
  TaskName task{"lag"};   // a registered task (data/task.h): a synthetic generator or a file format
  int64_t max_len = 128;  // longer sequences are truncated (with one warning per file)
  uint64_t seed = 1;
  // users' files
  std::string train, valid, test;  // valid/test empty: split train by the ratios below
  double valid_ratio = 0.1, test_ratio = 0.1;
  TokenizerName tokenizer{"whitespace"};  // a registered tokenizer (data/tokenizer.h)
  int64_t min_freq = 1;
  int64_t max_vocab = 50000;
  int64_t max_line_bytes = int64_t{1} << 24;  // a longer line is an error: reading memory stays bounded
  int64_t max_distinct_tokens = 4000000;      // counting the vocabulary holds at most this many (~100 bytes each)
  // data.tokenizer sentencepiece (lib/src/data/tokenizers/sentencepiece.cpp)
  std::string spm_model;          // an existing SentencePiece model; empty: one is trained on the training split
  int64_t spm_vocab_size = 8000;  // a trained model's pieces, seqenc's 5 special tokens included
  SubwordModel spm_model_type = SubwordModel::unigram;
  double spm_character_coverage = 0.9995;  // share of the training text's characters a trained model covers
  int64_t spm_sample_lines = 100000;       // most training lines it learns from (bounded memory and time)
  // synthetic tasks
  int64_t train_size = 4000, valid_size = 500, test_size = 500;
  int64_t symbols = 16;                         // distinct content symbols
  int64_t min_len = 48, seq_len = 64;           // sequence lengths drawn from [min_len, seq_len]
  int64_t min_distance = 1, max_distance = 16;  // lag: lookup distances
  int64_t queries = 4;                          // lag: query positions per sequence
  int64_t pairs = 8;                            // recall: key-value pairs (at most)
  int64_t max_depth = 3, max_args = 4;          // listops
  int64_t words = 64;                           // segment: lexicon size (words of 2-6 of the symbols)
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
  std::vector<std::string> warnings;  // e.g. truncated lines: the caller logs them where the run logs

  int64_t size() const { return static_cast<int64_t>(offsets.size()) - 1; }
  int64_t length(int64_t i) const { return offsets[i + 1] - offsets[i]; }
  int64_t num_tokens() const { return static_cast<int64_t>(tokens.size()); }
  // Appends one example; per-token labels/groups must match tokens in length.
  void add(const std::vector<int32_t>& example_tokens, const std::vector<int32_t>& example_labels,
           const std::vector<int32_t>& example_groups);
};

// A task ready to train: three splits and everything needed to read them.
struct TaskData {
  TaskName task;
  HeadKind head = HeadKind::classify;
  Vocabulary vocab;
  std::vector<std::string> label_names;        // class names (lm: the vocabulary)
  std::shared_ptr<const Tokenizer> tokenizer;  // how the files' text became tokens; null for a synthetic task
  std::string group_name;                      // what groups measure ("distance"), empty if none
  bool causal = false;                         // the task needs a causal encoder (lm)
  Dataset train, valid, test;
  int64_t num_classes() const { return static_cast<int64_t>(label_names.size()); }
  int64_t max_length() const;                 // longest sequence over the splits
  std::vector<std::string> warnings() const;  // of every split
};

// Every problem of options, each "data.key: problem": those every task shares, then the task's own. The one
// place data options are checked.
std::vector<std::string> data_problems(const DataOptions& options);

// Builds the task named by options.task (synthetic or from files); DataError on bad options or input.
TaskData load_task(const DataOptions& options);

}  // namespace seqenc
