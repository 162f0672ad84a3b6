// What data.tokenizer names: how a line of a user's file becomes tokens. One registry entry each; the built-in
// ones are a file each under lib/src/data/tokenizers/, listed in lib/src/data/tokenizer.cpp. A tokenizer with a
// model of its own (sentencepiece) learns it from the training split or reads a file; a run directory and an
// export keep the model, so that eval, export and predict tokenize as training did.
#pragma once
#include <filesystem>
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
  // A subword tokenizer: tsv_tag splits the text into words at whitespace and tags each word's first piece
  // (tokenize_words), and predict reports one label per word.
  virtual bool splits_words() const { return false; }
  // A tokenizer with a model: its pieces, which follow the special tokens as the vocabulary (empty: the
  // vocabulary is counted from the training split), and the model file's bytes, which runs and exports keep.
  virtual std::vector<std::string> pieces() const { return {}; }
  virtual std::string model_bytes() const { return {}; }
};

// Streams the training split's texts (the part of each line a tokenizer reads) to `text`, in file order.
using TextStream = std::function<void(const std::function<void(const std::string& text)>& text)>;

struct TokenizerSpec {
  // The tokenizer for these options; one that learns its model reads training_text (empty where there is none).
  std::function<std::shared_ptr<const Tokenizer>(const DataOptions&, const TextStream& training_text)> make;
  // Problems of the keys it reads, each "data.key: problem". chosen false: another tokenizer is data.tokenizer,
  // and a key of this one's that is set is a problem. Null: it reads no keys.
  std::function<std::vector<std::string>(const DataOptions&, bool chosen)> problems;
  // A tokenizer with a model file: the key that names one (empty: the model is learned), that key's name, the
  // file name runs and exports keep the model under, and how a model loads from its bytes (origin names them).
  std::string DataOptions::*model_path = nullptr;
  std::string model_key, model_file;
  std::function<std::shared_ptr<const Tokenizer>(const std::string& bytes, const std::string& origin)> load;
};

// Adds a tokenizer (or replaces one); data.tokenizer then accepts its name.
void register_tokenizer(const std::string& name, TokenizerSpec spec);
std::vector<std::string> tokenizer_names();
// options.tokenizer's tokenizer, learning its model from training_text if it learns one. DataError listing the
// known names when there is none, or naming the file or key at fault.
std::shared_ptr<const Tokenizer> make_tokenizer(const DataOptions& options, const TextStream& training_text = {});
// Every registered tokenizer's problems with options (data_problems reports them).
std::vector<std::string> tokenizer_problems(const DataOptions& options);

// The file a tokenizer's model is kept under in a run directory and an export; "" for one without a model.
std::string tokenizer_model_file(const TokenizerName& name);
// Writes tokenizer's model into dir (under tokenizer_model_file), if it has one.
void save_tokenizer(const TokenizerName& name, const Tokenizer& tokenizer, const std::filesystem::path& dir);
// Options whose tokenizer reads the model a run saved in dir instead of making one (eval, resume); the same
// options for a tokenizer without a model. DataError when dir lacks the file.
DataOptions with_saved_tokenizer(const DataOptions& options, const std::filesystem::path& dir);
// Why a run saved in dir cannot resume with options: the model file options name is not the run's model (it
// changed since the run started); "" when it can.
std::string resume_tokenizer_problem(const DataOptions& options, const std::filesystem::path& dir);
// A tokenizer from its model file's bytes (an export's); DataError naming origin for bytes that are not a model.
std::shared_ptr<const Tokenizer> load_tokenizer(const TokenizerName& name, const std::string& bytes,
                                                const std::string& origin);

// text's words (split at whitespace) in the tokenizer's pieces, with each word's first piece in first_pieces. A
// word that yields no piece is "<unk>", so that every word keeps a place (and its tag).
std::vector<std::string> tokenize_words(const Tokenizer& tokenizer, const std::string& text,
                                        std::vector<int64_t>& first_pieces);

// The built-in tokenizers (lib/src/data/tokenizers/).
TokenizerSpec whitespace_tokenizer();     // words between whitespace
TokenizerSpec char_tokenizer();           // UTF-8 characters
TokenizerSpec sentencepiece_tokenizer();  // SentencePiece subwords: data.spm_model, or a model learned from the data

}  // namespace seqenc
