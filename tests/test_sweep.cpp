// seqenc sweep: grid expansion and checks, the sweep directory's rules, results and report, the scheduler in
// this process, and the program's sweep surviving a kill -9 with the same results.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include "cli.h"
#include "helpers.h"
#include "seqenc/tools/recipe_study.h"
#include "seqenc/tools/sweep_report.h"

using namespace seqenc;
using namespace seqenc::test;
namespace fs = std::filesystem;

namespace {

// A lag task small enough for a run to take about a second.
const char* kTinyYaml = R"(model:
  encoder: transformer
  num_hiddens: 16
  num_layers: 1
  num_heads: 2
  ffn_num_hiddens: 16
data:
  task: lag
  symbols: 4
  min_len: 20
  seq_len: 24
  max_distance: 12
  train_size: 64
  valid_size: 16
  test_size: 16
train:
  steps: 12
  eval_every: 6
  log_every: 3
  batch_size: 16
  threads: 1
)";

fs::path tiny_config(const fs::path& dir, const std::string& extra = "") {
  fs::create_directories(dir);
  const auto path = dir / "tiny.yaml";
  std::ofstream(path) << kTinyYaml << extra;
  return path;
}

ToolConfig with_grid(const fs::path& config, std::vector<std::string> grid, int64_t seeds,
                     const std::vector<std::string>& overrides = {}) {
  auto c = load_tool_config(config.string(), overrides);
  c.sweep.grid = std::move(grid);
  c.sweep.seeds = seeds;
  return c;
}

size_t count_lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

// Each run's numbers but its timings, by run directory: what must not change when a sweep is interrupted.
std::map<std::string, nlohmann::json> results_without_times(const fs::path& dir) {
  std::map<std::string, nlohmann::json> out;
  std::ifstream in(dir / "results.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    j.erase("seconds");
    j.erase("tokens_per_s");
    out[j["run"].get<std::string>()] = j;
  }
  return out;
}

}  // namespace

TEST_CASE("sweep: a grid expands to every combination and seed, each in its own run directory", "[sweep]") {
  const auto dir = fresh_dir("sweep_plan");
  const auto config = tiny_config(dir);
  const auto plan =
      plan_sweep(with_grid(config, {"model.num_layers=1,2", "model.encoder=transformer,cnn"}, 2), (dir / "s").string());
  REQUIRE(plan.runs.size() == 8);
  CHECK(plan.combinations() == 4);
  CHECK(plan.seeds == std::vector<uint64_t>{1, 2});
  CHECK(plan.runs[0].dir == dir / "s" / "model.num_layers=1,model.encoder=transformer" / "seed-1");
  CHECK(plan.runs[1].dir == dir / "s" / "model.num_layers=1,model.encoder=transformer" / "seed-2");
  CHECK(plan.runs[2].label() == "model.num_layers=1,model.encoder=cnn seed 1");
  CHECK(plan.runs[7].label() == "model.num_layers=2,model.encoder=cnn seed 2");
  CHECK(plan.config.train.tensorboard);
  CHECK(plan.config.train.tensorboard_hparams == "model.num_layers,model.encoder,train.seed");
  // A path as a value stays one directory level.
  const auto paths = plan_sweep(with_grid(config, {"data.train=a/b.tsv"}, 1), (dir / "p").string());
  CHECK(paths.runs[0].dir == dir / "p" / "data.train=a%2Fb.tsv" / "seed-1");
  // What the configuration sets is kept.
  const auto off = plan_sweep(with_grid(config, {}, 3, {"train.tensorboard=false", "train.seed=7"}), dir.string());
  CHECK_FALSE(off.config.train.tensorboard);
  CHECK(off.seeds == std::vector<uint64_t>{7, 8, 9});
  CHECK(off.runs[0].label() == "base seed 7");
  CHECK(threads_per_run(0, 16, 2, 1) == 8);
  CHECK(threads_per_run(2, 2, 2, 1) == 1);  // a configuration's train.threads never oversubscribes the cores
  CHECK(threads_per_run(3, 16, 2, 2) == 3);
  CHECK(threads_per_run(0, 2, 4, 1) == 1);
  fs::remove_all(dir);
}

