#include "seqenc/data/file_format.h"
#include "seqenc/strings.h"

namespace seqenc {

TaskSpec tsv_classify_task() {
  FileFormat format;
  format.head = HeadKind::classify;
  format.parse = [](const std::string& line, const Tokenizer& tokenizer, bool require_labels, const LineReader& reader,
                    Record& out) {
    const auto split = split_at_tab(line, require_labels, reader, "expected text<TAB>label");
    out.tokens = tokenizer.tokenize(split.text);
    if (out.tokens.empty()) reader.fail("empty text");
    if (!split.has_labels) return true;
    auto label = trim(split.labels);
    if (label.empty()) reader.fail("empty label");
    out.labels.push_back(label);
    return true;
  };
  format.text = text_before_tab;
  return file_task(format);
}

}  // namespace seqenc
