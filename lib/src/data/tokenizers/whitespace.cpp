#include "seqenc/data/tokenizer.h"
#include "seqenc/strings.h"

namespace seqenc {

namespace {
class WhitespaceTokenizer : public Tokenizer {
 public:
  std::vector<std::string> tokenize(const std::string& text) const override { return split_whitespace(text); }
};
}  // namespace

TokenizerSpec whitespace_tokenizer() {
  TokenizerSpec spec;
  spec.make = [](const DataOptions&, const TextStream&) { return std::make_shared<WhitespaceTokenizer>(); };
  return spec;
}

}  // namespace seqenc
