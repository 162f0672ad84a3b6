// Where a step's time goes, operator by operator, from LibTorch's autograd
// profiler (the same one Python's torch.autograd.profiler uses).
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace seqenc {

struct OperatorTime {
  std::string name;  // e.g. aten::addmm, or an autograd node such as MulBackward0
  int64_t calls = 0;    // per step
  double self_ms = 0;   // in the operator itself, operators it called excluded (per step)
  double total_ms = 0;  // including the operators it called (per step)
};

// Runs step `steps` times under the profiler; operators by self time, most first.
std::vector<OperatorTime> profile_operators(const std::function<void()>& step, int64_t steps);

}  // namespace seqenc
