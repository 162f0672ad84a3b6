// Token frequencies of a training split in bounded memory, for building its vocabulary.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace seqenc {

// Exact while at most max_distinct tokens are distinct. Past that, the rarer half is pruned: every token counted
// at most the median count is dropped (and counts from 1 if it comes again), so the table never holds more than
// max_distinct tokens and a frequent token is never dropped. A count can then be low by at most floor(), the
// largest median pruned at.
class TokenCounts {
 public:
  explicit TokenCounts(int64_t max_distinct);
  void add(const std::string& token);
  // Counts in first-use order (Vocabulary::build breaks ties by it).
  std::vector<std::pair<std::string, int64_t>> in_first_use_order() const;
  int64_t distinct() const { return static_cast<int64_t>(entries_.size()); }
  int64_t floor() const { return floor_; }  // 0: every count is exact

 private:
  struct Entry {
    int64_t count;
    int64_t first_use;
  };
  void prune();

  std::unordered_map<std::string, Entry> entries_;
  int64_t max_distinct_;
  int64_t uses_ = 0;
  int64_t floor_ = 0;
};

}  // namespace seqenc
