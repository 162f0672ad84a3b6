#include "seqenc/data/text_files.h"

#include <set>
#include <unordered_map>

#include "seqenc/data/line_reader.h"
#include "seqenc/data/token_counts.h"
#include "seqenc/strings.h"

namespace seqenc {

namespace {

// More distinct labels than this is a file whose label column is not a label.
constexpr int64_t kMaxLabels = 1000000;

// Deterministic split of line number `line` of a single file.
int split_of(uint64_t seed, int64_t line, double valid_ratio, double test_ratio) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(line) + 0x632BE59BD9B4E9B5ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  const double u = static_cast<double>(z >> 11) / 9007199254740992.0;
  return u < valid_ratio ? 1 : (u < valid_ratio + test_ratio ? 2 : 0);
}

// A line's example, or false for a blank line or one the format skips.
bool read_record(const std::string& line, const FileFormat& format, const Tokenizer& tokenizer, bool require_labels,
                 const LineReader& reader, Record& r) {
  if (trim(line).empty()) return false;  // blank lines separate nothing and carry nothing
  r.tokens.clear();
  r.labels.clear();
  return format.parse(line, tokenizer, require_labels, reader, r);
}

// Reads one file's examples (those of `split` when split >= 0) into token and label ids.
class SplitReader {
 public:
  SplitReader(const DataOptions& o, const FileFormat& format, const Tokenizer& tokenizer, const Vocabulary& vocab,
              const std::vector<std::string>& labels)
      : o_(o), format_(format), tokenizer_(tokenizer), vocab_(vocab) {
    for (size_t i = 0; i < labels.size(); ++i) label_ids_.emplace(labels[i], static_cast<int32_t>(i));
  }

  Dataset read(const std::string& path, int split, bool require_labels) {
    Dataset d;
    d.per_token_labels = format_.head != HeadKind::classify;
    LineReader reader(path, o_.max_line_bytes);
    std::string line;
    Record r;
    int64_t truncated = 0, examples = 0;
    std::vector<int32_t> stream;  // lm: the split's tokens, <eos> after each line
    while (reader.next(line)) {
      if (split >= 0 && split_of(o_.seed, reader.number(), o_.valid_ratio, o_.test_ratio) != split) continue;
      if (!read_record(line, format_, tokenizer_, require_labels, reader, r)) continue;
      ++examples;
      if (format_.head == HeadKind::lm) {
        for (const auto& t : r.tokens) stream.push_back(static_cast<int32_t>(vocab_.id(t)));
        stream.push_back(static_cast<int32_t>(kEosId));
        continue;
      }
      if (static_cast<int64_t>(r.tokens.size()) > o_.max_len) ++truncated;
      add_example(r, reader, d);
    }
    if (split < 0 && examples == 0) throw DataError(path + ": file is empty");
    if (truncated > 0) {
      d.warnings.push_back(path + ": " + std::to_string(truncated) + " sequences longer than data.max_len " +
                           std::to_string(o_.max_len) + " were truncated");
    }
    if (format_.head == HeadKind::lm) chunk_stream(stream, d);
    return d;
  }

 private:
  // One example as ids, truncated to data.max_len (per-token labels with it).
  void add_example(Record& r, const LineReader& reader, Dataset& d) const {
    if (static_cast<int64_t>(r.tokens.size()) > o_.max_len) {
      r.tokens.resize(o_.max_len);
      if (r.labels.size() > 1) r.labels.resize(o_.max_len);
    }
    std::vector<int32_t> ids, labels;
    for (const auto& t : r.tokens) ids.push_back(static_cast<int32_t>(vocab_.id(t)));
    for (const auto& l : r.labels) {
      if (l.empty()) {  // a word's later pieces
        labels.push_back(static_cast<int32_t>(kIgnoreLabel));
        continue;
      }
      auto it = label_ids_.find(l);
      if (it == label_ids_.end()) reader.fail(format_.label_word + " '" + l + "' was not seen in training");
      labels.push_back(it->second);
    }
    if (labels.empty()) labels.assign(d.per_token_labels ? ids.size() : 1, static_cast<int32_t>(kIgnoreLabel));
    d.add(ids, labels, {});
  }

  // Next-token windows of max_len over the stream: input s[i..i+L), labels s[i+1..i+L].
  void chunk_stream(const std::vector<int32_t>& stream, Dataset& d) const {
    const auto total = static_cast<int64_t>(stream.size());
    for (int64_t start = 0; start + 1 < total; start += o_.max_len) {
      const int64_t len = std::min(o_.max_len, total - 1 - start);
      std::vector<int32_t> input(stream.begin() + start, stream.begin() + start + len);
      std::vector<int32_t> target(stream.begin() + start + 1, stream.begin() + start + 1 + len);
      d.add(input, target, {});
    }
  }

