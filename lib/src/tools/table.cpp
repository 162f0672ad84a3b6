#include "seqenc/tools/table.h"

#include <algorithm>

#include <fmt/format.h>

namespace seqenc {

std::string Table::render(bool markdown) const {
  std::vector<size_t> width(header.size(), 0);
  auto widen = [&width](const std::vector<std::string>& row) {
    for (size_t j = 0; j < row.size() && j < width.size(); ++j) width[j] = std::max(width[j], row[j].size());
  };
  widen(header);
  for (const auto& r : rows) widen(r);
  auto line = [&](const std::vector<std::string>& row) {
    std::string out = markdown ? "|" : "";
    for (size_t j = 0; j < width.size(); ++j) {
      const std::string value = j < row.size() ? row[j] : "";
      const bool right = j > 0 && align_numbers;
      // Two literals: under C++20 (LibTorch 2.x) fmt checks a format string at compile time.
      const auto cell = right ? fmt::format("{:>{}}", value, width[j]) : fmt::format("{:<{}}", value, width[j]);
      out += markdown ? " " + cell + " |" : (j ? "  " : "") + cell;
    }
    return out + "\n";
  };
  std::string out = line(header);
  std::string rule = markdown ? "|" : "";
  for (size_t j = 0; j < width.size(); ++j) {
    const bool right = j > 0 && align_numbers;
    const size_t w = std::max<size_t>(width[j], 3);
    if (markdown)
      rule += " " + std::string(right ? "" : ":") + std::string(w - 1, '-') + (right ? ":" : "") + " |";
    else
      rule += (j ? "  " : "") + std::string(width[j], '-');
  }
  out += rule + "\n";
  for (const auto& r : rows) out += line(r);
  return out;
}

std::string si(double v) {
  if (v >= 1e9) return fmt::format("{:.2f}G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

}  // namespace seqenc
