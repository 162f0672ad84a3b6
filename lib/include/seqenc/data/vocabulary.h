// Tokens <-> ids, the reserved ids every vocabulary shares, and the
// one-entry-per-line files vocabularies and label sets are saved as.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace seqenc {

// Reserved token ids shared by every vocabulary seqenc builds.
inline constexpr int64_t kPadId = 0, kUnkId = 1, kBosId = 2, kEosId = 3, kClsId = 4;
inline constexpr int64_t kNumSpecialTokens = 5;
// Their names, in id order: "<pad>", "<unk>", "<bos>", "<eos>", "<cls>".
const std::vector<std::string>& special_tokens();
// Label value that the loss and the metrics ignore (positions without a label).
inline constexpr int64_t kIgnoreLabel = -100;

// Ids 0-4 are <pad> <unk> <bos> <eos> <cls> in every vocabulary.
class Vocabulary {
 public:
  Vocabulary();
  explicit Vocabulary(const std::vector<std::string>& tokens);  // the specials must come first
  // Adds tokens with count >= min_freq, most frequent first (ties by first use), up to max_size in all.
  static Vocabulary build(const std::vector<std::pair<std::string, int64_t>>& counts_in_first_use_order,
                          int64_t min_freq, int64_t max_size);
  // The specials, then a tokenizer's pieces in their order; DataError for a piece that is a special or repeats.
  static Vocabulary with_pieces(const std::vector<std::string>& pieces);
  int64_t add(const std::string& token);
  int64_t id(std::string_view token) const;  // <unk> when absent
  bool contains(std::string_view token) const;
  const std::string& token(int64_t id) const;
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  const std::vector<std::string>& tokens() const { return tokens_; }
  void save(const std::string& path) const;  // one token per line
  static Vocabulary load(const std::string& path);

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
};

// Label and vocabulary files: one entry per line, exactly as saved (a token may hold any byte but a newline).
void save_lines(const std::string& path, const std::vector<std::string>& lines);
// DataError naming file and line for an empty or repeated entry: either would shift the ids after it.
std::vector<std::string> load_lines(const std::string& path);

}  // namespace seqenc
