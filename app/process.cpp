#include "process.h"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>

#include <malloc.h>

#include <torch/torch.h>

#include "blas_override.h"
#include "exit_codes.h"

namespace seqenc::app {

namespace {
std::atomic<int> g_stop_signal{0};

void on_stop_signal(int signal) {
  if (g_stop_signal.exchange(signal) != 0) {  // second signal: stop now
    std::signal(signal, SIG_DFL);
    std::raise(signal);
  }
}
}  // namespace

void ignore_file_size_signal() { std::signal(SIGXFSZ, SIG_IGN); }

void keep_freed_memory() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if ((tunables && std::strstr(tunables, "glibc.malloc.")) || std::getenv("MALLOC_TRIM_THRESHOLD_") ||
      std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TOP_PAD_")) {
    return;
  }
  // Blocks up to 32 MB (glibc's largest threshold) come from the heap, and the heap's top is never given back.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
}

void install_stop_handlers() {
  g_stop_signal = 0;
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

std::string stop_requested() {
  switch (g_stop_signal.load()) {
    case 0:
      return "";
    case SIGINT:
      return "Ctrl-C";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "signal " + std::to_string(g_stop_signal.load());
  }
}

void reset_peak_memory() {
  malloc_trim(0);  // what keep_freed_memory kept for an earlier row is not this one's peak
  std::ofstream clear("/proc/self/clear_refs");
  if (clear) clear << "5";  // resets VmHWM to the current RSS (Linux >= 4.0)
}

void use_threads(int64_t threads) {
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
}

std::string kernel_cache_path() {
  const char* cache = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (cache && *cache) return std::string(cache) + "/seqenc/kernels.json";
  if (home && *home) return std::string(home) + "/.cache/seqenc/kernels.json";
  return "";
}

TrainControl train_control() {
  TrainControl control;
  control.stop_requested = stop_requested;
  control.reset_peak_memory = reset_peak_memory;
  control.tuning.measure = true;
  control.tuning.cache_path = kernel_cache_path();
  control.tuning.set_blas_override = answer_blas_with_onednn;
  return control;
}

int exit_code(StopReason reason) {
  switch (reason) {
    case StopReason::completed:
    case StopReason::early_stopping:
    case StopReason::stopped:
      return kExitOk;
    case StopReason::non_finite_loss:
      return kExitFailure;
    case StopReason::interrupted:
      return exit_code_for_signal(g_stop_signal.load() != 0 ? g_stop_signal.load() : SIGINT);
  }
  return kExitFailure;
}

}  // namespace seqenc::app
