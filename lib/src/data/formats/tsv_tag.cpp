#include "seqenc/data/file_format.h"
#include "seqenc/strings.h"

namespace seqenc {

namespace {
// With a subword tokenizer: the tags stay one per word, each on its word's first piece ("" on the others).
bool parse_words(const TabSplit& split, const Tokenizer& tokenizer, const LineReader& reader, Record& out) {
  std::vector<int64_t> first_pieces;
  out.tokens = tokenize_words(tokenizer, split.text, first_pieces);
  if (out.tokens.empty()) reader.fail("empty text");
  if (!split.has_labels) return true;
  const auto tags = split_whitespace(split.labels);
  if (tags.size() != first_pieces.size()) {
    reader.fail(std::to_string(first_pieces.size()) + " words but " + std::to_string(tags.size()) + " tags");
  }
  out.labels.assign(out.tokens.size(), "");
  for (size_t w = 0; w < tags.size(); ++w) out.labels[static_cast<size_t>(first_pieces[w])] = tags[w];
  return true;
}
}  // namespace

TaskSpec tsv_tag_task() {
  FileFormat format;
  format.head = HeadKind::tag;
  format.label_word = "tag";
  format.parse = [](const std::string& line, const Tokenizer& tokenizer, bool require_labels, const LineReader& reader,
                    Record& out) {
    const auto split = split_at_tab(line, require_labels, reader, "expected tokens<TAB>tags");
    if (tokenizer.splits_words()) return parse_words(split, tokenizer, reader, out);
    out.tokens = tokenizer.tokenize(split.text);
    if (out.tokens.empty()) reader.fail("empty text");
    if (!split.has_labels) return true;
    out.labels = split_whitespace(split.labels);
    if (out.labels.size() != out.tokens.size()) {
      reader.fail(std::to_string(out.tokens.size()) + " tokens but " + std::to_string(out.labels.size()) + " tags");
    }
    return true;
  };
  format.text = text_before_tab;
  return file_task(format);
}

}  // namespace seqenc
