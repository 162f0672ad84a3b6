#include "seqenc/data/text_files.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <unordered_map>

#include "seqenc/data/line_reader.h"
#include "seqenc/data/token_counts.h"
#include "seqenc/strings.h"

namespace seqenc {

std::vector<std::string> file_format_names() { return {"tsv_classify", "tsv_tag", "text_lm"}; }

HeadKind head_for_format(const std::string& format) {
  return format == "tsv_classify" ? HeadKind::classify : format == "tsv_tag" ? HeadKind::tag : HeadKind::lm;
}

namespace {

// More distinct labels than this is a file whose label column is not a label.
constexpr int64_t kMaxLabels = 1000000;

std::vector<std::string> split_whitespace(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    if (j > i) out.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// One parsed line of a training-format file.
struct Record {
  std::vector<std::string> tokens;
  std::vector<std::string> labels;  // one (classify), one per token (tag), none (lm / unlabelled)
};

bool parse_line(const std::string& line, const DataOptions& o, bool require_labels, const LineReader& reader,
                Record& r) {
  if (trim(line).empty()) return false;  // blank lines separate nothing and carry nothing
  if (o.task == "text_lm") {
    r.tokens = tokenize(line, o.tokenizer);
    r.labels.clear();
    return !r.tokens.empty();
  }
  const auto tab = line.find('\t');
  std::string text = line, rest;
  if (tab == std::string::npos) {
    if (require_labels) {
      reader.fail(o.task == "tsv_tag" ? "expected tokens<TAB>tags, found no tab"
                                      : "expected text<TAB>label, found no tab");
    }
  } else {
    text = line.substr(0, tab);
    rest = line.substr(tab + 1);
    if (rest.find('\t') != std::string::npos) reader.fail("more than one tab");
  }
  r.tokens = tokenize(text, o.tokenizer);
  if (r.tokens.empty()) reader.fail("empty text");
  r.labels.clear();
  if (tab == std::string::npos) return true;
  if (o.task == "tsv_classify") {
    auto label = trim(rest);
    if (label.empty()) reader.fail("empty label");
    r.labels.push_back(label);
  } else {
    r.labels = split_whitespace(rest);
    if (r.labels.size() != r.tokens.size()) {
      reader.fail(std::to_string(r.tokens.size()) + " tokens but " + std::to_string(r.labels.size()) + " tags");
    }
  }
  return true;
}

// Deterministic split of line number `line` of a single file.
int split_of(uint64_t seed, int64_t line, double valid_ratio, double test_ratio) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(line) + 0x632BE59BD9B4E9B5ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  const double u = static_cast<double>(z >> 11) / 9007199254740992.0;
  return u < valid_ratio ? 1 : (u < valid_ratio + test_ratio ? 2 : 0);
}

// Reads one file's examples (those of `split` when split >= 0) into token and label ids.
class SplitReader {
 public:
  SplitReader(const DataOptions& o, const Vocabulary& vocab, const std::vector<std::string>& labels)
      : o_(o), vocab_(vocab) {
    for (size_t i = 0; i < labels.size(); ++i) label_ids_.emplace(labels[i], static_cast<int32_t>(i));
  }
  Dataset read(const std::string& path, int split, bool require_labels) {
    Dataset d;
    d.per_token_labels = o_.task != "tsv_classify";
    LineReader reader(path, o_.max_line_bytes);
    std::string line;
    Record r;
    int64_t truncated = 0, examples = 0;
    std::vector<int32_t> stream;  // text_lm: the split's tokens, <eos> after each line
    while (reader.next(line)) {
      if (split >= 0 && split_of(o_.seed, reader.number(), o_.valid_ratio, o_.test_ratio) != split) continue;
      if (!parse_line(line, o_, require_labels, reader, r)) continue;
      ++examples;
      if (o_.task == "text_lm") {
        for (const auto& t : r.tokens) stream.push_back(static_cast<int32_t>(vocab_.id(t)));
        stream.push_back(static_cast<int32_t>(kEosId));
        continue;
      }
      if (static_cast<int64_t>(r.tokens.size()) > o_.max_len) {
        ++truncated;
        r.tokens.resize(o_.max_len);
        if (r.labels.size() > 1) r.labels.resize(o_.max_len);
      }
      std::vector<int32_t> ids, labels;
      for (const auto& t : r.tokens) ids.push_back(static_cast<int32_t>(vocab_.id(t)));
      for (const auto& l : r.labels) {
        auto it = label_ids_.find(l);
        if (it == label_ids_.end()) {
          reader.fail((o_.task == "tsv_tag" ? "tag '" : "label '") + l + "' was not seen in training");
        }
        labels.push_back(it->second);
      }
      if (labels.empty()) labels.assign(d.per_token_labels ? ids.size() : 1, static_cast<int32_t>(kIgnoreLabel));
      d.add(ids, labels, {});
    }
    if (split < 0 && examples == 0) throw DataError(path + ": file is empty");
    if (truncated > 0) {
      d.warnings.push_back(path + ": " + std::to_string(truncated) + " sequences longer than data.max_len " +
                           std::to_string(o_.max_len) + " were truncated");
    }
    if (o_.task == "text_lm") chunk_stream(stream, d);
    return d;
  }

