// Data parallelism across hosts (issue 26): two or three hosts made on this machine with network namespaces
// (tests/netns.h), one launcher per host (--nnodes, --node-rank, --master-addr), and the faults a cluster meets:
// a host lost, a cable pulled mid-run, a master that cannot be reached; then elastic restarts across hosts.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <chrono>
#include <set>
#include <thread>

#include "cli.h"
#include "helpers.h"
#include "netns.h"
#include "reliability.h"
#include "seqenc/train/run.h"

using namespace seqenc;
using namespace seqenc::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kPort = 29500;     // each test's hosts have a network of their own: no port is shared with anything
constexpr double kTimeoutS = 8;  // train.dist_timeout_s: rendezvous and collectives fail after this long
// How long a process may take to end after a fault beyond train.dist_timeout_s: the launcher kills a worker that
// has not stopped 10 s after a failure (app/launch.cpp), and a loaded machine may add start-up and exit time.
constexpr double kMarginS = 30;

std::string small(double dropout) {
  return fmt::format(
      " --set model.num_hiddens=16 --set model.num_layers=1 --set model.num_heads=2 --set model.ffn_num_hiddens=16"
      " --set model.dropout={} --set data.train_size=64 --set data.valid_size=16 --set data.test_size=16"
      " --set data.symbols=4 --set data.min_len=20 --set data.seq_len=24 --set data.max_distance=12"
      " --set train.eval_every=3 --set train.log_every=1 --set train.threads=1 --set train.batch_size=8",
      dropout);
}

// `seqenc train` as node `node` of `nnodes`, meeting at `master`.
std::string node_command(const fs::path& dir, int node, int nnodes, const std::string& master,
                         const std::string& more) {
  return fmt::format(
      "{} train --config {}/configs/lag.yaml --run-dir {} --nnodes {} --node-rank {} --master-addr {} "
      "--master-port {}{}",
      SEQENC_BINARY, SEQENC_SOURCE_DIR, dir.string(), nnodes, node, master, kPort, more);
}

// One launcher per host; host_of[node] says where node `node` runs (node 0 is the master).
std::vector<Background> start_nodes(const VirtualHosts& net, const fs::path& dir, const std::vector<int>& host_of,
                                    const std::string& more, const std::string& tag) {
  std::vector<Background> nodes;
  const int n = static_cast<int>(host_of.size());
  for (int node = 0; node < n; ++node) {
    const auto command = node_command(dir, node, n, net.address(host_of[0]), more);
    nodes.push_back(start_background(net.on_host(host_of[static_cast<size_t>(node)], command),
                                     dir.string() + "_" + tag + "_node" + std::to_string(node) + ".log"));
  }
  return nodes;
}

// Waits for every node; each must end with `status`.
void expect_all(std::vector<Background>& nodes, int status, double max_s = 300) {
  for (auto& node : nodes) {
    const int got = wait_background(node, max_s);
    INFO(node.log.string() << ":\n" << slurp(node.log));
    CHECK(got == status);
  }
}

