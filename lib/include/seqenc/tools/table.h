// Tables as aligned text (for the terminal) or Markdown (for reports): one
// renderer for every table seqenc prints or writes.
#pragma once
#include <string>
#include <vector>

namespace seqenc {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  // Columns after the first are right-aligned (numbers); set false for text columns.
  bool align_numbers = true;

  Table& add(std::vector<std::string> row) {
    rows.push_back(std::move(row));
    return *this;
  }
  std::string render(bool markdown) const;
};

// 1.2k, 3.40M, 5.00G: short SI forms for counts and rates.
std::string si(double value);

}  // namespace seqenc
