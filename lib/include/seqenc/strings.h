// Small string helpers shared by every layer.
#pragma once
#include <string>
#include <vector>

namespace seqenc {

// "a, b, c" from {"a", "b", "c"} and ", ".
template <typename Range>
std::string join(const Range& parts, const std::string& separator) {
  std::string out;
  bool first = true;
  for (const auto& p : parts) {
    if (!first) out += separator;
    out += p;
    first = false;
  }
  return out;
}

// Non-empty items of a comma-separated list.
inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  for (char c : text) {
    if (c != ',') {
      item += c;
      continue;
    }
    if (!item.empty()) out.push_back(item);
    item.clear();
  }
  if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace seqenc