void wait_for_checkpoint(const fs::path& dir) {
  for (int i = 0; i < 12000 && !fs::exists(dir / "checkpoint_last.pt"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(fs::exists(dir / "checkpoint_last.pt"));
}

double seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

std::vector<torch::Tensor> parameters_of(const fs::path& dir) {
  auto run = load_run(dir.string(), CheckpointKind::last);
  std::vector<torch::Tensor> p;
  for (const auto& t : run.model->parameters()) p.push_back(t.detach().clone());
  return p;
}

// The run directory and its nodes' logs (DIR_<tag>_node<i>.log).
void remove_logs(const fs::path& dir) {
  std::vector<fs::path> logs;
  for (const auto& e : fs::directory_iterator(dir.parent_path())) {
    const auto name = e.path().filename().string();
    if (name.rfind(dir.filename().string() + "_", 0) == 0 && e.path().extension() == ".log") logs.push_back(e.path());
  }
  for (const auto& log : logs) fs::remove(log);
  fs::remove_all(dir);
}

// Stops the run in `dir` with a fault (after its first checkpoint) and checks what every survivor does: ends with a
// failure within train.dist_timeout_s and the margin, having said `expected` in one line; the checkpoint stays
// intact, and --resume finishes the run once the hosts are back (`repair`).
template <typename Fault, typename Repair>
void fault_and_resume(VirtualHosts& net, const fs::path& dir, const std::string& name, Fault fault, Repair repair,
                      const std::vector<size_t>& survivors, const std::string& expected) {
  const auto more = small(0) + fmt::format(" --set train.dist_timeout_s={}", kTimeoutS);
  auto nodes = start_nodes(net, dir, {0, 1}, more + " --set train.steps=1000000", name);
  wait_for_checkpoint(dir);
  const auto start = Clock::now();
  fault();
  for (const auto i : survivors) {
    auto& node = nodes[i];
    const int status = wait_background(node, kTimeoutS + kMarginS);
    const auto log = slurp(node.log);
    INFO(name << ", node " << i << ":\n" << log);
    CHECK(status != 0);
    CHECK(status != -1);  // ended by itself, within the bound
    CHECK_THAT(log, Catch::Contains(expected));
    if (status > 0) WARN(name << ": node " << i << " ended " << seconds(start, node.ended) << " s after the fault");
  }
  repair();
  for (auto& node : nodes) wait_background(node, kTimeoutS + kMarginS);
  const auto step = load_run(dir.string(), CheckpointKind::last).state.step;  // intact
  CHECK(step > 0);
  auto again =
      start_nodes(net, dir, {0, 1}, more + fmt::format(" --set train.steps={} --resume", step + 3), name + "r");
  expect_all(again, 0);
  CHECK(load_run(dir.string(), CheckpointKind::last).state.step == step + 3);
}

}  // namespace

TEST_CASE(
    "multihost: 3 hosts x 1 worker train as 1 host x 3 workers, rank 0 alone writes, and the run resumes on "
    "other hosts",
    "[multihost]") {
  VirtualHosts net(3);
  if (!net.ok()) SEQENC_SKIP("ip netns add is not permitted here (it needs root): the multi-host tests did not run");
  const auto one = fresh_dir("mh_one"), many = fresh_dir("mh_many");
  auto r = run_seqenc("train --config configs/lag.yaml --nproc 3 --run-dir " + one.string() + small(0) +
                      " --set train.steps=6");
  INFO(r.err);
  REQUIRE(r.status == 0);
  // Node 1 names its interface (GLOO_SOCKET_IFNAME); the others let seqenc take the one toward the master.
  std::vector<Background> nodes;
  for (int node = 0; node < 3; ++node) {
    const auto command = node_command(many, node, 3, net.address(0), small(0) + " --set train.steps=6");
    nodes.push_back(start_background(net.on_host(node, node == 1 ? "env GLOO_SOCKET_IFNAME=eth0 " + command : command),
                                     many.string() + "_node" + std::to_string(node) + ".log"));
  }
  expect_all(nodes, 0);
  const auto pm = parameters_of(many), p1 = parameters_of(one);
  REQUIRE(pm.size() == p1.size());
  for (size_t i = 0; i < p1.size(); ++i) CHECK(rel_diff(pm[i], p1[i]) < 1e-5);
  const auto lines = metric_lines(many), reference = metric_lines(one);
  REQUIRE(lines.size() == reference.size());
  std::set<std::pair<int64_t, std::string>> seen;  // one writer: each step and split once
  for (size_t i = 0; i < lines.size(); ++i) {
    CHECK(seen.insert({lines[i]["step"].get<int64_t>(), lines[i]["split"].get<std::string>()}).second);
    if (lines[i]["split"] == "train")
      CHECK(lines[i]["loss"].get<double>() == Approx(reference[i]["loss"].get<double>()).epsilon(1e-5));
  }
  const auto log = slurp(many / "train.log");
  CHECK_THAT(log, Catch::Contains("[rank 0]") && !Catch::Contains("[rank 1]") && !Catch::Contains("[rank 2]"));
  CHECK(json::parse(slurp(many / "result.json"))["world_size"] == 3);
  // The same run continued with the roles moved: node 0 (the master, the writer) on host 2 now.
  auto moved = start_nodes(net, many, {2, 0, 1}, small(0) + " --set train.steps=9 --resume", "moved");
  expect_all(moved, 0);
  CHECK(load_run(many.string(), CheckpointKind::last).state.step == 9);
  CHECK(metric_lines(many).back()["step"] == 9);
  remove_logs(one);
  remove_logs(many);
}

TEST_CASE(
    "multihost: a host lost, a cable pulled, a master unreachable: the others end in one line, the checkpoint "
    "stays, --resume works once the host is back",
    "[multihost][faults]") {
  VirtualHosts net(2);
  if (!net.ok()) SEQENC_SKIP("ip netns add is not permitted here (it needs root): the multi-host tests did not run");
  SECTION("every process of host 1 killed") {
    const auto dir = fresh_dir("mh_node_loss");
    fault_and_resume(
        net, dir, "node_loss", [&] { net.kill_host(1); }, [] {}, {0}, "rank 1 failed or left");
    remove_logs(dir);
  }
  SECTION("the cable of host 1 pulled mid-run") {
    const auto dir = fresh_dir("mh_link_cut");
    fault_and_resume(
        net, dir, "link_cut", [&] { net.set_link(1, false); }, [&] { net.set_link(1, true); }, {0, 1},
        "within train.dist_timeout_s");
    remove_logs(dir);
  }
  SECTION("the master unreachable at the start") {
    const auto dir = fresh_dir("mh_no_master");
    const auto more = small(0) + fmt::format(" --set train.dist_timeout_s={} --set train.steps=3", kTimeoutS);
    auto first = start_nodes(net, dir, {0, 1}, more, "first");
    expect_all(first, 0);
    const auto before = slurp(dir / "checkpoint_last.pt");
    REQUIRE(net.set_link(0, false));
    const auto start = Clock::now();
    auto nodes = start_nodes(net, dir, {0, 1}, more + " --set train.steps=6 --resume", "cut");
    const int master = wait_background(nodes[0], kTimeoutS + kMarginS);
    const int other = wait_background(nodes[1], kTimeoutS + kMarginS);
    const auto log0 = slurp(nodes[0].log), log1 = slurp(nodes[1].log);
    INFO(log0 << "\n" << log1);
    CHECK(other == 2);
    CHECK(error_lines(log1).size() == 1);
    CHECK_THAT(log1, Catch::Contains(fmt::format("node 1: cannot reach the master at {}:{} within {} s", net.address(0),
                                                 kPort, kTimeoutS)));
    CHECK(master == 1);
    CHECK_THAT(log0, Catch::Contains("node 1 did not join the rendezvous"));
    WARN("master unreachable: node 1 ended " << seconds(start, nodes[1].ended) << " s after its start, node 0 "
                                             << seconds(start, nodes[0].ended) << " s");
    CHECK(slurp(dir / "checkpoint_last.pt") == before);
    REQUIRE(net.set_link(0, true));
    auto again = start_nodes(net, dir, {0, 1}, more + " --set train.steps=6 --resume", "back");
    expect_all(again, 0);
    CHECK(load_run(dir.string(), CheckpointKind::last).state.step == 6);
    remove_logs(dir);
  }
}

TEST_CASE(
    "multihost: --max-restarts on each host: a killed worker is restarted and the hosts meet again at the same "
    "master, and a lost host is named",
    "[multihost][elastic]") {
  VirtualHosts net(2);
  if (!net.ok()) SEQENC_SKIP("ip netns add is not permitted here (it needs root): the multi-host tests did not run");
  const auto ref = fresh_dir("mh_elastic_ref"), dir = fresh_dir("mh_elastic"), lost = fresh_dir("mh_elastic_lost");
  const auto more = small(0.1) + fmt::format(" --set train.dist_timeout_s={}", kTimeoutS);
  auto reference = start_nodes(net, ref, {0, 1}, more + " --set train.steps=120", "ref");
  expect_all(reference, 0);

  auto nodes = start_nodes(net, dir, {0, 1}, more + " --set train.steps=120 --max-restarts 2", "run");
  wait_for_checkpoint(dir);
  // The worker of host 1, not its launcher.
  int killed = 0;
  for (const pid_t pid : net.pids(1)) {
    if (pid != nodes[1].pid && kill(pid, SIGKILL) == 0) ++killed;
  }
  CHECK(killed == 1);
  const auto killed_at = Clock::now();
  for (int i = 0; i < 60000 && slurp(dir / "train.log").find("elastic restart 1:") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  WARN("a worker of host 1 killed: both hosts' workers train again " << seconds(killed_at, Clock::now())
                                                                     << " s after the kill");
  expect_all(nodes, 0);
  for (const auto& node : nodes) CHECK_THAT(slurp(node.log), Catch::Contains("restart 1 of 2 (--max-restarts)"));
  CHECK(json::parse(slurp(dir / "result.json"))["restarts"] == 1);
  const auto pa = parameters_of(dir), pb = parameters_of(ref);
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) CHECK(torch::equal(pa[i], pb[i]));  // dropout on: every rank's draws kept
  CHECK(metric_lines(dir) == metric_lines(ref));

  // A whole host lost: node 0 restarts its worker, and names the node that does not come back.
  auto again = start_nodes(net, lost, {0, 1}, more + " --set train.steps=1000000 --max-restarts 2", "lost");
  wait_for_checkpoint(lost);
  const auto start = Clock::now();
  net.kill_host(1);
  const int status = wait_background(again[0], 2 * kTimeoutS + kMarginS);
  const auto log = slurp(again[0].log);
  INFO(log);
  CHECK(status == 1);
  CHECK_THAT(log, Catch::Contains("restart 1 of 2 (--max-restarts)"));
  CHECK_THAT(log, Catch::Contains("node 1 did not come back for restart 1"));
  WARN("host lost under --max-restarts: node 0 ended " << seconds(start, again[0].ended) << " s after the kill");
  wait_background(again[1], kMarginS);
  CHECK(load_run(lost.string(), CheckpointKind::last).state.step > 0);
  for (const auto& d : {ref, dir, lost}) remove_logs(d);
}
