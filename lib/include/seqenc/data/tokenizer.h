// What data.tokenizer names: how a line of a user's file becomes tokens. One registry entry each; the built-in
// ones are a file each under lib/src/data/tokenizers/, listed in lib/src/data/tokenizer.cpp.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "seqenc/data/dataset.h"

namespace seqenc {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<std::string> tokenize(const std::string& text) const = 0;
};

struct TokenizerSpec {
  // The tokenizer for these options (a tokenizer with a model of its own reads its keys from them).
  std::function<std::shared_ptr<const Tokenizer>(const DataOptions&)> make;
};

// Adds a tokenizer (or replaces one); data.tokenizer then accepts its name.
void register_tokenizer(const std::string& name, TokenizerSpec spec);
std::vector<std::string> tokenizer_names();
// options.tokenizer's tokenizer; DataError listing the known names when there is none.
std::shared_ptr<const Tokenizer> make_tokenizer(const DataOptions& options);

// The built-in tokenizers (lib/src/data/tokenizers/).
TokenizerSpec whitespace_tokenizer();  // words between whitespace
TokenizerSpec char_tokenizer();        // UTF-8 characters

}  // namespace seqenc
