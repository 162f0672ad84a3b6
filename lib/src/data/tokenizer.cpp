#include "seqenc/data/tokenizer.h"

#include "seqenc/files.h"
#include "seqenc/strings.h"

namespace seqenc {

namespace {
Registry<TokenizerSpec>& registry() {
  static Registry<TokenizerSpec> tokenizers({
      {"whitespace", whitespace_tokenizer()},
      {"char", char_tokenizer()},
      {"sentencepiece", sentencepiece_tokenizer()},
  });
  return tokenizers;
}

TokenizerSpec spec_of(const TokenizerName& name) {
  const auto spec = registry().find(name.name());
  if (!spec) {
    throw DataError("data.tokenizer: unknown tokenizer '" + name.name() + "' (known: " + join(tokenizer_names(), ", ") +
                    ")");
  }
  return *spec;
}

// The model a run saved in dir, as bytes; DataError naming the file when it cannot be read.
std::string saved_model(const TokenizerSpec& spec, const std::filesystem::path& dir) {
  const auto path = dir / spec.model_file;
  if (auto why = input_problem(path); !why.empty()) throw DataError(path.string() + ": " + why);
  std::string problem;
  auto bytes = read_whole_file(path, &problem);
  if (!problem.empty()) throw DataError(path.string() + ": cannot read (" + problem + ")");
  return bytes;
}
}  // namespace

void register_tokenizer(const std::string& name, TokenizerSpec spec) { registry().add(name, std::move(spec)); }

std::vector<std::string> tokenizer_names() {
  std::vector<std::string> names;
  for (const auto& [name, spec] : registry().entries()) names.push_back(name);
  return names;
}

std::shared_ptr<const Tokenizer> make_tokenizer(const DataOptions& options, const TextStream& training_text) {
  return spec_of(options.tokenizer).make(options, training_text);
}

std::vector<std::string> tokenizer_problems(const DataOptions& options) {
  std::vector<std::string> problems;
  for (const auto& [name, spec] : registry().entries()) {
    if (!spec.problems) continue;
    for (auto& p : spec.problems(options, name == options.tokenizer.name())) problems.push_back(std::move(p));
  }
  return problems;
}

std::string tokenizer_model_file(const TokenizerName& name) { return spec_of(name).model_file; }

void save_tokenizer(const TokenizerName& name, const Tokenizer& tokenizer, const std::filesystem::path& dir) {
  const auto file = tokenizer_model_file(name);
  if (!file.empty()) write_file_atomic(dir / file, tokenizer.model_bytes());
}

DataOptions with_saved_tokenizer(const DataOptions& options, const std::filesystem::path& dir) {
  const auto spec = spec_of(options.tokenizer);
  if (spec.model_file.empty()) return options;
  const auto path = dir / spec.model_file;
  if (auto why = input_problem(path); !why.empty()) throw DataError(path.string() + ": " + why);
  DataOptions saved = options;
  saved.*spec.model_path = path.string();
  return saved;
}

std::string resume_tokenizer_problem(const DataOptions& options, const std::filesystem::path& dir) {
  const auto spec = spec_of(options.tokenizer);
  if (spec.model_file.empty() || (options.*spec.model_path).empty()) return "";
  const auto& named = options.*spec.model_path;
  std::string problem;
  const auto bytes = read_whole_file(named, &problem);
  if (!problem.empty()) return spec.model_key + ": " + named + ": cannot read (" + problem + ")";
  if (bytes == saved_model(spec, dir)) return "";
  return spec.model_key + ": " + named + " is not the model this run was trained with (" +
         (dir / spec.model_file).string() + "): it changed since the run started; restore it, or train a new run";
}

std::shared_ptr<const Tokenizer> load_tokenizer(const TokenizerName& name, const std::string& bytes,
                                                const std::string& origin) {
  const auto spec = spec_of(name);
  if (!spec.load) throw DataError(origin + ": tokenizer " + name.name() + " has no model to load");
  return spec.load(bytes, origin);
}

std::vector<std::string> tokenize_words(const Tokenizer& tokenizer, const std::string& text,
                                        std::vector<int64_t>& first_pieces) {
  std::vector<std::string> pieces;
  first_pieces.clear();
  for (const auto& word : split_whitespace(text)) {
    first_pieces.push_back(static_cast<int64_t>(pieces.size()));
    auto word_pieces = tokenizer.tokenize(word);
    if (word_pieces.empty()) word_pieces.push_back(special_tokens()[kUnkId]);
    pieces.insert(pieces.end(), word_pieces.begin(), word_pieces.end());
  }
  return pieces;
}

}  // namespace seqenc
