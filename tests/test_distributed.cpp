// Data-parallel training (c10d's TCPStore and Gloo, loopback only): ranks as
// threads of this process, each with its own ProcessGroup, and as worker
// processes of the seqenc program.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "cli.h"
#include "helpers.h"
#include "seqenc/train/distributed.h"
#include "seqenc/train/run.h"
#include "seqenc/train/trainer.h"

using namespace seqenc;
using namespace seqenc::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// A small lag task; dropout 0 so that runs compare exactly.
const std::string kSmall =
    " --set model.num_hiddens=16 --set model.num_layers=1 --set model.num_heads=2 --set model.ffn_num_hiddens=16"
    " --set model.dropout=0 --set data.train_size=64 --set data.valid_size=16 --set data.test_size=16"
    " --set data.symbols=4 --set data.min_len=20 --set data.seq_len=24 --set data.max_distance=12"
    " --set train.eval_every=3 --set train.log_every=1 --set train.threads=1 --set train.dist_timeout_s=20";

Config small_config() {
  return load_config("", {"model.num_hiddens=16", "model.num_layers=1", "model.num_heads=2", "model.ffn_num_hiddens=16",
                          "model.dropout=0", "data.train_size=64", "data.valid_size=16", "data.test_size=16",
                          "data.symbols=4", "data.min_len=20", "data.seq_len=24", "data.max_distance=12",
                          "train.steps=4", "train.batch_size=8", "train.threads=1"});
}

