#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <torch/torch.h>
#include <vector>

#include "seqenc/train/trainer.h"

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

// An empty scratch directory name, unique to this process.
inline std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("seqenc_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(dir);
  return dir;
}
}  // namespace seqenc::test
