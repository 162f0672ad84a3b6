#include "seqenc/data/line_reader.h"

#include "seqenc/error.h"
#include "seqenc/files.h"

namespace seqenc {

bool is_valid_utf8(const std::string& s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else
      return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

LineReader::LineReader(const std::string& path, int64_t max_line_bytes)
    : path_(path), in_(path, std::ios::binary), max_bytes_(static_cast<size_t>(max_line_bytes)) {
  if (path.empty()) throw DataError("no data file given");
  if (auto why = input_problem(path); !why.empty()) throw DataError(path + ": " + why);
  if (!in_) throw DataError(path + ": cannot open file");
}

bool LineReader::next(std::string& line) {
  line.clear();
  auto* buffer = in_.rdbuf();
  int c = buffer->sbumpc();
  if (c == std::char_traits<char>::eof()) return false;
  ++number_;
  for (; c != std::char_traits<char>::eof() && c != '\n'; c = buffer->sbumpc()) {
    if (line.size() >= max_bytes_)
      fail("line longer than data.max_line_bytes (" + std::to_string(max_bytes_) + " bytes)");
    line.push_back(static_cast<char>(c));
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (number_ == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a byte-order mark
  if (line.find('\0') != std::string::npos) fail("NUL byte (is this a text file?)");
  if (!is_valid_utf8(line)) fail("invalid UTF-8");
  return true;
}

void LineReader::fail(const std::string& message) const {
  throw DataError(path_ + ":" + std::to_string(number_) + ": " + message);
}

}  // namespace seqenc
