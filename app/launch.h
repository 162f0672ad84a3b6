// Data parallelism, the process side: reading a worker's place from the
// environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT, as torchrun sets them) and starting local workers (--nproc).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "seqenc/train/trainer.h"

namespace seqenc::app {

// True when this process should start workers: --nproc or --nnodes above 1 and no RANK in the environment.
bool launches_workers(const LaunchArgs& args);

// Starts the workers (this program with worker_args, RANK etc. set), forwards SIGINT / SIGTERM to them and waits.
// A worker that fails gets one line; the others get timeout_s (and a margin) to stop before they are killed.
// Returns 0 when every worker succeeded, else the first failure's exit code (128 + signal for a signal).
int launch_workers(const LaunchArgs& args, const std::vector<std::string>& worker_args, double timeout_s);

// This worker's rank from the environment, with its process group formed (rendezvous); a one-process Rank when
// WORLD_SIZE is unset or 1. Also sets the worker's threads (train.threads, or the cores shared among the local
// workers) and ignores SIGPIPE (a peer's socket may close). ConfigError for bad or missing variables.
Rank join_workers(const Config& config);

}  // namespace seqenc::app
