#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <torch/torch.h>
#include <vector>

#include "seqenc/data/task.h"
#include "seqenc/data/tokenizer.h"
#include "seqenc/train/trainer.h"

// Ends a test case as skipped, visibly: CTest reports it as skipped (tests/CMakeLists.txt looks for this marker in
// its output) and ./scripts/test prints the reason. For what cannot run on this machine, never for what failed.
#define SEQENC_SKIP(reason)                                 \
  do {                                                      \
    std::cout << "SEQENC-SKIPPED: " << reason << std::endl; \
    return;                                                 \
  } while (false)

namespace seqenc::test {
// Training without console output.
inline TrainControl quietly() {
  TrainControl control;
  control.quiet = true;
  return control;
}

// An attention function's output and the gradients of sum(output * upstream) in its three inputs.
struct AttentionGrads {
  torch::Tensor out, dq, dk, dv;
};
template <typename F>
AttentionGrads attention_grads(F&& attention, const torch::Tensor& q0, const torch::Tensor& k0, const torch::Tensor& v0,
                               const torch::Tensor& upstream) {
  auto q = q0.clone().requires_grad_(true), k = k0.clone().requires_grad_(true), v = v0.clone().requires_grad_(true);
  auto out = attention(q, k, v);
  (out.to(upstream.scalar_type()) * upstream).sum().backward();
  return {out.detach(), q.grad(), k.grad(), v.grad()};
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// max |a - b| relative to max |b| (at least 1).
inline double rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return max_abs_diff(a, b) / std::max(1.0, b.abs().max().item<double>());
}

// A run's metrics.jsonl without the timings, which differ between runs (everything else must not).
inline std::vector<nlohmann::json> metric_lines(const std::filesystem::path& dir) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(dir / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    j.erase("tokens_per_s");
    j.erase("elapsed_s");
    lines.push_back(j);
  }
  return lines;
}

// The registered synthetic tasks (those that read no files).
inline std::vector<std::string> synthetic_tasks() {
  std::vector<std::string> names;
  for (const auto& name : task_names()) {
    if (!task_spec(TaskName(name)).reads_files()) names.push_back(name);
  }
  return names;
}

// text split by the tokenizer registered as `name`.
inline std::vector<std::string> tokenize(const std::string& name, const std::string& text) {
  DataOptions o;
  o.tokenizer = TokenizerName(name);
  return make_tokenizer(o)->tokenize(text);
}

// An empty scratch directory name, unique to this process.
inline std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("seqenc_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(dir);
  return dir;
}
}  // namespace seqenc::test
