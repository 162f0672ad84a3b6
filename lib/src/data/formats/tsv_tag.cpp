#include "seqenc/data/file_format.h"
#include "seqenc/strings.h"

namespace seqenc {

TaskSpec tsv_tag_task() {
  FileFormat format;
  format.head = HeadKind::tag;
  format.label_word = "tag";
  format.parse = [](const std::string& line, const Tokenizer& tokenizer, bool require_labels, const LineReader& reader,
                    Record& out) {
    const auto split = split_at_tab(line, require_labels, reader, "expected tokens<TAB>tags");
    out.tokens = tokenizer.tokenize(split.text);
    if (out.tokens.empty()) reader.fail("empty text");
    if (!split.has_labels) return true;
    out.labels = split_whitespace(split.labels);
    if (out.labels.size() != out.tokens.size()) {
      reader.fail(std::to_string(out.tokens.size()) + " tokens but " + std::to_string(out.labels.size()) + " tags");
    }
    return true;
  };
  return file_task(format);
}

}  // namespace seqenc