// Runs body(rank, group) on world_size threads, each with its own process group.
template <typename F>
void on_ranks(int world_size, F body) {
  const int port = free_port();
  std::vector<std::thread> threads;
  std::vector<std::string> errors(static_cast<size_t>(world_size));
  for (int r = 0; r < world_size; ++r) {
    threads.emplace_back([&, r] {
      try {
        DistOptions o;
        o.rank = r;
        o.world_size = world_size;
        o.master_port = port;
        o.timeout = std::chrono::seconds(20);
        auto group = std::make_shared<ProcessGroup>(o);
        body(r, group);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) CHECK(e == "");
}

// The seqenc program as one worker of a run: RANK etc. in its environment, output to files.
struct Worker {
  pid_t pid = -1;
  fs::path out, err;
};

Worker spawn_worker(const std::string& args, const std::vector<std::string>& env, const fs::path& base) {
  Worker w{-1, base.string() + ".out", base.string() + ".err"};
  const std::string command = std::string("cd " SEQENC_SOURCE_DIR " && exec " SEQENC_BINARY " ") + args + " > " +
                              w.out.string() + " 2> " + w.err.string();
  // Built before fork: this process has threads, so the child only execs.
  std::vector<std::string> vars = env;
  for (char** p = environ; *p; ++p) vars.push_back(*p);
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  const char* argv[] = {"sh", "-c", command.c_str(), nullptr};
  w.pid = fork();
  if (w.pid == 0) {
    execve("/bin/sh", const_cast<char* const*>(argv), envp.data());
    _exit(127);
  }
  return w;
}

// The worker's exit status (128 + signal if killed); kills it and fails after max_s (a hang is the bug).
int wait_worker(const Worker& w, double max_s = 120) {
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  while (waitpid(w.pid, &status, WNOHANG) == 0) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > max_s) {
      kill(w.pid, SIGKILL);
      waitpid(w.pid, &status, 0);
      FAIL("worker " << w.pid << " did not stop within " << max_s << " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<std::string> worker_env(int rank, int world, int port) {
  return {"RANK=" + std::to_string(rank),
          "WORLD_SIZE=" + std::to_string(world),
          "LOCAL_RANK=" + std::to_string(rank),
          "LOCAL_WORLD_SIZE=" + std::to_string(world),
          "MASTER_ADDR=127.0.0.1",
          "MASTER_PORT=" + std::to_string(port)};
}

size_t count_lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

std::vector<torch::Tensor> parameters_of(const fs::path& dir) {
  auto run = load_run(dir.string(), CheckpointKind::last);
  std::vector<torch::Tensor> p;
  for (const auto& t : run.model->parameters()) p.push_back(t.detach().clone());
  return p;
}

// Each rank's gradients after one step of config on 2 ranks (threads).
std::vector<std::vector<torch::Tensor>> step_gradients(const Config& config, const std::string& name) {
  const auto dir = fresh_dir(name);
  std::vector<std::vector<torch::Tensor>> grads(2);
  on_ranks(2, [&](int rank, const std::shared_ptr<ProcessGroup>& group) {
    TrainControl quiet;
    quiet.quiet = true;
    Trainer trainer(config, dir.string(), false, quiet, Rank::of(group));
    trainer.train_step(trainer.next_step());
    for (const auto& p : trainer.model().parameters()) grads[static_cast<size_t>(rank)].push_back(p.grad().clone());
  });
  fs::remove_all(dir);
  return grads;
}

// Parameters of two runs through the CLI agree, and so do their losses.
void check_same_run(const fs::path& a, const fs::path& b) {
  const auto pa = parameters_of(a), pb = parameters_of(b);
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) CHECK(rel_diff(pa[i], pb[i]) < 1e-4);
  const auto ma = metric_lines(a), mb = metric_lines(b);
  REQUIRE(ma.size() == mb.size());
  for (size_t i = 0; i < ma.size(); ++i) {
    CHECK(ma[i]["step"] == mb[i]["step"]);
    if (ma[i]["split"] == "train")
      CHECK(ma[i]["loss"].get<double>() == Approx(mb[i]["loss"].get<double>()).epsilon(1e-4));
  }
}

}  // namespace

TEST_CASE("distributed: gradients are bucketed by size and dtype, in order", "[distributed]") {
  std::vector<torch::Tensor> t = {torch::zeros({10}), torch::zeros({10}), torch::zeros({30}),
                                  torch::zeros({2}, torch::kFloat64), torch::zeros({5})};
  const auto buckets = bucket_tensors(t, 80);  // 20 floats a bucket; a larger tensor is a bucket of its own
  REQUIRE(buckets.size() == 4);
  CHECK(buckets[0] == std::vector<size_t>{0, 1});
  CHECK(buckets[1] == std::vector<size_t>{2});
  CHECK(buckets[2] == std::vector<size_t>{3});
  CHECK(buckets[3] == std::vector<size_t>{4});
}

TEST_CASE("distributed: allreduce sums in place over buckets, broadcast copies rank 0's", "[distributed]") {
  on_ranks(2, [](int rank, const std::shared_ptr<ProcessGroup>& group) {
    std::vector<torch::Tensor> t = {torch::full({7}, rank + 1.0), torch::full({3, 4}, 10.0 * (rank + 1))};
    group->allreduce_sum(t, 16);  // several buckets in flight
    CHECK(t[0].eq(3.0).all().item<bool>());
    CHECK(t[1].eq(30.0).all().item<bool>());
    CHECK(group->stats().bytes == (7 + 12) * 4);
    std::vector<torch::Tensor> b = {torch::full({5}, rank + 0.5)};
    group->broadcast(b);
    CHECK(b[0].eq(0.5).all().item<bool>());
    CHECK(group->allreduce_max(rank * 7) == 7);
  });
}

TEST_CASE("distributed: different configurations are refused on every rank, naming the rank", "[distributed]") {
  on_ranks(2, [](int rank, const std::shared_ptr<ProcessGroup>& group) {
    try {
      group->check_same(rank == 0 ? "a: 1" : "a: 2", "resolved configuration");
      FAIL("no error");
    } catch (const ConfigError& e) {
      CHECK_THAT(e.what(), Catch::Contains("rank 1's resolved configuration differs from that of rank 0"));
    }
    group->check_same("same", "resolved configuration");
  });
}

TEST_CASE("distributed: after a step every rank holds the same gradients and parameters", "[distributed]") {
  const auto config = small_config();
  const auto dir = fresh_dir("dist_grads");
  std::vector<std::vector<torch::Tensor>> grads(2), params(2);
  std::vector<int64_t> batch_sizes(2);
  on_ranks(2, [&](int rank, const std::shared_ptr<ProcessGroup>& group) {
    TrainControl quiet;
    quiet.quiet = true;
    Trainer trainer(config, dir.string(), false, quiet, Rank::of(group));
    const auto step = trainer.next_step();
    batch_sizes[static_cast<size_t>(rank)] = step.micro_batches.at(0).tokens.size(0);
    trainer.train_step(step);
    for (const auto& p : trainer.model().parameters()) {
      grads[static_cast<size_t>(rank)].push_back(p.grad().clone());
      params[static_cast<size_t>(rank)].push_back(p.detach().clone());
    }
  });
  CHECK(batch_sizes == std::vector<int64_t>{8, 8});  // each rank its half of a global batch of 16
  REQUIRE(grads[0].size() == grads[1].size());
  REQUIRE(!grads[0].empty());
  for (size_t i = 0; i < grads[0].size(); ++i) {
    CHECK(torch::equal(grads[0][i], grads[1][i]));
    CHECK(torch::equal(params[0][i], params[1][i]));
  }
  fs::remove_all(dir);
}

TEST_CASE("distributed: gradients reduced during backward in many buckets are the same on every rank",
          "[distributed]") {
  auto config = small_config();
  config.train.dist_bucket_mb = 0.002;  // about 500 floats a bucket: many buckets, launched as backward goes
  const auto grads = step_gradients(config, "dist_overlap_ranks");
  REQUIRE(!grads[0].empty());
  for (size_t i = 0; i < grads[0].size(); ++i) CHECK(torch::equal(grads[0][i], grads[1][i]));
}

TEST_CASE("distributed: the Reducer reduces on the last of several backward passes only", "[distributed]") {
  on_ranks(2, [](int rank, const std::shared_ptr<ProcessGroup>& group) {
    std::vector<torch::Tensor> params;
    for (int64_t n : {1000, 1000, 600, 600, 10}) params.push_back(torch::zeros({n}).requires_grad_());
    GradientReducer reducer(*group, params, 4000);  // c10d closes a bucket once it holds 4,000 bytes or more
    CHECK(reducer.num_buckets() == 4);
    for (int pass = 0; pass < 2; ++pass) {
      auto loss = torch::zeros({});
      for (const auto& p : params) loss = loss + p.sum();
      reducer.backward(loss * (rank + 1.0), pass == 1);
      if (pass == 0) CHECK(group->stats().bytes == 0);  // the first pass accumulates locally
    }
    for (const auto& p : params) CHECK(p.grad().eq(2 * (1 + 2)).all().item<bool>());  // 2 passes, ranks 1 and 2
    CHECK(group->stats().bytes == 3210 * 4);
  });
}

TEST_CASE("distributed: 2 workers x batch b train the same parameters as 1 worker x batch 2b", "[distributed][cli]") {
  const auto two = fresh_dir("dist_two"), one = fresh_dir("dist_one");
  auto a = run_seqenc("train --config configs/lag.yaml --nproc 2 --run-dir " + two.string() + kSmall +
                      " --set train.steps=6 --set train.batch_size=8");
  INFO(a.err);
  REQUIRE(a.status == 0);
  auto b = run_seqenc("train --config configs/lag.yaml --run-dir " + one.string() + kSmall +
                      " --set train.steps=6 --set train.batch_size=16");
  INFO(b.err);
  REQUIRE(b.status == 0);
  const auto p2 = parameters_of(two), p1 = parameters_of(one);
  REQUIRE(p2.size() == p1.size());
  for (size_t i = 0; i < p1.size(); ++i) CHECK(rel_diff(p2[i], p1[i]) < 1e-4);
  // The same global batches, so the same losses (the mean over each global batch's labels).
  const auto m2 = metric_lines(two), m1 = metric_lines(one);
  REQUIRE(m2.size() == m1.size());
  for (size_t i = 0; i < m1.size(); ++i) {
    CHECK(m2[i]["step"] == m1[i]["step"]);
    CHECK(m2[i]["loss"].get<double>() == Approx(m1[i]["loss"].get<double>()).epsilon(1e-4));
  }
  fs::remove_all(two);
  fs::remove_all(one);
}

TEST_CASE("distributed: --nproc 2 end to end, rank 0 alone writes the run directory", "[distributed][cli]") {
  const auto dir = fresh_dir("dist_e2e");
  auto r = run_seqenc("train --config configs/lag.yaml --nproc 2 --run-dir " + dir.string() + kSmall +
                      " --set train.steps=6 --set train.batch_size=8");
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(count_lines(r.out) == 1);  // "run directory: ..." once
  CHECK_THAT(r.err, Catch::Contains("[rank 0]") && Catch::Contains("[rank 1]") &&
                        Catch::Contains("global batch 16 = train.batch_size 8 x 2 ranks"));
  // One metrics line per step and split: written once, not once per rank.
  std::set<std::pair<int64_t, std::string>> seen;
  const auto lines = metric_lines(dir);
  for (const auto& line : lines) {
    const bool first = seen.insert({line["step"].get<int64_t>(), line["split"].get<std::string>()}).second;
    CHECK(first);
  }
  CHECK(lines.size() == 6 + 2);
  const auto result = json::parse(slurp(dir / "result.json"));
  CHECK(result["world_size"] == 2);
  CHECK(result["global_batch_size"] == 16);
  CHECK(result["allreduce_bytes_per_step"].get<int64_t>() > 0);
  const auto log = slurp(dir / "train.log");
  CHECK_THAT(log, Catch::Contains("[rank 0]"));
  CHECK_THAT(log, !Catch::Contains("[rank 1]"));
  auto e = run_seqenc("eval --run " + dir.string() + " --json");
  CHECK(e.status == 0);
  fs::remove_all(dir);
}

TEST_CASE("distributed: a checkpoint of 2 workers resumes in 1 and one of 1 worker in 2", "[distributed][cli]") {
  const auto a = fresh_dir("dist_resume_a"), b = fresh_dir("dist_resume_b");
  // 2 x 8: 64 examples are 4 global batches of 16; after 6 steps the run is 32 examples into epoch 1.
  auto first = run_seqenc("train --config configs/lag.yaml --nproc 2 --run-dir " + a.string() + kSmall +
                          " --set train.steps=6 --set train.batch_size=8");
  REQUIRE(first.status == 0);
  auto state = load_run(a.string(), CheckpointKind::last).state;
  CHECK(state.world_size == 2);
  CHECK(state.global_batch_size == 16);
  CHECK(state.epoch == 1);
  CHECK(state.batch_in_epoch == 2);
  auto more = run_seqenc("train --config " + (a / "config.yaml").string() + " --run-dir " + a.string() +
                         " --resume --set train.steps=9");
  INFO(more.err);
  REQUIRE(more.status == 0);
  CHECK_THAT(more.err, Catch::Contains("32 examples into epoch 1 is global batch 4 now"));
  state = load_run(a.string(), CheckpointKind::last).state;
  CHECK(state.step == 9);
  CHECK(state.world_size == 1);
  CHECK(state.epoch == 1);
  CHECK(state.batch_in_epoch == 7);  // 4 + 3 batches of 8
  // And back: 1 worker, then 2.
  auto single = run_seqenc("train --config configs/lag.yaml --run-dir " + b.string() + kSmall +
                           " --set train.steps=3 --set train.batch_size=8");
  REQUIRE(single.status == 0);
  auto both = run_seqenc("train --config " + (b / "config.yaml").string() + " --run-dir " + b.string() +
                         " --resume --nproc 2 --set train.steps=6");
  INFO(both.err);
  REQUIRE(both.status == 0);
  CHECK_THAT(both.err, Catch::Contains("(rounded down)"));  // 24 examples: global batch 1 of 16, not 1.5
  state = load_run(b.string(), CheckpointKind::last).state;
  CHECK(state.step == 6);
  CHECK(state.world_size == 2);
  CHECK(metric_lines(b).back()["step"] == 6);
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_CASE("distributed: a worker killed mid-run makes the other exit non-zero naming its rank", "[distributed]") {
  const auto dir = fresh_dir("dist_kill");
  const int port = free_port();
  const std::string args = "train --config configs/lag.yaml --run-dir " + dir.string() + kSmall +
                           " --set train.steps=1000000 --set train.batch_size=8 --set train.dist_timeout_s=10";
  auto rank0 = spawn_worker(args, worker_env(0, 2, port), dir.string() + "_0");
  auto rank1 = spawn_worker(args, worker_env(1, 2, port), dir.string() + "_1");
  // Once rank 0 has written a checkpoint, kill rank 1.
  for (int i = 0; i < 6000 && !fs::exists(dir / "checkpoint_last.pt"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(fs::exists(dir / "checkpoint_last.pt"));
  kill(rank1.pid, SIGKILL);
  CHECK(wait_worker(rank1) == 128 + SIGKILL);
  const int status = wait_worker(rank0, 60);
  const auto err = slurp(rank0.err);
  INFO(err);
  CHECK(status != 0);
  CHECK_THAT(err, Catch::Contains("rank 1 failed or left"));
  CHECK(load_run(dir.string(), CheckpointKind::last).state.step > 0);  // the last checkpoint is intact
  for (const auto& w : {rank0, rank1}) {
    fs::remove(w.out);
    fs::remove(w.err);
  }
  fs::remove_all(dir);
}

TEST_CASE("distributed: a port in use, an unreachable master or another config: one line, exit 2",
          "[distributed][cli]") {
  const auto dir = fresh_dir("dist_errors");
  // Hold a port, as another program would.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(listen(fd, 4) == 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int held = ntohs(addr.sin_port);
  const std::string args = "train --config configs/lag.yaml --run-dir " + dir.string() + kSmall +
                           " --set train.steps=3 --set train.dist_timeout_s=2";

  auto busy = run_seqenc(args + " --nproc 2 --master-port " + std::to_string(held));
  CHECK(busy.status == 2);
  CHECK(count_lines(busy.err) == 1);
  CHECK_THAT(busy.err, Catch::Contains("--master-port " + std::to_string(held)) && Catch::Contains("in use"));

  // Rank 0 started by hand on the same port: the rendezvous itself says so.
  auto w0 = spawn_worker(args, worker_env(0, 2, held), dir.string() + "_busy");
  CHECK(wait_worker(w0) == 2);
  auto err0 = slurp(w0.err);
  CHECK(count_lines(err0) == 1);
  CHECK_THAT(err0, Catch::Contains("MASTER_PORT " + std::to_string(held)));
  close(fd);

  auto w1 = spawn_worker(args, worker_env(1, 2, free_port()), dir.string() + "_unreachable");
  CHECK(wait_worker(w1) == 2);
  auto err1 = slurp(w1.err);
  CHECK(count_lines(err1) == 1);
  CHECK_THAT(err1, Catch::Contains("rank 1: cannot reach the master at 127.0.0.1:"));

  const int port = free_port();
  auto a = spawn_worker(args, worker_env(0, 2, port), dir.string() + "_cfg0");
  auto b = spawn_worker(args + " --set train.lr=0.5", worker_env(1, 2, port), dir.string() + "_cfg1");
  CHECK(wait_worker(a) == 2);
  CHECK(wait_worker(b) == 2);
  for (const auto& w : {a, b}) {
    auto err = slurp(w.err);
    CHECK(count_lines(err) == 1);
    CHECK_THAT(err, Catch::Contains("rank 1's resolved configuration differs from that of rank 0"));
  }
  for (const auto& w : {w0, w1, a, b}) {
    fs::remove(w.out);
    fs::remove(w.err);
  }
  fs::remove_all(dir);
}

TEST_CASE("distributed: Ctrl-C reaches every worker once, and they stop together with a checkpoint",
          "[distributed][cli]") {
  const auto dir = fresh_dir("dist_sigint");
  const auto launcher = spawn_worker("train --config configs/lag.yaml --nproc 2 --run-dir " + dir.string() + kSmall +
                                         " --set train.steps=1000000 --set train.batch_size=8",
                                     {}, dir.string() + "_launcher");
  for (int i = 0; i < 6000 && !fs::exists(dir / "checkpoint_last.pt"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(fs::exists(dir / "checkpoint_last.pt"));
  kill(launcher.pid, SIGINT);
  CHECK(wait_worker(launcher) == 130);
  const auto err = slurp(launcher.err);
  INFO(err);
  CHECK_THAT(err, Catch::Contains("[rank 0]") && Catch::Contains("stopped by"));
  CHECK_THAT(err, Catch::Contains("[rank 1]"));
  const auto state = load_run(dir.string(), CheckpointKind::last).state;
  CHECK(metric_lines(dir).back()["step"].get<int64_t>() <= state.step);
  fs::remove(launcher.out);
  fs::remove(launcher.err);
  fs::remove_all(dir);
}

TEST_CASE("distributed: compare --nproc 2 trains each encoder data-parallel and writes one report",
          "[distributed][cli][compare]") {
  const auto dir = fresh_dir("dist_compare");
  auto r = run_seqenc("compare --config configs/lag.yaml --encoders cnn,rnn --nproc 2 --run-dir " + dir.string() +
                      kSmall + " --set train.steps=3 --set train.batch_size=8");
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(fs::exists(dir / "report.md"));
  for (const char* encoder : {"cnn", "rnn"}) {
    CHECK(json::parse(slurp(dir / encoder / "result.json"))["world_size"] == 2);
    CHECK(metric_lines(dir / encoder).size() == 3 + 1);
  }
  fs::remove_all(dir);
}

TEST_CASE("distributed: accumulate_steps 2 trains as one batch twice as large, on 1 worker and on 2",
          "[distributed][cli][accumulate]") {
  const auto acc1 = fresh_dir("acc_1x8x2"), big1 = fresh_dir("acc_1x16"), acc2 = fresh_dir("acc_2x4x2");
  const auto train = [](const fs::path& dir, const std::string& more) {
    auto r = run_seqenc("train --config configs/lag.yaml --run-dir " + dir.string() + kSmall + " --set train.steps=6 " +
                        more);
    INFO(r.err);
    REQUIRE(r.status == 0);
    return r;
  };
  auto a = train(acc1, "--set train.batch_size=8 --set train.accumulate_steps=2");
  CHECK_THAT(a.err, Catch::Contains("global batch 16 = train.batch_size 8 x 2 train.accumulate_steps"));
  train(big1, "--set train.batch_size=16");
  check_same_run(acc1, big1);
  auto b = train(acc2, "--nproc 2 --set train.batch_size=4 --set train.accumulate_steps=2");
  CHECK_THAT(b.err, Catch::Contains("global batch 16 = train.batch_size 4 x 2 ranks x 2 train.accumulate_steps"));
  check_same_run(acc2, big1);
  // The checkpoint records the global batch, so a resume elsewhere converts positions from it.
  const auto state = load_run(acc2.string(), CheckpointKind::last).state;
  CHECK(state.global_batch_size == 16);
  CHECK(json::parse(slurp(acc2 / "result.json"))["global_batch_size"] == 16);
  CHECK_THAT(slurp(acc2 / "config.yaml"), Catch::Contains("# this run: global batch 16"));
  auto more = run_seqenc("train --config " + (acc2 / "config.yaml").string() + " --run-dir " + acc2.string() +
                         " --resume --set train.steps=8 --set train.accumulate_steps=1");
  INFO(more.err);
  REQUIRE(more.status == 0);
  CHECK_THAT(more.err, Catch::Contains("this run's is 4"));
  for (const auto& d : {acc1, big1, acc2}) fs::remove_all(d);
}

TEST_CASE("distributed: train.accumulate_steps below 1 is refused in one line naming the key", "[distributed][cli]") {
  for (const char* value : {"0", "-2"}) {
    const auto dir = fresh_dir("acc_bad");
    auto r = run_seqenc("train --config configs/lag.yaml --run-dir " + dir.string() + kSmall +
                        " --set train.accumulate_steps=" + value);
    CHECK(r.status == 2);
    CHECK(count_lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains("train.accumulate_steps: must be >= 1"));
    CHECK(!fs::exists(dir));
  }
}

TEST_CASE("distributed: reduced during backward or after it, the same run, and result.json says which",
          "[distributed][cli]") {
  std::map<std::string, fs::path> dirs;
  for (const std::string overlap : {"true", "false"}) {
    const auto dir = dirs[overlap] = fresh_dir("dist_overlap_" + overlap);
    auto r = run_seqenc("train --config configs/lag.yaml --nproc 2 --run-dir " + dir.string() + kSmall +
                        " --set train.steps=4 --set train.batch_size=8 --set train.dist_bucket_mb=0.002" +
                        " --set train.dist_overlap=" + overlap);
    INFO(r.err);
    REQUIRE(r.status == 0);
    const auto result = json::parse(slurp(dir / "result.json"));
    CHECK(result["dist_overlap"] == (overlap == "true"));
    CHECK(result["grad_buckets"].get<int64_t>() > 1);
    CHECK(result["exposed_comm_s"].get<double>() > 0);  // the wait for the last reduced gradients was measured
    CHECK(result["exposed_comm_s"].get<double>() <= result["comm_s"].get<double>());
    CHECK(result["allreduce_bytes_per_step"].get<int64_t>() > 0);
    CHECK_THAT(r.err, Catch::Contains(overlap == "true" ? "during backward" : "after backward"));
  }
  check_same_run(dirs["true"], dirs["false"]);
  for (const auto& [overlap, dir] : dirs) fs::remove_all(dir);
}
