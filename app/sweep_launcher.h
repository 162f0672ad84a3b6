// The runs of a sweep as processes of this program: `seqenc train` for each run (with --nproc, a data-parallel
// run that starts its own workers), its output in RUN/console.log. Planning and scheduling are the library's
// (tools/sweep.h).
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <map>

#include "seqenc/tools/sweep.h"

namespace seqenc::app {

class ProcessLauncher : public RunLauncher {
 public:
  // nproc and max_restarts as `seqenc train --nproc --max-restarts` takes them, for every run.
  ProcessLauncher(int nproc, int max_restarts) : nproc_(nproc), max_restarts_(max_restarts) {}
  // Forks and execs; the run is in its own process group (a terminal's Ctrl-C reaches the sweep, which forwards
  // it once) and gets SIGTERM (saving a checkpoint) if the sweep dies.
  void start(const RunLaunch& launch) override;
  // Waits for a run to end; forwards a stop request (stop_requested()) to every run once.
  RunEnd wait() override;

 private:
  struct Started {
    size_t index;
    std::filesystem::path log;
  };
  int nproc_, max_restarts_;
  std::map<pid_t, Started> running_;
  bool forwarded_ = false;
};

}  // namespace seqenc::app
