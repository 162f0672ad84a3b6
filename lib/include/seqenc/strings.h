// Small string helpers shared by every layer.
#pragma once
#include <cctype>
#include <cmath>
#include <cstdio>
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

// The words of text between runs of ASCII whitespace.
inline std::vector<std::string> split_whitespace(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    if (j > i) out.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

// text without leading and trailing ASCII whitespace.
inline std::string trim(const std::string& text) {
  size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  return text.substr(b, e - b);
}

// "45s", "3m07s", "2h05m"; "?" for a negative or non-finite time.
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto total = static_cast<long long>(seconds + 0.5);
  char text[32];
  if (total >= 3600)
    std::snprintf(text, sizeof text, "%lldh%02lldm", total / 3600, (total / 60) % 60);
  else if (total >= 60)
    std::snprintf(text, sizeof text, "%lldm%02llds", total / 60, total % 60);
  else
    std::snprintf(text, sizeof text, "%llds", total);
  return text;
}

}  // namespace seqenc
