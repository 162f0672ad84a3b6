#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli.h"
#include "helpers.h"

using namespace seqenc::test;
namespace fs = std::filesystem;

namespace {

const std::string kTiny =
    " --set model.num_hiddens=16 --set model.num_layers=1 --set model.num_heads=2 --set model.ffn_num_hiddens=16"
    " --set data.train_size=64 --set data.valid_size=16 --set data.test_size=16 --set data.symbols=4"
    " --set data.min_len=20 --set data.seq_len=24 --set data.max_distance=12 --set train.steps=12"
    " --set train.eval_every=6 --set train.log_every=3 --set train.batch_size=16 --set train.threads=1";

size_t count_lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }
}  // namespace

TEST_CASE("cli: --help lists every command", "[cli]") {
  auto r = run_seqenc("--help");
  CHECK(r.status == 0);
  for (const char* c : {"train", "eval", "compare", "keys"}) CHECK_THAT(r.out, Catch::Contains(c));
  auto t = run_seqenc("train --help");
  CHECK(t.status == 0);
  for (const char* o : {"--config", "--set", "--run-dir", "--resume"}) CHECK_THAT(t.out, Catch::Contains(o));
}

TEST_CASE("cli: usage and configuration errors exit 2 with one line on stderr", "[cli]") {
  auto r = run_seqenc("train");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--config is required"));
  auto missing = run_seqenc("train --config /nonexistent.yaml");
  CHECK(missing.status == 2);
  CHECK_THAT(missing.err, Catch::Contains("/nonexistent.yaml"));
  auto bad =
      run_seqenc("train --config configs/lag.yaml --set model.num_heads=5 --set train.lr=-1 --set model.colour=red");
  CHECK(bad.status == 2);
  CHECK(count_lines(bad.err) == 1);
  CHECK_THAT(bad.err, Catch::Contains("model.colour: unknown key"));
  auto values = run_seqenc("train --config configs/lag.yaml --set model.num_heads=5 --set train.lr=-1");
  CHECK(values.status == 2);
  CHECK(count_lines(values.err) == 1);
  CHECK_THAT(values.err,
             Catch::Contains("not divisible by model.num_heads 5") && Catch::Contains("train.lr: must be > 0"));
  auto unknown = run_seqenc("fly");
  CHECK(unknown.status == 2);
  auto eval_missing = run_seqenc("eval --run /nonexistent/run");
  CHECK(eval_missing.status == 2);
  CHECK_THAT(eval_missing.err, Catch::Contains("/nonexistent/run: no such run directory"));
  CHECK(count_lines(eval_missing.err) == 1);
}

TEST_CASE("cli: train, then eval --json on the best checkpoint", "[cli]") {
  auto dir = fresh_dir("train_eval");
  auto r = run_seqenc("train --config configs/lag.yaml --run-dir " + dir.string() + kTiny);
  REQUIRE(r.status == 0);
  auto e = run_seqenc("eval --run " + dir.string() + " --json");
  REQUIRE(e.status == 0);
  auto j = nlohmann::json::parse(e.out);
  for (const char* k : {"loss", "accuracy", "examples", "labels", "accuracy_by_distance"}) CHECK(j.contains(k));
  CHECK(j["examples"] == 16);
  auto text = run_seqenc("eval --run " + dir.string());
  CHECK(text.status == 0);
  CHECK_THAT(text.out, Catch::Contains("accuracy") && Catch::Contains("distance"));
  // The resolved configuration reproduces the run.
  auto again = fresh_dir("train_eval_again");
  auto rr = run_seqenc("train --config " + (dir / "config.yaml").string() + " --run-dir " + again.string());
  REQUIRE(rr.status == 0);
  CHECK(slurp(dir / "metrics.jsonl").size() > 0);
  auto strip = [](const fs::path& p) {
    std::string out;
    std::ifstream in(p);
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line);
      j.erase("tokens_per_s");
      j.erase("elapsed_s");
      out += j.dump() + "\n";
    }
    return out;
  };
  CHECK(strip(dir / "metrics.jsonl") == strip(again / "metrics.jsonl"));
  fs::remove_all(dir);
  fs::remove_all(again);
}

