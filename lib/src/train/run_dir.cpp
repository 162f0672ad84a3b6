#include "seqenc/train/run_dir.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "seqenc/error.h"
#include "seqenc/files.h"

namespace seqenc {

namespace fs = std::filesystem;

RunDir::RunDir(fs::path path, bool writer) : path_(std::move(path)), writer_(writer) {}

bool RunDir::holds_run() const { return fs::exists(last_checkpoint()); }

namespace {
// Why path cannot be (or become) a directory: it, or the nearest of its parents that exists, is not one.
std::string not_a_directory(const fs::path& path) {
  std::error_code error;
  for (fs::path p = path; !p.empty(); p = p.parent_path()) {
    if (fs::exists(p, error)) {
      if (fs::is_directory(p, error)) return "";
      return p == path ? path.string() + ": is a file, not a directory; choose another --run-dir"
                       : path.string() + ": " + p.string() + " is a file, not a directory; choose another --run-dir";
    }
    if (p == p.parent_path()) break;
  }
  return "";
}
}  // namespace

std::string RunDir::start_problem(bool resume, const std::string& resume_hint) const {
  if (auto problem = not_a_directory(path_); !problem.empty()) return problem;
  if (resume && !holds_run()) return str() + ": no checkpoint_last.pt to resume from";
  if (!resume && holds_run()) {
    return str() + " already holds a run; pass --resume to " + resume_hint + ", or choose another --run-dir";
  }
  return "";
}

void RunDir::check_can_start(bool resume, const std::string& resume_hint) const {
  if (auto problem = start_problem(resume, resume_hint); !problem.empty()) throw ConfigError(problem);
}

void RunDir::create() const {
  if (writer_) fs::create_directories(path_);
}

void RunDir::append_metrics(const std::string& json_line) const {
  if (writer_) append_to_file(file("metrics.jsonl"), json_line + '\n');
}

void RunDir::sync_metrics() const {
  if (writer_) sync_file(file("metrics.jsonl"));
}

void RunDir::truncate_metrics(int64_t step) const {
  const auto path = file("metrics.jsonl");
  if (!writer_ || !fs::exists(path)) return;
  std::ifstream in(path, std::ios::binary);
  std::string kept, line;
  bool dropped = false;
  while (std::getline(in, line)) {
    bool keep = false;
    try {
      keep = !in.eof() && nlohmann::json::parse(line).value("step", int64_t{0}) <= step;
    } catch (const nlohmann::json::exception&) {
      // a line cut short by a kill or a full disk: dropped
    }
    if (keep) {
      kept += line + '\n';
    } else {
      dropped = true;
    }
  }
  in.close();
  if (dropped) write_file_atomic(path, kept);  // a kill during the rewrite leaves the old file
}

FileLock RunDir::lock(bool resume, const std::string& resume_hint) const {
  if (!writer_) return {};
  create();
  FileLock lock;
  long holder = 0;
  if (!FileLock::try_lock(file("seqenc.lock"), lock, holder)) {
    throw ConfigError(str() + " is in use by another seqenc process" +
                      (holder > 0 ? " (pid " + std::to_string(holder) + ")" : std::string()) +
                      "; wait for it to finish or stop it");
  }
  check_can_start(resume, resume_hint);  // again: the other process may have started a run meanwhile
  return lock;
}

}  // namespace seqenc
