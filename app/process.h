// Process state the library leaves to the program: signal handlers, thread
// count, memory counters and exit codes.
#pragma once
#include <cstdint>
#include <string>

#include "seqenc/train/outcome.h"

namespace seqenc::app {

// Set once at start: a write past RLIMIT_FSIZE fails with EFBIG (reported as one line naming the file) instead of
// killing the process with SIGXFSZ.
void ignore_file_size_signal();
// Set once at start: freed memory stays with the process for the next step (glibc's malloc otherwise returns the
// heap's top and maps every block over its adaptive threshold afresh, so a training step page-faults on memory the
// last step just freed: 5-7 % of a step, docs/performance.md). Left alone when the environment tunes malloc.
void keep_freed_memory();
// Ctrl-C / SIGTERM request a stop (the run checkpoints and returns); a second one ends the process at once.
void install_stop_handlers();
// "" while no stop was requested, else its cause: "Ctrl-C" or "SIGTERM".
std::string stop_requested();
// Gives freed memory back and resets the process's peak resident memory (VmHWM) to the current one, where Linux
// allows.
void reset_peak_memory();
// Intra-op CPU threads for LibTorch; 0 keeps LibTorch's default.
void use_threads(int64_t threads);
// Where measured kernel choices are kept: $XDG_CACHE_HOME/seqenc/kernels.json, else ~/.cache/seqenc/kernels.json.
std::string kernel_cache_path();
// The steering every training command passes to the library: stop requests, memory counters, and kernel choices
// measured and cached (nn/autotune.h) with the program's sgemm_ switch.
TrainControl train_control();
// 0 for a finished run, 1 for a non-finite loss, 128 + signal for an interrupted one.
int exit_code(StopReason reason);

}  // namespace seqenc::app