  const DataOptions& o_;
  const FileFormat& format_;
  const Tokenizer& tokenizer_;
  const Vocabulary& vocab_;
  std::unordered_map<std::string, int32_t> label_ids_;
};

// The training split's texts, for a tokenizer that learns a model from them.
TextStream training_text(const DataOptions& o, const FileFormat& format, bool single_file) {
  return [&o, &format, single_file](const std::function<void(const std::string&)>& text) {
    LineReader reader(o.train, o.max_line_bytes);
    std::string line;
    while (reader.next(line)) {
      if (trim(line).empty()) continue;
      if (single_file && split_of(o.seed, reader.number(), o.valid_ratio, o.test_ratio) != 0) continue;
      text(format.text ? format.text(line) : line);
    }
  };
}

// Pass 1 of a load: label names, and token counts unless the tokenizer has its own vocabulary, from the training
// split only.
void count_training_split(const DataOptions& o, const FileFormat& format, const Tokenizer& tokenizer, bool single_file,
                          TokenCounts* counts, std::set<std::string>& labels) {
  LineReader reader(o.train, o.max_line_bytes);
  std::string line;
  Record r;
  int64_t examples = 0;
  while (reader.next(line)) {
    if (!read_record(line, format, tokenizer, true, reader, r)) continue;
    ++examples;
    if (single_file && split_of(o.seed, reader.number(), o.valid_ratio, o.test_ratio) != 0) continue;
    if (counts) {
      for (const auto& t : r.tokens) counts->add(t);
    }
    for (const auto& l : r.labels) {
      if (!l.empty()) labels.insert(l);
    }
    if (static_cast<int64_t>(labels.size()) > kMaxLabels) {
      reader.fail("more than " + std::to_string(kMaxLabels) + " distinct labels (is the label column right?)");
    }
  }
  if (examples == 0) throw DataError(o.train + ": file is empty");
}

}  // namespace

Dataset read_file(const std::string& path, const DataOptions& options, const Tokenizer& tokenizer,
                  const Vocabulary& vocab, const std::vector<std::string>& label_names, bool require_labels,
                  int split) {
  const auto spec = task_spec(options.task);
  if (!spec.format) throw DataError("data.task: " + options.task.name() + " is synthetic; it reads no files");
  SplitReader reader(options, *spec.format, tokenizer, vocab, label_names);
  return reader.read(path, split, require_labels);
}

TaskData load_file_task(const DataOptions& o, const FileFormat& format) {
  if (auto problems = data_problems(o); !problems.empty()) throw DataError(join(problems, "; "));
  const bool single_file = o.valid.empty() && o.test.empty();
  TaskData task;
  task.task = o.task;
  task.head = format.head;
  task.causal = task.head == HeadKind::lm;

  task.tokenizer = make_tokenizer(o, training_text(o, format, single_file));
  const auto pieces = task.tokenizer->pieces();
  TokenCounts counts(o.max_distinct_tokens);
  std::set<std::string> labels;
  count_training_split(o, format, *task.tokenizer, single_file, pieces.empty() ? &counts : nullptr, labels);
  task.vocab = pieces.empty() ? Vocabulary::build(counts.in_first_use_order(), o.min_freq, o.max_vocab)
                              : Vocabulary::with_pieces(pieces);
  task.label_names =
      task.head == HeadKind::lm ? task.vocab.tokens() : std::vector<std::string>(labels.begin(), labels.end());

  // Pass 2: encode each split.
  SplitReader reader(o, format, *task.tokenizer, task.vocab, task.label_names);
  task.train = reader.read(o.train, single_file ? 0 : -1, true);
  task.valid = reader.read(single_file ? o.train : o.valid, single_file ? 1 : -1, true);
  task.test = reader.read(single_file ? o.train : o.test, single_file ? 2 : -1, true);
  if (task.train.size() == 0) throw DataError(o.train + ": the training split is empty");
  if (task.valid.size() == 0 || task.test.size() == 0) {
    throw DataError(o.train + ": the validation or test split is empty; give more lines or larger ratios");
  }
  if (counts.floor() > 0) {
    task.train.warnings.push_back(
        o.train + ": more than data.max_distinct_tokens (" + std::to_string(o.max_distinct_tokens) +
        ") distinct tokens: rare ones were pruned while counting, a count may be low by up to " +
        std::to_string(counts.floor()) + " (raise the key to count exactly)");
  }
  return task;
}

}  // namespace seqenc
