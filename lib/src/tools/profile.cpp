#include "seqenc/tools/profile.h"

#include <algorithm>
#include <map>

#include <torch/csrc/autograd/profiler_legacy.h>

namespace seqenc {

std::vector<OperatorTime> profile_operators(const std::function<void()>& step, int64_t steps) {
  namespace profiler = torch::autograd::profiler;
  profiler::enableProfilerLegacy(profiler::ProfilerConfig(profiler::ProfilerState::CPU));
  for (int64_t i = 0; i < steps; ++i) step();
  const auto threads = profiler::disableProfilerLegacy();
  std::map<std::string, OperatorTime> by_name;
  struct Open {
    const profiler::LegacyEvent* push;
    double children_us;
  };
  for (const auto& events : threads) {
    std::vector<Open> stack;
    for (const auto& e : events) {
      if (e.kind() == profiler::EventKind::PushRange) {
        stack.push_back({&e, 0.0});
      } else if (e.kind() == profiler::EventKind::PopRange && !stack.empty()) {
        const Open open = stack.back();
        stack.pop_back();
        const double us = open.push->cpuElapsedUs(e);
        auto& op = by_name[open.push->name()];
        op.name = open.push->name();
        ++op.calls;
        op.total_ms += us / 1000.0;
        op.self_ms += (us - open.children_us) / 1000.0;
        if (!stack.empty()) stack.back().children_us += us;
      }
    }
  }
  std::vector<OperatorTime> ops;
  for (auto& [name, op] : by_name) {
    op.self_ms /= static_cast<double>(steps);
    op.total_ms /= static_cast<double>(steps);
    op.calls /= steps;
    ops.push_back(op);
  }
  std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.self_ms > b.self_ms; });
  return ops;
}

}  // namespace seqenc