TEST_CASE("sweep: a bad key or value is named in one line before anything is created", "[sweep][cli]") {
  const auto dir = fresh_dir("sweep_bad");
  const auto config = tiny_config(dir);
  auto refused = [&](std::vector<std::string> grid) {
    try {
      plan_sweep(with_grid(config, std::move(grid), 1), (dir / "s").string());
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("not refused");
  };
  CHECK_THAT(refused({"model.num_layers=1,x"}),
             Catch::StartsWith("--grid model.num_layers=x: model.num_layers: expected an integer, got 'x'"));
  CHECK_THAT(refused({"model.num_layrs=1,2"}), Catch::Contains("did you mean model.num_layers?"));
  CHECK_THAT(refused({"model.encoder=transformer,lstm"}), Catch::Contains("'lstm' is not one of"));
  CHECK_THAT(refused({"bench.steps=1,2"}), Catch::Contains("a sweep varies model.*, data.* and train.* keys"));
  CHECK_THAT(refused({"train.seed=1,2"}), Catch::Contains("--seeds"));
  CHECK_THAT(refused({"model.num_layers"}), Catch::Contains("expected KEY=V1,V2,..."));
  CHECK_THAT(refused({"model.num_layers=1,1"}), Catch::Contains("1 is given twice"));
  CHECK_THAT(refused({"model.num_layers=1", "model.num_layers=2"}), Catch::Contains("swept twice"));
  // A value that is fine alone but not with the rest of the configuration: named with its combination.
  CHECK_THAT(refused({"model.num_heads=2,3"}),
             Catch::Contains("model.num_heads=3: model.num_hiddens: 16 is not divisible by model.num_heads 3"));
  CHECK_FALSE(fs::exists(dir / "s"));
  auto cli = run_seqenc("sweep --config " + config.string() + " --run-dir " + (dir / "c").string() +
                        " --grid model.num_layers=1,2 --grid model.dropout=0.1,lots");
  CHECK(cli.status == 2);
  CHECK(count_lines(cli.err) == 1);
  CHECK_THAT(cli.err, Catch::StartsWith("seqenc: error: --grid model.dropout=lots: model.dropout: expected a number"));
  CHECK_FALSE(fs::exists(dir / "c"));
  fs::remove_all(dir);
}

TEST_CASE("sweep: mean and sample standard deviation over seeds", "[sweep]") {
  const auto m = mean_sd({0.5, 0.7, 0.9});
  CHECK(m.n == 3);
  CHECK(m.mean == Approx(0.7));
  CHECK(m.sd == Approx(0.2));
  CHECK(mean_sd({0.25}).sd == 0);
  CHECK(mean_sd({}).n == 0);
}

TEST_CASE("sweep: runs, skips finished runs when called again, reports, and keeps its grid unless extended",
          "[sweep][training]") {
  const auto dir = fresh_dir("sweep_inprocess");
  const auto config = tiny_config(dir);
  const auto sweep_dir = (dir / "s").string();
  const auto plan = plan_sweep(with_grid(config, {"model.num_layers=1,2"}, 2), sweep_dir);
  std::vector<std::string> lines;
  SweepControl control;
  control.say = [&lines](const std::string& line) { lines.push_back(line); };
  {
    const auto lock = open_sweep_dir(plan, false);
    InProcessLauncher launcher(quietly());
    const auto outcome = run_sweep(plan, launcher, control);
    CHECK(outcome.finished == 4);
    CHECK(outcome.failures.empty());
    const auto again = run_sweep(plan, launcher, control);
    CHECK(again.finished == 0);
    CHECK(again.skipped == 4);
  }
  CHECK_THAT(lines.front(), Catch::Contains("4 runs (2 combinations x 2 seeds), 1 at a time: 0 finished, 0 to resume, "
                                            "4 to start"));
  CHECK_THAT(lines[2], Catch::Contains("[1/4] model.num_layers=1 seed 1 in ") && Catch::Contains("valid accuracy") &&
                           Catch::Contains("; 3 left, about "));
  const auto report = write_sweep_results(plan);
  const auto results = sweep_results(plan);
  REQUIRE(results.size() == 4);
  CHECK(count_lines(slurp(dir / "s" / "results.jsonl")) == 4);
  const auto first = nlohmann::json::parse(
      slurp(dir / "s" / "results.jsonl").substr(0, slurp(dir / "s" / "results.jsonl").find('\n')));
  CHECK(first["keys"]["model.num_layers"] == 1);
  CHECK(first["seed"] == 1);
  CHECK(first["steps"] == 12);
  CHECK(first["run"] == "model.num_layers=1/seed-1");
  const auto rows = sweep_rows(results);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].valid_accuracy.mean >= rows[1].valid_accuracy.mean);
  CHECK(rows[0].valid_accuracy.n == 2);
  const auto text = slurp(report);
  CHECK_THAT(text, Catch::Contains("4 of 4 runs finished") && Catch::Contains(" ± "));
  CHECK(fs::exists(dir / "s" / "valid_accuracy_by_model.num_layers.png"));
  // Another grid is refused, unless --extend adds to this one; another configuration is refused.
  auto bigger = plan_sweep(with_grid(config, {"model.num_layers=1,2,3"}, 2), sweep_dir);
  CHECK_THROWS_WITH(open_sweep_dir(bigger, false), Catch::Contains("pass --extend"));
  auto smaller = plan_sweep(with_grid(config, {"model.num_layers=2"}, 2), sweep_dir);
  CHECK_THROWS_WITH(open_sweep_dir(smaller, true), Catch::Contains("it removes none"));
  auto other = plan_sweep(with_grid(config, {"model.num_layers=1,2"}, 2, {"train.lr=0.01"}), sweep_dir);
  CHECK_THROWS_WITH(open_sweep_dir(other, false), Catch::Contains("train.lr: 0.003 there, 0.01 here"));
  { const auto lock = open_sweep_dir(bigger, true); }
  CHECK(read_sweep_plan(sweep_dir).runs.size() == 6);
  fs::remove_all(dir);
}

