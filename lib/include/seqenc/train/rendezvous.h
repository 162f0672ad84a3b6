// The launchers' side of a data-parallel job, as torchrun's agents do it with a static rendezvous: node 0's
// launcher serves one TCPStore at the master's address for the whole job, the workers of every (re)start meet
// there as its clients under /worker/attempt_<round> (DistOptions::agent_store), and the launchers of all nodes
// meet there before each round of workers starts (a store-based barrier, as c10d's), so that a node that did not
// come back is named instead of leaving the others waiting in the workers' rendezvous.
#pragma once
#include <chrono>
#include <memory>
#include <string>

namespace seqenc {

class LauncherStore {
 public:
  // Node 0 serves addr:port (ConfigError when it cannot: the port is taken); the others connect to it (ConfigError
  // when node 0 cannot be reached within timeout). One line each, naming the address.
  LauncherStore(const std::string& addr, int port, int node_rank, int nnodes, std::chrono::milliseconds timeout);
  ~LauncherStore();
  LauncherStore(const LauncherStore&) = delete;
  LauncherStore& operator=(const LauncherStore&) = delete;

  // Returns once every node's launcher has reached round `round` (0 for the first start, then one per restart);
  // std::runtime_error naming the nodes that did not within the timeout, or the master when it went away.
  void meet(int round);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seqenc
