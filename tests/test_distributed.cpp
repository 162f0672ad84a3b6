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

// A port nobody listens on now.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

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
    const auto batch = trainer.next_batch();
    batch_sizes[static_cast<size_t>(rank)] = batch.tokens.size(0);
    trainer.train_step(batch);
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
