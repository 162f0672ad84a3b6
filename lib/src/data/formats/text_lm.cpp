#include "seqenc/data/file_format.h"

namespace seqenc {

TaskSpec text_lm_task() {
  FileFormat format;
  format.head = HeadKind::lm;
  format.parse = [](const std::string& line, const Tokenizer& tokenizer, bool, const LineReader&, Record& out) {
    out.tokens = tokenizer.tokenize(line);
    return !out.tokens.empty();
  };
  return file_task(format);
}

}  // namespace seqenc
