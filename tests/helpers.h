#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>
#include <torch/torch.h>

namespace seqenc::test {
inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// An empty scratch directory name, unique to this process.
inline std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("seqenc_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(dir);
  return dir;
}
}  // namespace seqenc::test
