// A run directory: where one training run keeps its configuration, logs,
// metrics and checkpoints. Shared by train and compare. Only the writer (rank
// 0 of a data-parallel run, or the only process) changes anything in it.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "seqenc/files.h"

namespace seqenc {

class RunDir {
 public:
  explicit RunDir(std::filesystem::path path, bool writer = true);

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::filesystem::path file(const std::string& name) const { return path_ / name; }
  std::filesystem::path last_checkpoint() const { return file("checkpoint_last.pt"); }
  std::filesystem::path best_checkpoint() const { return file("checkpoint_best.pt"); }
  bool writer() const { return writer_; }

  // A run has started here: it has a last checkpoint.
  bool holds_run() const;
  // Why a run cannot start (resume false) or continue (resume true) here; "" if it can.
  std::string start_problem(bool resume, const std::string& resume_hint) const;
  // ConfigError with start_problem(), if there is one.
  void check_can_start(bool resume, const std::string& resume_hint) const;

  void create() const;
  // Creates the directory and takes its lock (seqenc.lock, an flock released when the process ends however it
  // ends), then checks again that the run can start. ConfigError naming the holder's pid if another live
  // process has it. Non-writers take no lock.
  FileLock lock(bool resume, const std::string& resume_hint) const;
  // metrics.jsonl: one JSON object per line, appended with one write (WriteError naming the file on failure).
  void append_metrics(const std::string& json_line) const;
  // fsync of metrics.jsonl: called before a checkpoint, so the lines it covers are on disk first.
  void sync_metrics() const;
  // Drops lines past `step` (and a line cut short by a kill or a full disk), so the file matches a resumed
  // checkpoint; rewritten atomically, and only when something is dropped.
  void truncate_metrics(int64_t step) const;

 private:
  std::filesystem::path path_;
  bool writer_;
};

}  // namespace seqenc
