#include "seqenc/data/token_counts.h"

#include <algorithm>

namespace seqenc {

TokenCounts::TokenCounts(int64_t max_distinct) : max_distinct_(std::max<int64_t>(1, max_distinct)) {}

void TokenCounts::add(const std::string& token) {
  auto [it, inserted] = entries_.try_emplace(token, Entry{0, uses_});
  ++it->second.count;
  ++uses_;
  if (inserted && distinct() > max_distinct_) prune();
}

void TokenCounts::prune() {
  std::vector<int64_t> counts;
  counts.reserve(entries_.size());
  for (const auto& e : entries_) counts.push_back(e.second.count);
  const auto middle = counts.begin() + static_cast<std::ptrdiff_t>(counts.size() / 2);
  std::nth_element(counts.begin(), middle, counts.end());
  const int64_t median = *middle;  // at least half the tokens are counted at most this
  floor_ = std::max(floor_, median);
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = it->second.count <= median ? entries_.erase(it) : std::next(it);
  }
}

std::vector<std::pair<std::string, int64_t>> TokenCounts::in_first_use_order() const {
  std::vector<std::pair<int64_t, const std::pair<const std::string, Entry>*>> order;
  order.reserve(entries_.size());
  for (const auto& e : entries_) order.emplace_back(e.second.first_use, &e);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<std::string, int64_t>> out;
  out.reserve(order.size());
  for (const auto& [first, e] : order) out.emplace_back(e->first, e->second.count);
  return out;
}

}  // namespace seqenc
