// Data parallelism that survives failures (issue 26), on one machine: exact multi-rank resume, elastic restarts
// (--max-restarts) of killed workers, a stop request that is never restarted, and workers killed at random moments
// that still end exactly as an uninterrupted run. The multi-host side is in test_multihost.cpp.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "helpers.h"
#include "reliability.h"
#include "seqenc/train/run.h"

using namespace seqenc;
using namespace seqenc::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

// A small lag task with dropout on, so that exactness needs every rank's generator.
std::vector<std::string> run_args(const std::string& command, const fs::path& dir, int64_t steps,
                                  std::vector<std::string> more = {}) {
  std::vector<std::string> a{command, "--config", SEQENC_SOURCE_DIR "/configs/lag.yaml", "--run-dir", dir.string()};
  for (const char* s :
       {"model.num_hiddens=16", "model.num_layers=1", "model.num_heads=2", "model.ffn_num_hiddens=16",
        "model.dropout=0.1", "data.train_size=64", "data.valid_size=16", "data.test_size=16", "data.symbols=4",
        "data.min_len=20", "data.seq_len=24", "data.max_distance=12", "train.eval_every=3", "train.log_every=1",
        "train.threads=1", "train.batch_size=8", "train.dist_timeout_s=20"}) {
    a.insert(a.end(), {"--set", s});
  }
  a.insert(a.end(), {"--set", "train.steps=" + std::to_string(steps)});
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

std::string line_of(const std::vector<std::string>& args) {
  std::string line;
  for (const auto& a : args) line += (line.empty() ? "" : " ") + a;
  return line;
}

// The state letter of a process in /proc ('Z' for one that ended and was not reaped), 0 when there is none.
char state_of(pid_t pid) {
  const auto stat = slurp(fs::path("/proc") / std::to_string(pid) / "stat");
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? 0 : stat[paren + 2];
}

// Whether our child `pid` has ended (without reaping it: wait_status does that).
bool ended(pid_t pid) {
  const char state = state_of(pid);
  return state == 0 || state == 'Z' || state == 'X';
}

// The processes whose parent is `parent` and that have not ended.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  DIR* proc = opendir("/proc");
  while (dirent* e = proc ? readdir(proc) : nullptr) {
    const pid_t pid = static_cast<pid_t>(std::atol(e->d_name));
    if (pid <= 0) continue;
    const auto stat = slurp(fs::path("/proc") / e->d_name / "stat");
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    char state = 0;
    long ppid = 0;
    if (std::sscanf(stat.c_str() + paren + 1, " %c %ld", &state, &ppid) == 2 && ppid == parent && state != 'Z') {
      out.push_back(pid);
    }
  }
  if (proc) closedir(proc);
  return out;
}

