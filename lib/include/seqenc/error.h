// What a user can get wrong, one type per layer; all derive from Error so the
// program maps any of them to one line and exit 2.
#pragma once
#include <stdexcept>
#include <string>

namespace seqenc {

class Error : public std::runtime_error {
 public:
  // One line whatever the message quotes from a user's file: line breaks and other control characters are
  // written as escapes (\n, \x01).
  explicit Error(const std::string& message);
};

class ModelError : public Error {  // nn: invalid model options
 public:
  using Error::Error;
};

class DataError : public Error {  // data: bad input data; names the file and line where it can
 public:
  using Error::Error;
};

class ConfigError : public Error {  // train: configuration, command line, run directory
 public:
  using Error::Error;
};

class CheckpointError : public ConfigError {  // train: a missing, damaged or foreign checkpoint
 public:
  using ConfigError::ConfigError;
};

class WriteError : public Error {  // any layer: a file that cannot be written (no space, size limit, read-only)
 public:
  using Error::Error;
};

class ExportError : public Error {  // tools: an export that cannot be written or read
 public:
  using Error::Error;
};

}  // namespace seqenc