TEST_CASE("sweep: a run that fails is reported with its error, the others go on, and the status counts failures",
          "[sweep][cli]") {
  const auto dir = fresh_dir("sweep_fail");
  const auto config = tiny_config(dir, "");
  auto r =
      run_seqenc("sweep --config " + config.string() + " --run-dir " + (dir / "s").string() +
                 " --grid data.task=tsv_classify,lag --set data.train=" + (dir / "missing.tsv").string() + " --jobs 2");
  CHECK(r.status == 1);
  CHECK_THAT(r.err,
             Catch::Contains("seqenc: run failed: data.task=tsv_classify seed 1: ") && Catch::Contains("missing.tsv"));
  CHECK(fs::exists(dir / "s" / "data.task=lag" / "seed-1" / "result.json"));
  CHECK(count_lines(slurp(dir / "s" / "results.jsonl")) == 1);
  CHECK_THAT(slurp(dir / "s" / "report.md"), Catch::Contains("Not finished: data.task=tsv_classify seed 1"));
  fs::remove_all(dir);
}

TEST_CASE("sweep: kill -9 of the sweep, then the same command: the same results as a sweep never interrupted",
          "[sweep][cli][reliability]") {
  const auto dir = fresh_dir("sweep_kill");
  const auto config = tiny_config(dir);
  const std::string args =
      " --grid model.num_layers=1,2 --seeds 2 --jobs 2 --set train.steps=150 --set "
      "train.eval_every=50 --set train.log_every=10";
  auto whole = run_seqenc("sweep --config " + config.string() + " --run-dir " + (dir / "whole").string() + args);
  REQUIRE(whole.status == 0);
  const auto killed = dir / "killed";
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    (void)!freopen("/dev/null", "w", stdout);
    (void)!freopen("/dev/null", "w", stderr);
    execl(SEQENC_BINARY, SEQENC_BINARY, "sweep", "--config", config.c_str(), "--run-dir", killed.c_str(), "--grid",
          "model.num_layers=1,2", "--seeds", "2", "--jobs", "2", "--set", "train.steps=150", "--set",
          "train.eval_every=50", "--set", "train.log_every=10", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill it once a run has a checkpoint, mid-way through the sweep.
  const auto first = killed / "model.num_layers=1" / "seed-1" / "checkpoint_last.pt";
  for (int i = 0; i < 1200 && !fs::exists(first); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(pid, SIGKILL);
  int raw = 0;
  waitpid(pid, &raw, 0);
  CHECK(WIFSIGNALED(raw));
  CHECK_FALSE(fs::exists(killed / "model.num_layers=2" / "seed-2" / "result.json"));
  auto rerun = run_seqenc("sweep --config " + config.string() + " --run-dir " + killed.string() + args);
  CHECK(rerun.status == 0);
  CHECK_THAT(rerun.out, Catch::Contains("4 of 4 runs finished"));
  const auto a = results_without_times(dir / "whole"), b = results_without_times(killed);
  CHECK(a.size() == 4);
  CHECK(a == b);
  fs::remove_all(dir);
}

TEST_CASE("sweep --report rebuilds results.jsonl and report.md from the runs present", "[sweep][cli]") {
  const auto dir = fresh_dir("sweep_report");
  const auto config = tiny_config(dir);
  auto r = run_seqenc("sweep --config " + config.string() + " --run-dir " + (dir / "s").string() +
                      " --grid model.encoder=transformer,cnn");
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("valid accuracy") && Catch::Contains("report: "));
  fs::remove(dir / "s" / "results.jsonl");
  fs::remove(dir / "s" / "report.md");
  fs::remove_all(dir / "s" / "model.encoder=cnn");
  auto report = run_seqenc("sweep --report " + (dir / "s").string());
  CHECK(report.status == 0);
  CHECK(count_lines(slurp(dir / "s" / "results.jsonl")) == 1);
  CHECK_THAT(slurp(dir / "s" / "report.md"),
             Catch::Contains("1 of 2 runs finished") && Catch::Contains("Not finished: model.encoder=cnn seed 1"));
  auto none = run_seqenc("sweep --report " + (dir / "nothing").string());
  CHECK(none.status == 2);
  CHECK_THAT(none.err, Catch::Contains("no such sweep directory"));
  fs::remove_all(dir);
}

TEST_CASE("analyze's recipe study is a sweep of named runs, its variants config keys", "[sweep][recipes]") {
  const auto dir = fresh_dir("recipe_plan");
  const auto plan = recipe_study_plan(dir.string(), 100);
  REQUIRE(plan.runs.size() == 24);
  CHECK(plan.runs[0].dir == dir / "segment" / "book");
  CHECK(plan.runs[0].label() == "segment: book seed 1");
  CHECK(plan.runs[12].dir == dir / "lag" / "book");
  CHECK(plan.config.train.steps == 100);
  const auto& kept = plan.runs[3];
  CHECK(kept.name == "segment: book, embeddings N(0, 1/d), positions kept");
  std::vector<std::string> overrides;
  for (const auto& [key, value] : kept.values) overrides.push_back(key + "=" + value);
  const auto config = load_config("", overrides);
  CHECK(config.model.scaled_embeddings == std::optional<bool>(true));
  CHECK(config.model.drop_positions == std::optional<bool>(false));
  CHECK_FALSE(load_config("", {"model.scaled_embeddings=auto"}).model.scaled_embeddings.has_value());
  CHECK_THROWS_WITH(load_config("", {"model.drop_positions=maybe"}),
                    Catch::Contains("model.drop_positions: expected true, false or auto, got 'maybe'"));
  CHECK_FALSE(fs::exists(dir));
}

TEST_CASE("sweep --nproc: each run data-parallel, rank 0 writing its directory", "[sweep][cli][distributed]") {
  const auto dir = fresh_dir("sweep_nproc");
  const auto config = tiny_config(dir);
  auto r = run_seqenc("sweep --config " + config.string() + " --run-dir " + (dir / "s").string() +
                      " --grid model.num_layers=1,2 --nproc 2");
  REQUIRE(r.status == 0);
  for (const char* combination : {"model.num_layers=1", "model.num_layers=2"}) {
    INFO(combination);
    const auto run = dir / "s" / combination / "seed-1";
    const auto result = nlohmann::json::parse(slurp(run / "result.json"));
    CHECK(result["world_size"] == 2);
    CHECK(result["global_batch_size"] == 32);
    CHECK(std::distance(fs::directory_iterator(run / "tb"), fs::directory_iterator()) == 1);  // rank 0's alone
  }
  CHECK(count_lines(slurp(dir / "s" / "results.jsonl")) == 2);
  fs::remove_all(dir);
}
