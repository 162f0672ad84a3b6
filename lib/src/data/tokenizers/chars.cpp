#include "seqenc/data/tokenizer.h"

namespace seqenc {

namespace {
// One token per UTF-8 character (lines are checked to be valid UTF-8 before they are tokenized).
class CharTokenizer : public Tokenizer {
 public:
  std::vector<std::string> tokenize(const std::string& text) const override {
    std::vector<std::string> out;
    for (size_t i = 0; i < text.size();) {
      const auto c = static_cast<unsigned char>(text[i]);
      const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
      out.emplace_back(text.substr(i, len));
      i += len;
    }
    return out;
  }
};
}  // namespace

TokenizerSpec char_tokenizer() {
  TokenizerSpec spec;
  spec.make = [](const DataOptions&, const TextStream&) { return std::make_shared<CharTokenizer>(); };
  return spec;
}

}  // namespace seqenc
