#include "seqenc/train/run_dir.h"

#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "seqenc/error.h"

namespace seqenc {

namespace fs = std::filesystem;

RunDir::RunDir(fs::path path, bool writer) : path_(std::move(path)), writer_(writer) {}

bool RunDir::holds_run() const { return fs::exists(last_checkpoint()); }

std::string RunDir::start_problem(bool resume, const std::string& resume_hint) const {
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
  if (!writer_) return;
  std::ofstream out(file("metrics.jsonl"), std::ios::app);
  out << json_line << '\n';
  out.flush();
  if (!out) throw std::runtime_error("cannot write " + file("metrics.jsonl").string());
}

void RunDir::truncate_metrics(int64_t step) const {
  const auto path = file("metrics.jsonl");
  if (!writer_ || !fs::exists(path)) return;
  std::ifstream in(path);
  std::vector<std::string> kept;
  std::string line;
  while (std::getline(in, line)) {
    try {
      if (nlohmann::json::parse(line).value("step", int64_t{0}) <= step) kept.push_back(line);
    } catch (const nlohmann::json::exception&) {
      // a line cut short by a kill: drop it
    }
  }
  in.close();
  std::ofstream out(path, std::ios::trunc);
  for (const auto& l : kept) out << l << '\n';
}

}  // namespace seqenc
