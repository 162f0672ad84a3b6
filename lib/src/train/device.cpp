#include "seqenc/train/device.h"

#include <fstream>

#include <torch/cuda.h>

#include "seqenc/error.h"

namespace seqenc {

torch::Device resolve_device(DeviceKind device) {
  const bool cuda = torch::cuda::is_available();
  if (device == DeviceKind::cuda && !cuda)
    throw ConfigError("train.device: cuda requested but CUDA is not available here");
  if (device == DeviceKind::cuda || (device == DeviceKind::automatic && cuda)) return torch::kCUDA;
  return torch::kCPU;
}

void check_precision(Precision precision, const torch::Device& device) {
  if (precision != Precision::bf16) return;
  if (!device.is_cpu()) {
    throw ConfigError("train.precision: bf16 runs on the CPU, but train.device is " + device.str() +
                      "; set train.device: cpu or train.precision: fp32");
  }
  if (!bf16_support().runs) throw ConfigError("train.precision: " + bf16_support().summary());
}

double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

}  // namespace seqenc