// Waits until `parent` has n live children none of which is in `old`; returns them (empty if it ended first).
std::vector<pid_t> new_workers(pid_t parent, size_t n, const std::vector<pid_t>& old) {
  for (int i = 0; i < 30000; ++i) {
    auto now = children_of(parent);
    const bool fresh = std::none_of(now.begin(), now.end(),
                                    [&](pid_t p) { return std::find(old.begin(), old.end(), p) != old.end(); });
    if (now.size() == n && fresh) return now;
    if (ended(parent)) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return {};
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

size_t metric_count(const fs::path& dir) {
  const auto text = slurp(dir / "metrics.jsonl");
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

// Waits until the launcher's log tells of `restarts` restarts (or it ended).
bool saw_restarts(pid_t launcher, const fs::path& log, size_t restarts) {
  for (int i = 0; i < 60000; ++i) {
    if (count_of(slurp(log), "(--max-restarts)") >= restarts) return true;
    if (ended(launcher)) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

// Both runs' parameters (last and best checkpoints) are identical, bit for bit, and so are metrics.jsonl (but for
// its timings) and the final evaluation.
void check_same_run(const fs::path& a, const fs::path& b) {
  check_same_parameters(a, b);
  CHECK(metric_lines(a) == metric_lines(b));
  const auto ja = json::parse(slurp(a / "result.json")), jb = json::parse(slurp(b / "result.json"));
  CHECK(ja["valid"] == jb["valid"]);
  CHECK(ja["test"] == jb["test"]);
}

void wait_for_checkpoint(const fs::path& dir, pid_t launcher) {
  for (int i = 0; i < 12000 && !fs::exists(dir / "checkpoint_last.pt"); ++i) {
    if (ended(launcher)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(fs::exists(dir / "checkpoint_last.pt"));
}

}  // namespace

TEST_CASE("elastic: k steps + resume = N steps bit for bit with --nproc 2 and dropout on", "[elastic]") {
  const auto ref = fresh_dir("exact_ref"), dir = fresh_dir("exact_run"), other = fresh_dir("exact_other");
  auto r = run_seqenc(line_of(run_args("train", ref, 12, {"--nproc", "2"})));
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto first = run_seqenc(line_of(run_args("train", dir, 6, {"--nproc", "2"})));
  REQUIRE(first.status == 0);
  // Every rank's generator is in the checkpoint, and the ranks drew differently.
  const auto state = load_run(dir.string(), CheckpointKind::last).state;
  REQUIRE(state.rank_generators.defined());
  REQUIRE(state.rank_generators.size(0) == 2);
  CHECK(!torch::equal(state.rank_generators[0], state.rank_generators[1]));
  fs::copy(dir, other, fs::copy_options::recursive);
  auto more = run_seqenc(line_of(run_args("train", dir, 12, {"--nproc", "2", "--resume"})));
  INFO(more.err);
  REQUIRE(more.status == 0);
  CHECK_THAT(more.err, !Catch::Contains("start afresh"));
  check_same_run(dir, ref);
  // Another world size resumes, and says that it is not exact.
  auto single = run_seqenc(line_of(run_args("train", other, 12, {"--resume"})));
  INFO(single.err);
  CHECK(single.status == 0);
  CHECK_THAT(single.err, Catch::Contains("the checkpoint is of 2 rank(s), this run has 1: dropout draws start afresh"));
  for (const auto& d : {ref, dir, other}) fs::remove_all(d);
}

TEST_CASE("elastic: workers killed at random moments are restarted, and the run ends as an uninterrupted one",
          "[elastic][kill]") {
  constexpr size_t kKills = 4;
  constexpr int64_t kSteps = 60;
  const auto ref = fresh_dir("elastic_ref"), dir = fresh_dir("elastic_run");
  const auto log = fs::path(dir.string() + ".log");
  auto r = run_seqenc(line_of(run_args("train", ref, kSteps, {"--nproc", "2"})));
  INFO(r.err);
  REQUIRE(r.status == 0);
  const pid_t launcher = spawn_seqenc(run_args("train", dir, kSteps, {"--nproc", "2", "--max-restarts", "10"}), log);
  // Kills at random moments of the attempt: during start-up and rendezvous (never later than its first step), or a
  // few metrics lines into training (which includes checkpoint writes); the victim is either rank.
  std::mt19937 rng(26);
  std::vector<pid_t> old;
  size_t kills = 0;
  while (kills < kKills) {
    const auto workers = new_workers(launcher, 2, old);
    REQUIRE(workers.size() == 2);
    // As this attempt starts training (after the rendezvous and the resume), rank 0 logs "elastic restart k:" (the
    // first attempt: "rank 0 of 2:").
    const auto mark = kills > 0 ? "elastic restart " + std::to_string(kills) + ":" : std::string("rank 0 of 2:");
    const auto training = [&] { return count_of(slurp(dir / "train.log"), mark) > 0; };
    if (kills % 2 == 0) {
      const auto deadline = Clock::now() + std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 1500)(rng));
      while (!training() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    } else {
      for (int i = 0; i < 60000 && !training(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      const size_t base = metric_count(dir), more = std::uniform_int_distribution<size_t>(1, 3)(rng);
      for (int i = 0; i < 20000 && metric_count(dir) < base + more; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    kill(workers[std::uniform_int_distribution<size_t>(0, 1)(rng)], SIGKILL);
    old.insert(old.end(), workers.begin(), workers.end());
    ++kills;
    INFO(slurp(log));
    REQUIRE(saw_restarts(launcher, log, kills));
  }
  CHECK(wait_status(launcher) == 0);
  const auto err = slurp(log);
  INFO(err);
  CHECK(count_of(err, "(--max-restarts)") == kKills);
  CHECK_THAT(err, Catch::Contains("was killed by signal 9 (Killed); restart 4 of 10 (--max-restarts): the 2 worker(s) "
                                  "of node 0 start again from the last checkpoint"));
  CHECK(json::parse(slurp(dir / "result.json"))["restarts"] == kKills);
  CHECK_THAT(slurp(dir / "train.log"), Catch::Contains("elastic restart 4: the workers started again"));
  check_same_run(dir, ref);
  fs::remove_all(ref);
  fs::remove_all(dir);
  fs::remove(log);
}

TEST_CASE("elastic: a stop request is never restarted, and restarts that run out end the run", "[elastic]") {
  const auto dir = fresh_dir("elastic_stop"), out = fresh_dir("elastic_out");
  const auto log = fs::path(dir.string() + ".log"), log2 = fs::path(out.string() + ".log");
  const pid_t launcher = spawn_seqenc(run_args("train", dir, 1000000, {"--nproc", "2", "--max-restarts", "3"}), log);
  wait_for_checkpoint(dir, launcher);
  kill(launcher, SIGTERM);
  CHECK(wait_status(launcher) == 143);
  auto err = slurp(log);
  INFO(err);
  CHECK(count_of(err, "(--max-restarts)") == 0);
  CHECK_THAT(err, Catch::Contains("stopped by SIGTERM"));
  CHECK(load_run(dir.string(), CheckpointKind::last).state.step > 0);

  // One restart allowed, two kills: the second failure ends the run with its own line and status.
  const pid_t second = spawn_seqenc(run_args("train", out, 1000000, {"--nproc", "2", "--max-restarts", "1"}), log2);
  std::vector<pid_t> old;
  for (size_t kill_count = 1; kill_count <= 2; ++kill_count) {
    const auto workers = new_workers(second, 2, old);
    REQUIRE(workers.size() == 2);
    kill(workers[1], SIGKILL);
    old.insert(old.end(), workers.begin(), workers.end());
    if (kill_count == 1) REQUIRE(saw_restarts(second, log2, 1));
  }
  CHECK(wait_status(second) == 128 + SIGKILL);
  err = slurp(log2);
  INFO(err);
  CHECK(count_of(err, "(--max-restarts)") == 1);
  CHECK_THAT(err, Catch::Contains("restart 1 of 1 (--max-restarts)"));
  CHECK_THAT(err, Catch::Contains("seqenc: error: rank ") && Catch::Contains("was killed by signal 9"));
  for (const auto& d : {dir, out}) fs::remove_all(d);
  for (const auto& l : {log, log2}) fs::remove(l);
}

TEST_CASE("elastic: compare --nproc 2 --max-restarts continues the comparison after a killed worker",
          "[elastic][compare]") {
  const auto dir = fresh_dir("elastic_compare");
  const auto log = fs::path(dir.string() + ".log");
  auto args = run_args("compare", dir, 30, {"--nproc", "2", "--max-restarts", "2", "--encoders", "cnn,rnn"});
  const pid_t launcher = spawn_seqenc(args, log);
  wait_for_checkpoint(dir / "cnn", launcher);
  const auto workers = children_of(launcher);
  REQUIRE(workers.size() == 2);
  kill(workers[0], SIGKILL);
  CHECK(wait_status(launcher) == 0);
  const auto err = slurp(log);
  INFO(err);
  CHECK(count_of(err, "(--max-restarts)") == 1);
  CHECK(fs::exists(dir / "report.md"));
  for (const char* encoder : {"cnn", "rnn"}) {
    INFO(encoder);
    CHECK(metric_lines(dir / encoder).size() == 30 + 10);
    CHECK(json::parse(slurp(dir / encoder / "result.json"))["world_size"] == 2);
  }
  CHECK(json::parse(slurp(dir / "rnn" / "result.json"))["restarts"] == 1);
  fs::remove_all(dir);
  fs::remove(log);
}

TEST_CASE("elastic: sweep --nproc 2 --max-restarts restarts a run's killed worker, and the sweep ends well",
          "[elastic][sweep]") {
  const auto dir = fresh_dir("elastic_sweep");
  const auto log = fs::path(dir.string() + ".log");
  auto args = run_args("sweep", dir, 30, {"--grid", "model.num_layers=1", "--nproc", "2", "--max-restarts", "2"});
  const pid_t sweep = spawn_seqenc(args, log);
  const auto run = dir / "model.num_layers=1" / "seed-1";
  wait_for_checkpoint(run, sweep);
  const auto launchers = children_of(sweep);  // the run's `seqenc train --nproc 2`, whose children are the workers
  REQUIRE(launchers.size() == 1);
  const auto workers = children_of(launchers[0]);
  REQUIRE(workers.size() == 2);
  kill(workers[1], SIGKILL);
  CHECK(wait_status(sweep) == 0);
  INFO(slurp(log) + slurp(run / "console.log"));
  CHECK(count_of(slurp(run / "console.log"), "(--max-restarts)") == 1);
  const auto result = json::parse(slurp(run / "result.json"));
  CHECK(result["restarts"] == 1);
  CHECK(result["world_size"] == 2);
  CHECK(metric_lines(run).size() == 30 + 10);
  fs::remove_all(dir);
  fs::remove(log);
}
