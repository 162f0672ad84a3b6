// Data parallelism, the process side, as torchrun does it: resolving where the workers meet, starting the local
// workers with torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT),
// supervising them, and (in a worker) reading those variables back to join the process group.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "seqenc/train/config.h"
#include "seqenc/train/sync.h"

namespace seqenc::app {

// Data parallelism (train, compare): workers to start here, and where they meet.
struct LaunchArgs {
  int nproc = 1;   // workers to start on this machine
  int nnodes = 1;  // machines
  int node_rank = 0;
  std::string master_addr, master_port;  // default: MASTER_ADDR / MASTER_PORT, else 127.0.0.1 and a free port
  int max_restarts = 0;                  // torchrun's --max-restarts: restarts of this machine's workers
};

// Where this machine's workers meet the others: checked, with the defaults filled in.
struct Rendezvous {
  std::string addr;
  int port = 0;
  int nproc = 1, node_rank = 0, world_size = 1;
};

// True when this process should start workers: --nproc or --nnodes above 1 (or --max-restarts above 0) and no RANK
// in the environment.
bool launches_workers(const LaunchArgs& args);

// A worker's command line: for the first start, or (restart) for a restart from the last checkpoint.
using WorkerArgs = std::function<std::vector<std::string>(bool restart)>;

// The rendezvous the arguments (and MASTER_ADDR, MASTER_PORT) describe; ConfigError for a bad one, or a port that
// node 0 cannot serve.
Rendezvous resolve_rendezvous(const LaunchArgs& args);

// Serves (node 0) or joins the job's store, starts the workers (this program with worker_args, torchrun's
// variables set), forwards SIGINT / SIGTERM to them and waits. When a worker fails and restarts are left
// (--max-restarts), the others are killed and all start again from the last checkpoint, with one line saying so;
// a stop request is never restarted. Otherwise the failure gets one line and the others get timeout_s (and a
// margin) to stop before they are killed. Returns 0 when every worker succeeded, else the last attempt's first
// failure's exit code (128 + signal for a signal).
int launch_workers(const LaunchArgs& args, const WorkerArgs& worker_args, double timeout_s);

// In a worker: the restarts its launcher made before starting it (TORCHELASTIC_RESTART_COUNT), 0 outside one.
int worker_restarts();

// This worker's rank from the environment, with its process group formed (rendezvous); a one-process Rank when
// WORLD_SIZE is unset or 1. Also sets the worker's threads (train.threads, or the cores shared among the local
// workers) and ignores SIGPIPE (a peer's socket may close). ConfigError for bad or missing variables.
Rank join_workers(const Config& config);

}  // namespace seqenc::app
