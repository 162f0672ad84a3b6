#include "seqenc/train/rendezvous.h"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "seqenc/error.h"
#include "seqenc/strings.h"

namespace seqenc {

namespace {
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::string round_key(int round, int node) { return fmt::format("/agent/round_{}/node_{}", round, node); }
}  // namespace

struct LauncherStore::Impl {
  std::string where;
  int node_rank = 0, nnodes = 1;
  std::chrono::milliseconds timeout;
  c10::intrusive_ptr<c10d::TCPStore> store;

  double timeout_s() const { return static_cast<double>(timeout.count()) / 1000; }

  // The nodes whose launcher has not reached `round`.
  std::vector<std::string> missing(int round) const {
    std::vector<std::string> out;
    for (int n = 0; n < nnodes; ++n) {
      if (!store->check({round_key(round, n)})) out.push_back(std::to_string(n));
    }
    return out;
  }
};

LauncherStore::LauncherStore(const std::string& addr, int port, int node_rank, int nnodes,
                             std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.where = fmt::format("{}:{}", addr, port);
  m.node_rank = node_rank;
  m.nnodes = nnodes;
  m.timeout = timeout;
  c10d::TCPStoreOptions o;
  o.port = static_cast<uint16_t>(port);
  o.isServer = node_rank == 0;
  o.waitWorkers = false;  // the launchers meet in meet(); workers come and go with restarts
  o.timeout = timeout;
  try {
    m.store = c10::make_intrusive<c10d::TCPStore>(addr, o);
  } catch (const std::exception& e) {
    if (node_rank == 0) {
      throw ConfigError(fmt::format("--master-port {}: node 0 cannot serve the rendezvous at {} ({})", port, m.where,
                                    first_line(e.what())));
    }
    throw ConfigError(fmt::format(
        "node {}: cannot reach the master at {} within {} s; check --master-addr / --master-port and that node 0's "
        "seqenc is running ({})",
        node_rank, m.where, m.timeout_s(), first_line(e.what())));
  }
}

LauncherStore::~LauncherStore() = default;

void LauncherStore::meet(int round) {
  auto& m = *impl_;
  std::vector<std::string> keys;
  for (int n = 0; n < m.nnodes; ++n) keys.push_back(round_key(round, n));
  try {
    m.store->set(keys[static_cast<size_t>(m.node_rank)], {'1'});
    m.store->wait(keys, m.timeout);
  } catch (const std::exception& e) {
    std::vector<std::string> gone;
    try {
      gone = m.missing(round);
    } catch (const std::exception&) {
      throw std::runtime_error(
          fmt::format("node {}: lost the master at {} ({})", m.node_rank, m.where, first_line(e.what())));
    }
    throw std::runtime_error(fmt::format(
        "node {}: {} {} did not {} at {} within {} s", m.node_rank, gone.size() == 1 ? "node" : "nodes",
        join(gone, ", "), round == 0 ? "join the rendezvous" : fmt::format("come back for restart {}", round), m.where,
        m.timeout_s()));
  }
}

}  // namespace seqenc
