// Users' text files line by line, with defined behaviour for what such files carry.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>

namespace seqenc {

// Streams a UTF-8 file line by line, naming file and line in every error. CRLF line ends and a UTF-8 byte-order
// mark are accepted (stripped); a NUL byte, invalid UTF-8 or a line longer than max_line_bytes is a DataError (the
// line is never held whole past that bound, so memory stays bounded).
class LineReader {
 public:
  LineReader(const std::string& path, int64_t max_line_bytes);
  bool next(std::string& line);                              // false at the end of the file
  [[noreturn]] void fail(const std::string& message) const;  // DataError "path:line: message"
  int64_t number() const { return number_; }                 // the line last read, from 1
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream in_;
  size_t max_bytes_;
  int64_t number_ = 0;
};

bool is_valid_utf8(const std::string& s);

}  // namespace seqenc
