// TensorBoard's events files, as its reader reads them: TFRecord records (length, masked CRC-32C of the length,
// data, masked CRC-32C of the data), each an Event message (the fields are in lib/src/train/sinks/tensorboard.proto).
// Each record is appended with one write(2), so a kill leaves whole records and at most one cut short at the end,
// where TensorBoard's reader (and this one) stop.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "seqenc/schema.h"

namespace seqenc {

// CRC-32C (Castagnoli) of n bytes, as TFRecord's frames use it (before masking).
uint32_t crc32c(const void* data, size_t n);

struct EventRecord {
  int64_t step = 0;
  std::string frame;  // the whole record, as written
};

// The whole, intact records of an events file's bytes, in order; damaged is true when bytes are left after the
// last of them (a record cut short by a kill, or anything that does not check out), which are not returned.
struct EventRecords {
  std::vector<EventRecord> records;
  bool damaged = false;
};
EventRecords read_event_records(const std::string& bytes);

struct ScalarPoint {
  std::string tag;
  int64_t step = 0;
  double value = 0;
};
// Every scalar of the events files in `dir` (intact records only), file by file in name order as TensorBoard
// reads them.
std::vector<ScalarPoint> read_scalars(const std::filesystem::path& dir);

// Drops the records of steps after `step`, and anything after the last intact record, so that a resumed run
// does not write a step twice; the file is rewritten atomically, and only when something is dropped.
void truncate_events_file(const std::filesystem::path& path, int64_t step);

// A new events file in a directory, written record by record.
class EventFileWriter {
 public:
  // Creates `dir` and a file named as TensorBoard looks for (events.out.tfevents.<time>.<host>.<pid>), which
  // starts with the file version record; WriteError if it cannot.
  explicit EventFileWriter(const std::filesystem::path& dir);
  const std::filesystem::path& path() const { return path_; }

  // Scalars of one step: (tag, value) pairs, stored as 32-bit floats as TensorBoard's scalars are.
  void scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  // A session (re)starts at `step`: TensorBoard drops what it holds of this step and later ones (a resumed run's
  // steps after its checkpoint).
  void session_start(int64_t step);
  // The hparams plugin's record of this run's hyperparameters, and of how it ended.
  void hparams_start(const std::map<std::string, ScalarValue>& hparams);
  void hparams_end(bool success);
  // fsync: the records so far are on disk.
  void sync() const;

 private:
  void write_event(const std::string& event);
  std::filesystem::path path_;
};

}  // namespace seqenc
