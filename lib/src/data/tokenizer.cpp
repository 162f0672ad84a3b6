#include "seqenc/data/tokenizer.h"

#include "seqenc/strings.h"

namespace seqenc {

namespace {
Registry<TokenizerSpec>& registry() {
  static Registry<TokenizerSpec> tokenizers({
      {"whitespace", whitespace_tokenizer()},
      {"char", char_tokenizer()},
  });
  return tokenizers;
}
}  // namespace

void register_tokenizer(const std::string& name, TokenizerSpec spec) { registry().add(name, std::move(spec)); }

std::vector<std::string> tokenizer_names() {
  std::vector<std::string> names;
  for (const auto& [name, spec] : registry().entries()) names.push_back(name);
  return names;
}

std::shared_ptr<const Tokenizer> make_tokenizer(const DataOptions& options) {
  const auto spec = registry().find(options.tokenizer.name());
  if (!spec) {
    throw DataError("data.tokenizer: unknown tokenizer '" + options.tokenizer.name() +
                    "' (known: " + join(tokenizer_names(), ", ") + ")");
  }
  return spec->make(options);
}

}  // namespace seqenc
