// What a user can get wrong, one type per layer; all derive from Error so the
// program maps any of them to one line and exit 2.
#pragma once
#include <stdexcept>

namespace seqenc {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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