 private:
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
  const Vocabulary& vocab_;
  std::unordered_map<std::string, int32_t> label_ids_;
};

}  // namespace

std::vector<std::string> tokenize(const std::string& text, Tokenizer tokenizer) {
  if (tokenizer == Tokenizer::whitespace) return split_whitespace(text);
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
    out.emplace_back(text.substr(i, len));
    i += len;
  }
  return out;
}

Dataset read_file(const std::string& path, const DataOptions& options, const Vocabulary& vocab,
                  const std::vector<std::string>& label_names, bool require_labels, int split) {
  SplitReader reader(options, vocab, label_names);
  return reader.read(path, split, require_labels);
}

TaskData load_file_task(const DataOptions& o) {
  if (auto problems = data_problems(o); !problems.empty()) throw DataError(join(problems, "; "));
  const bool single_file = o.valid.empty() && o.test.empty();
  TaskData task;
  task.task = o.task;
  task.head = head_for_format(o.task);
  task.causal = task.head == HeadKind::lm;

  // Pass 1: vocabulary and labels from the training split only.
  TokenCounts counts(o.max_distinct_tokens);
  std::set<std::string> labels;
  {
    LineReader reader(o.train, o.max_line_bytes);
    std::string line;
    Record r;
    int64_t examples = 0;
    while (reader.next(line)) {
      if (!parse_line(line, o, true, reader, r)) continue;
      ++examples;
      if (single_file && split_of(o.seed, reader.number(), o.valid_ratio, o.test_ratio) != 0) continue;
      for (const auto& t : r.tokens) counts.add(t);
      labels.insert(r.labels.begin(), r.labels.end());
      if (static_cast<int64_t>(labels.size()) > kMaxLabels) {
        reader.fail("more than " + std::to_string(kMaxLabels) + " distinct labels (is the label column right?)");
      }
    }
    if (examples == 0) throw DataError(o.train + ": file is empty");
  }
  task.vocab = Vocabulary::build(counts.in_first_use_order(), o.min_freq, o.max_vocab);
  task.label_names =
      task.head == HeadKind::lm ? task.vocab.tokens() : std::vector<std::string>(labels.begin(), labels.end());

  // Pass 2: encode each split.
  SplitReader reader(o, task.vocab, task.label_names);
  if (single_file) {
    task.train = reader.read(o.train, 0, true);
    task.valid = reader.read(o.train, 1, true);
    task.test = reader.read(o.train, 2, true);
  } else {
    task.train = reader.read(o.train, -1, true);
    task.valid = reader.read(o.valid, -1, true);
    task.test = reader.read(o.test, -1, true);
  }
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
