// The device train.device names, checked, and whether train.precision can run on it; the process's peak memory.
#pragma once
#include <torch/types.h>

#include "seqenc/train/train_options.h"

namespace seqenc {

torch::Device resolve_device(DeviceKind device);  // ConfigError if unavailable
// ConfigError if `precision` cannot run on `device` (bf16 on a GPU, or on a CPU where oneDNN's bf16 gemm fails).
void check_precision(Precision precision, const torch::Device& device);

// Peak resident memory of this process in MB (VmHWM of /proc/self/status; 0 where there is none).
double peak_rss_mb();

}  // namespace seqenc