TEST_CASE("cli: Ctrl-C finishes the step, saves a checkpoint, exits 130 and says how to resume", "[cli][signal]") {
  auto dir = fresh_dir("sigint");
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const std::string log = dir.string() + ".log";
    (void)!freopen(log.c_str(), "w", stderr);
    (void)!freopen("/dev/null", "w", stdout);
    execl(SEQENC_BINARY, SEQENC_BINARY, "train", "--config", SEQENC_SOURCE_DIR "/configs/lag.yaml", "--run-dir",
          dir.c_str(), "--set", "train.steps=100000", "--set", "train.log_every=1", "--set", "train.threads=1",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait for training to start (a logged step), then interrupt.
  for (int i = 0; i < 600 && !(fs::exists(dir / "metrics.jsonl") && fs::file_size(dir / "metrics.jsonl") > 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGINT);
  int raw = 0;
  waitpid(pid, &raw, 0);
  REQUIRE(WIFEXITED(raw));
  CHECK(WEXITSTATUS(raw) == 130);
  CHECK(fs::exists(dir / "checkpoint_last.pt"));
  const auto log = slurp(dir.string() + ".log");
  CHECK_THAT(log, Catch::Contains("--resume"));
  auto resumed = run_seqenc("train --config " + (dir / "config.yaml").string() + " --run-dir " + dir.string() +
                            " --resume --set train.steps=1 --set train.threads=1");
  // The checkpoint is past step 1 already: resuming finishes at once, and succeeds.
  CHECK(resumed.status == 0);
  fs::remove_all(dir);
  fs::remove(dir.string() + ".log");
}

TEST_CASE("cli: compare trains each encoder and writes a table and a report with plots", "[cli][compare]") {
  auto dir = fresh_dir("compare");
  auto r = run_seqenc("compare --config configs/lag.yaml --run-dir " + dir.string() + kTiny);
  REQUIRE(r.status == 0);
  for (const char* col : {"encoder", "params", "FLOPs/token", "seq. steps", "max path", "tokens/s", "peak MB",
                          "valid acc", "transformer", "cnn", "rnn", "accuracy by distance"}) {
    CHECK_THAT(r.out, Catch::Contains(col));
  }
  CHECK(fs::exists(dir / "report.md"));
  for (const char* f : {"transformer", "cnn", "rnn"}) CHECK(fs::exists(dir / f / "result.json"));
  const auto report = slurp(dir / "report.md");
  CHECK_THAT(report, Catch::Contains("| encoder"));
  for (const char* png : {"train_loss.png", "valid_accuracy.png", "accuracy_by_distance.png"}) {
    INFO(png);
    CHECK(fs::exists(dir / png));
    CHECK_THAT(report, Catch::Contains(png));
  }
  auto unknown = run_seqenc("compare --config configs/lag.yaml --encoders cnn,mlp --run-dir " + dir.string() + "x");
  CHECK(unknown.status == 2);
  CHECK_THAT(unknown.err, Catch::Contains("unknown encoder 'mlp'"));
  fs::remove_all(dir);
}

TEST_CASE("cli: export and predict errors are one clear line with exit 2", "[cli][export]") {
  auto dir = fresh_dir("export_errors");
  fs::create_directories(dir);
  // A run directory with a config but no checkpoint.
  auto r = run_seqenc("train --config configs/lag.yaml --run-dir " + dir.string() + " --set train.steps=-1");
  CHECK(r.status == 2);
  std::ofstream(dir / "config.yaml") << "model:\n  encoder: cnn\n";
  auto no_ckpt = run_seqenc("export --run " + dir.string() + " --out " + (dir / "m.pt").string());
  CHECK(no_ckpt.status == 2);
  CHECK_THAT(no_ckpt.err, Catch::Contains("no checkpoint_best.pt"));
  CHECK(count_lines(no_ckpt.err) == 1);
  auto not_export = run_seqenc("predict --model configs/demo.yaml --input data/tags.tsv");
  CHECK(not_export.status == 2);
  CHECK_THAT(not_export.err, Catch::Contains("configs/demo.yaml: not a seqenc export"));
  auto missing_model = run_seqenc("predict --model /nonexistent.pt --input data/tags.tsv");
  CHECK(missing_model.status == 2);
  CHECK_THAT(missing_model.err, Catch::Contains("/nonexistent.pt: no such file"));
  fs::remove_all(dir);
}

TEST_CASE("cli: export then predict, with a missing input file refused", "[cli][export]") {
  auto dir = fresh_dir("export_predict");
  REQUIRE(run_seqenc("train --config configs/tags.yaml --run-dir " + dir.string() +
                     " --set train.epochs=0 --set train.steps=20 --set train.threads=1")
              .status == 0);
  const auto model = (dir / "model.pt").string();
  auto e = run_seqenc("export --run " + dir.string() + " --out " + model + " --checkpoint last");
  REQUIRE(e.status == 0);
  auto p = run_seqenc("predict --model " + model + " --input data/tags.tsv");
  REQUIRE(p.status == 0);
  CHECK(count_lines(p.out) == 1000);
  const auto first = p.out.substr(0, p.out.find('\n'));
  CHECK(std::count(first.begin(), first.end(), ' ') == 4);  // "the bird follows some cat": five tags
  auto missing = run_seqenc("predict --model " + model + " --input /nonexistent.txt");
  CHECK(missing.status == 2);
  CHECK_THAT(missing.err, Catch::Contains("/nonexistent.txt: no such file"));
  fs::remove_all(dir);
}
