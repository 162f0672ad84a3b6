// Hardening (issue 14): kills at any moment, full disks and unwritable directories, refused commands, one writer
// per run directory, versioned artifacts. Everything runs the program itself, as a user would.
#include <catch2/catch.hpp>

#include <chrono>
#include <random>
#include <thread>
#include <torch/script.h>

#include "helpers.h"
#include "reliability.h"
#include "seqenc/files.h"
#include "seqenc/train/checkpoint.h"
#include "seqenc/train/run.h"
#include "seqenc/version.h"

using namespace seqenc;
using namespace seqenc::test;
namespace fs = std::filesystem;

namespace {

// A tiny deterministic run: 1 thread, fixed seed, dropout on, a checkpoint every 3 steps.
std::vector<std::string> tiny_run(const fs::path& dir, int64_t steps, const fs::path& config = {}) {
  return {"train",
          "--config",
          config.empty() ? std::string(SEQENC_SOURCE_DIR "/configs/lag.yaml") : config.string(),
          "--run-dir",
          dir.string(),
          "--set",
          "model.num_hiddens=16",
          "--set",
          "model.num_layers=1",
          "--set",
          "model.num_heads=2",
          "--set",
          "model.ffn_num_hiddens=16",
          "--set",
          "model.dropout=0.1",
          "--set",
          "data.train_size=64",
          "--set",
          "data.valid_size=16",
          "--set",
          "data.test_size=16",
          "--set",
          "data.symbols=4",
          "--set",
          "data.min_len=20",
          "--set",
          "data.seq_len=24",
          "--set",
          "data.max_distance=12",
          "--set",
          "train.steps=" + std::to_string(steps),
          "--set",
          "train.eval_every=3",
          "--set",
          "train.log_every=1",
          "--set",
          "train.batch_size=16",
          "--set",
          "train.threads=1"};
}

std::string command_line(const std::vector<std::string>& args) {
  std::string line;
  for (const auto& a : args) line += (line.empty() ? "" : " ") + a;
  return line;
}

std::vector<std::string> resumed(std::vector<std::string> args) {
  args.push_back("--resume");
  return args;
}

bool any_temporary(const fs::path& dir) {
  if (!fs::exists(dir)) return false;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".tmp") return true;
  }
  return false;
}

void remove_temporaries(const fs::path& dir) {
  if (!fs::exists(dir)) return;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".tmp") fs::remove(e.path());
  }
}

size_t count_lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

// Complete lines in metrics.jsonl.
size_t metric_count(const fs::path& dir) { return count_lines(slurp(dir / "metrics.jsonl")); }

}  // namespace

TEST_CASE("reliability: SIGKILL at random moments, resumed each time, ends exactly as an uninterrupted run",
          "[reliability][kill]") {
  constexpr int64_t kSteps = 60;
  constexpr size_t kLines = kSteps + kSteps / 3;  // metrics.jsonl: a train line each step, a valid line every 3
  constexpr int kKills = 24;
  const auto ref = fresh_dir("kill_ref"), dir = fresh_dir("kill_run");
  const auto log = fs::path(dir.string() + ".log");
  // The uninterrupted run; its start-up time (until the first metrics line) only spreads kills over start-ups.
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const pid_t ref_pid = spawn_seqenc(tiny_run(ref, kSteps), log);
  while (!fs::exists(ref / "metrics.jsonl") && waitpid(ref_pid, nullptr, WNOHANG) == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const auto startup_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
  REQUIRE(wait_status(ref_pid) == 0);
  // Kills are placed by the run's progress, never by its speed, so that each lands before the run could finish:
  // (0) a few metrics lines into the attempt, plus a random jitter; (1) as soon as a checkpoint's temporary file
  // appears, during its write; (2) at a random moment of start-up (loading, resuming, truncating metrics).
  std::mt19937 rng(14);
  auto uniform = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  int kills = 0, during_write = 0, resumes = 0;
  while (true) {
    const bool resume = fs::exists(dir / "checkpoint_last.pt");
    const size_t base = metric_count(dir);
    int mode = kills % 3;
    const auto lines = static_cast<size_t>(uniform(1, 8));
    if (mode != 1 && base + lines + 2 > kLines) mode = 1;  // near the end: only kills that cannot let it finish
    if (mode == 1) remove_temporaries(dir);
    const bool stale = any_temporary(dir);
    resumes += resume ? 1 : 0;
    // A resume as the program tells the user to: from the run's own config.yaml.
    const pid_t pid =
        spawn_seqenc(resume ? resumed(tiny_run(dir, kSteps, dir / "config.yaml")) : tiny_run(dir, kSteps), log);
    if (kills >= kKills) {
      REQUIRE(wait_status(pid) == 0);
      break;
    }
    const auto deadline = Clock::now() + std::chrono::microseconds(uniform(0, startup_us));
    const auto jitter = std::chrono::microseconds(uniform(0, 5000));
    int raw = 0;
    bool exited = false;
    while (true) {
      if (waitpid(pid, &raw, WNOHANG) == pid) {
        exited = true;
        break;
      }
      if (mode == 0 && metric_count(dir) >= base + lines) {
        std::this_thread::sleep_for(jitter);
        break;
      }
      if (mode == 1 && any_temporary(dir)) break;
      if (mode == 2 && (Clock::now() >= deadline || metric_count(dir) > base)) break;
      std::this_thread::sleep_for(std::chrono::microseconds(mode == 1 ? 50 : 500));
    }
    if (exited) {
      INFO("the run finished by itself after " << kills << " kills");
      REQUIRE(WIFEXITED(raw));
      REQUIRE(WEXITSTATUS(raw) == 0);
      break;
    }
    kill(pid, SIGKILL);
    REQUIRE(wait_status(pid) == 128 + SIGKILL);
    ++kills;
    if (!stale && any_temporary(dir)) ++during_write;
  }
  WARN("SIGKILL x " << kills << " (" << during_write << " during a checkpoint write), " << resumes << " resumes");
  CHECK(kills >= 20);
  CHECK(during_write >= 1);
  const auto result_lines = metric_lines(dir);
  CHECK(result_lines == metric_lines(ref));
  CHECK(result_lines.size() == kLines);
  check_same_parameters(dir, ref);
  const auto a = nlohmann::json::parse(slurp(ref / "result.json"));
  const auto b = nlohmann::json::parse(slurp(dir / "result.json"));
  CHECK(a["valid"] == b["valid"]);
  CHECK(a["test"] == b["test"]);
  fs::remove_all(ref);
  fs::remove_all(dir);
  fs::remove(log);
}

TEST_CASE("reliability: a write refused by a file-size limit stops the run with one line, and resume works after",
          "[reliability][disk]") {
  const auto dir = fresh_dir("fsize"), ref = fresh_dir("fsize_ref");
  const auto log = fs::path(dir.string() + ".log");
  for (const auto& d : {dir, ref}) REQUIRE(wait_status(spawn_seqenc(tiny_run(d, 6), log)) == 0);
  const auto before = slurp(dir / "checkpoint_last.pt");
  // A limit below a checkpoint's size: the next checkpoint cannot be written. The process must not die of
  // SIGXFSZ; the write fails (EFBIG) and the run stops with one line naming the file.
  const auto limit_kb = before.size() / 1024 - 4;
  const std::string shell = std::string("bash -c 'ulimit -f ") + std::to_string(limit_kb) + "; exec " SEQENC_BINARY +
                            " " + command_line(resumed(tiny_run(dir, 12))) + "'";
  const auto out = fs::path(dir.string() + ".err");
  const int raw = std::system((shell + " > /dev/null 2> " + out.string()).c_str());
  REQUIRE(WIFEXITED(raw));
  CHECK(WEXITSTATUS(raw) == 2);
  const auto err = slurp(out);
  const auto errors = error_lines(err);
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0],
             Catch::Contains("cannot write " + dir.string() + "/checkpoint_") && Catch::Contains("File too large"));
  CHECK(slurp(dir / "checkpoint_last.pt") == before);  // the previous checkpoint, intact
  CHECK_FALSE(any_temporary(dir));
  // Without the limit, --resume continues from it and ends as a run that never failed.
  REQUIRE(wait_status(spawn_seqenc(resumed(tiny_run(dir, 12)), log)) == 0);
  REQUIRE(wait_status(spawn_seqenc(resumed(tiny_run(ref, 12)), log)) == 0);
  CHECK(metric_lines(dir) == metric_lines(ref));
  check_same_parameters(dir, ref);
  // An export under the limit: one line, no file and no temporary left.
  const auto model = dir / "model.pt";
  const int exp = std::system(("bash -c 'ulimit -f 8; exec " SEQENC_BINARY " export --run " + dir.string() + " --out " +
                               model.string() + "' > /dev/null 2> " + out.string())
                                  .c_str());
  CHECK(WEXITSTATUS(exp) == 2);
  const auto export_errors = error_lines(slurp(out));
  REQUIRE(export_errors.size() == 1);
  CHECK_THAT(export_errors[0], Catch::Contains("cannot write " + model.string() + ": File too large"));
  CHECK_FALSE(fs::exists(model));
  CHECK_FALSE(any_temporary(dir));
  for (const auto& p : {dir, ref}) fs::remove_all(p);
  fs::remove(log);
  fs::remove(out);
}

TEST_CASE("reliability: a full disk or a read-only directory stops the run with one line, and resume works after",
          "[reliability][disk]") {
  const auto mount = fresh_dir("tmpfs"), ref = fresh_dir("tmpfs_ref");
  const auto log = fs::path(ref.string() + ".log");
  ScratchTmpfs fs_(mount, "160k");
  if (!fs_.mounted()) SEQENC_SKIP("cannot mount a tmpfs here (the file-size limit test covers failed writes)");
  const auto dir = mount / "run";
  REQUIRE(wait_status(spawn_seqenc(tiny_run(ref, 24), log)) == 0);
  // 160 KiB holds the small files and one checkpoint of each kind, not a second pair of temporaries.
  auto full = run_seqenc(command_line(tiny_run(dir, 24)));
  CHECK(full.status == 2);
  auto errors = error_lines(full.err);
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0],
             Catch::Contains("cannot write " + dir.string() + "/") && Catch::Contains("No space left on device"));
  CHECK_FALSE(any_temporary(dir));
  const bool started = fs::exists(dir / "checkpoint_last.pt");
  const auto last = started ? slurp(dir / "checkpoint_last.pt") : std::string();
  // Read-only: refused with one line, and nothing changes.
  REQUIRE(fs_.remount("ro"));
  const auto contents = dir_contents(dir);
  auto read_only = run_seqenc(command_line(started ? resumed(tiny_run(dir, 24)) : tiny_run(dir, 24)));
  CHECK(read_only.status == 2);
  errors = error_lines(read_only.err);
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::Contains(dir.string()) && Catch::Contains("Read-only file system"));
  CHECK(dir_contents(dir) == contents);
  // Space back: the run continues from its last checkpoint and ends as an uninterrupted one.
  REQUIRE(fs_.remount("rw,size=8m"));
  if (started) CHECK(slurp(dir / "checkpoint_last.pt") == last);
  auto again = run_seqenc(command_line(started ? resumed(tiny_run(dir, 24)) : tiny_run(dir, 24)));
  CHECK(again.status == 0);
  CHECK(metric_lines(dir) == metric_lines(ref));
  check_same_parameters(dir, ref);
  fs::remove_all(ref);
  fs::remove(log);
}

TEST_CASE("reliability: a refused command leaves the run directory byte for byte as it was", "[reliability]") {
  const auto dir = fresh_dir("refused");
  const auto log = fs::path(dir.string() + ".log");
  REQUIRE(wait_status(spawn_seqenc(tiny_run(dir, 6), log)) == 0);
  const auto before = dir_contents(dir);
  REQUIRE(before.count("checkpoint_last.pt") == 1);
  const auto config = dir / "config.yaml";
  auto resume_with = [&](const std::string& extra) {
    return run_seqenc(command_line(resumed(tiny_run(dir, 12, config))) + " " + extra);
  };
  struct Refusal {
    std::string what, args, message;
  };
  const std::vector<Refusal> refusals = {
      {"an unknown key", "--set model.colour=red", "model.colour: unknown key"},
      {"a bad value", "--set train.lr=-1", "train.lr: must be > 0"},
      {"a model-shape change", "--set model.num_layers=2", "model.num_layers: 1 in the checkpoint, 2 now"},
      {"a width change", "--set model.num_hiddens=32 --set model.ffn_num_hiddens=32",
       "model.num_hiddens: 16 in the checkpoint, 32 now"},
  };
  for (const auto& r : refusals) {
    INFO(r.what);
    auto result = resume_with(r.args);
    CHECK(result.status == 2);
    CHECK(error_lines(result.err).size() == 1);
    CHECK_THAT(result.err, Catch::Contains(r.message));
    CHECK(dir_contents(dir) == before);
  }
  // Starting over a run, and resuming from a damaged checkpoint.
  auto again = run_seqenc(command_line(tiny_run(dir, 6)));
  CHECK(again.status == 2);
  CHECK_THAT(again.err, Catch::Contains("already holds a run"));
  CHECK(dir_contents(dir) == before);
  const auto good = slurp(dir / "checkpoint_last.pt");
  std::ofstream(dir / "checkpoint_last.pt", std::ios::binary) << good.substr(0, good.size() / 2);
  const auto damaged = dir_contents(dir);
  auto bad_checkpoint = resume_with("");
  CHECK(bad_checkpoint.status == 2);
  CHECK_THAT(bad_checkpoint.err, Catch::Contains("checkpoint_last.pt: damaged checkpoint ("));
  CHECK(dir_contents(dir) == damaged);
  // A data error found late (in the test split, read last): a new run or comparison creates nothing at all,
  // a resume changes nothing.
  const auto fresh = fresh_dir("refused_fresh"), tags = fresh_dir("refused_tags");
  const auto bad_data = fresh_dir("refused_data.tsv");
  std::ofstream(bad_data) << "the cat\tDET NOUN\nthe dog barks\tDET NOUN\n";
  const std::string files =
      " --set data.valid=data/tags.tsv --set train.epochs=0 --set train.steps=3"
      " --set train.threads=1 --set data.test=";
  for (const std::string command : {"train", "compare --encoders cnn"}) {
    INFO(command);
    auto r =
        run_seqenc(command + " --config configs/tags.yaml --run-dir " + fresh.string() + files + bad_data.string());
    CHECK(r.status == 2);
    CHECK(error_lines(r.err).size() == 1);
    CHECK_THAT(r.err, Catch::Contains(bad_data.string() + ":2"));
    CHECK_FALSE(fs::exists(fresh));
  }
  REQUIRE(run_seqenc("train --config configs/tags.yaml --run-dir " + tags.string() + files + "data/tags.tsv").status ==
          0);
  const auto tags_before = dir_contents(tags);
  auto late = run_seqenc("train --config " + (tags / "config.yaml").string() + " --run-dir " + tags.string() +
                         " --resume --set train.steps=6 --set data.test=" + bad_data.string());
  CHECK(late.status == 2);
  CHECK_THAT(late.err, Catch::Contains(bad_data.string() + ":2"));
  CHECK(dir_contents(tags) == tags_before);
  fs::remove_all(dir);
  fs::remove_all(tags);
  fs::remove(bad_data);
  fs::remove(log);
}

TEST_CASE("reliability: one writer per run directory, and a killed writer's lock never blocks a resume",
          "[reliability][lock]") {
  const auto dir = fresh_dir("lock");
  const auto log = fs::path(dir.string() + ".log");
  const pid_t pid = spawn_seqenc(tiny_run(dir, 100000), log);
  for (int i = 0; i < 3000 && !fs::exists(dir / "checkpoint_last.pt"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(fs::exists(dir / "checkpoint_last.pt"));
  const auto in_use = "is in use by another seqenc process (pid " + std::to_string(pid) + ")";
  auto second = run_seqenc(command_line(resumed(tiny_run(dir, 100000, dir / "config.yaml"))));
  CHECK(second.status == 2);
  CHECK(error_lines(second.err).size() == 1);
  CHECK_THAT(second.err, Catch::Contains(dir.string() + " " + in_use));
  auto compare = run_seqenc("compare --config configs/lag.yaml --encoders cnn --run-dir " + dir.string() +
                            " --set train.steps=3 --set data.train_size=64");
  CHECK(compare.status == 2);
  CHECK(error_lines(compare.err).size() == 1);
  CHECK_THAT(compare.err, Catch::Contains(in_use));
  kill(pid, SIGKILL);
  CHECK(wait_status(pid) == 128 + SIGKILL);
  // The kernel released the lock with the process: the resume goes ahead (and stops at once: train.steps=1).
  auto after = run_seqenc(command_line(resumed(tiny_run(dir, 1, dir / "config.yaml"))));
  CHECK(after.status == 0);
  fs::remove_all(dir);
  fs::remove(log);
}

TEST_CASE(
    "reliability: checkpoints and exports carry their format and seqenc version, and newer or reshaped ones "
    "get one line",
    "[reliability][checkpoint]") {
  const auto dir = fresh_dir("versions");
  fs::copy(fs::path(SEQENC_SOURCE_DIR) / "tests" / "fixtures" / "run-0.1.0", dir);
  // 0.1.0's run still evaluates and resumes (test_extension checks its numbers); what it writes now is versioned.
  REQUIRE(run_seqenc("eval --run " + dir.string()).status == 0);
  REQUIRE(run_seqenc("train --config " + (dir / "config.yaml").string() + " --run-dir " + dir.string() +
                     " --resume --set train.steps=8")
              .status == 0);
  torch::serialize::InputArchive archive;
  archive.load_from((dir / "checkpoint_last.pt").string());
  c10::IValue format, version;
  REQUIRE(archive.try_read("format", format));
  CHECK(format.toStringRef() == "seqenc-checkpoint-1");
  REQUIRE(archive.try_read("seqenc_version", version));
  CHECK(version.toStringRef() == std::string(seqenc::kVersion));
  const auto model = dir / "model.pt";
  REQUIRE(run_seqenc("export --run " + dir.string() + " --out " + model.string()).status == 0);
  torch::jit::ExtraFilesMap extra = {{"seqenc.json", ""}};
  auto module = torch::jit::load(model.string(), torch::kCPU, extra);
  auto info = nlohmann::json::parse(extra["seqenc.json"]);
  CHECK(info["format"] == "seqenc-export-1");
  CHECK(info["seqenc_version"] == std::string(seqenc::kVersion));

  // A model shape edited in config.yaml: one line naming what differs, no LibTorch trace. The best checkpoint is
  // still 0.1.0's, which did not keep its model keys: the first tensor that differs is named instead.
  const auto yaml = slurp(dir / "config.yaml");
  for (const auto& [edit, difference] : std::vector<std::pair<std::string, std::string>>{
           {"num_layers: 2", "encoder.block1 is in this model but not in the checkpoint"},
           {"num_hiddens: 16", "encoder.embedding.weight is [11, 8] in the checkpoint, [11, 16] in this model"}}) {
    INFO(edit);
    auto edited = yaml;
    const auto key = edit.substr(0, edit.find(':') + 1);
    const auto at = edited.find("  " + key);
    REQUIRE(at != std::string::npos);
    edited.replace(at, edited.find('\n', at) - at, "  " + edit);
    std::ofstream(dir / "config.yaml") << edited;
    auto r = run_seqenc("eval --run " + dir.string());
    CHECK(r.status == 2);
    CHECK(count_lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains("checkpoint_best.pt: saved for a different model shape: ") &&
                          Catch::Contains(difference));
  }
  std::ofstream(dir / "config.yaml") << yaml;

  // A newer format: one line with both versions.
  torch::serialize::OutputArchive newer;
  newer.write("format", c10::IValue(std::string("seqenc-checkpoint-99")));
  newer.write("seqenc_version", c10::IValue(std::string("9.9.9")));
  newer.save_to((dir / "checkpoint_best.pt").string());
  auto r = run_seqenc("eval --run " + dir.string());
  CHECK(r.status == 2);
  CHECK(count_lines(r.err) == 1);
  CHECK_THAT(r.err, Catch::Contains("checkpoint format 99 (written by seqenc 9.9.9) is newer than this seqenc"));
  info["format"] = "seqenc-export-7";
  info["seqenc_version"] = "9.9.9";
  extra["seqenc.json"] = info.dump();
  module.save(model.string(), extra);
  auto p = run_seqenc("predict --model " + model.string() + " --input data/tags.tsv");
  CHECK(p.status == 2);
  CHECK(count_lines(p.err) == 1);
  CHECK_THAT(p.err, Catch::Contains("export format 7 (written by seqenc 9.9.9) is newer than this seqenc"));
  fs::remove_all(dir);
}

TEST_CASE("cli: an unknown command is named with the list, and every command's errors are one line", "[cli]") {
  auto unknown = run_seqenc("fly --to moon");
  CHECK(unknown.status == 2);
  CHECK(unknown.err ==
        "seqenc: error: unknown command 'fly' (commands: train, eval, compare, sweep, export, predict, bench, "
        "analyze, keys; see seqenc --help)\n");
  for (const std::string command :
       {"train", "eval", "compare", "sweep", "export", "predict", "bench", "analyze", "keys"}) {
    INFO(command);
    auto r = run_seqenc(command + " --no-such-option");
    CHECK(r.status == 2);
    CHECK(count_lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::StartsWith("seqenc: error: ") && Catch::EndsWith("(see seqenc " + command + " --help)\n"));
  }
  for (const std::string command : {"train", "eval", "compare", "sweep", "export", "predict", "analyze"}) {
    INFO(command << " without its required options");
    auto r = run_seqenc(command);
    CHECK(r.status == 2);
    CHECK(count_lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::StartsWith("seqenc: error: ") && Catch::Contains("is required"));
  }
  auto none = run_seqenc("");
  CHECK(none.status == 2);
  CHECK(count_lines(none.err) == 1);
}

TEST_CASE("reliability: a byte flipped anywhere in a checkpoint is refused in one line or changes nothing",
          "[reliability]") {
  // LibTorch's zip reader skips checksums and trusts what it parses (a fuzzer crashed it with a damaged type
  // string); seqenc checks every entry's CRC-32 first.
  const auto dir = fresh_dir("flipped");
  std::filesystem::create_directories(dir);
  torch::manual_seed(3);
  torch::nn::Linear written(6, 4);
  const auto path = (dir / "checkpoint.pt").string();
  save_checkpoint(path, *written, nullptr, TrainingState{});
  const auto bytes = slurp(path);
  int refused = 0, loaded = 0;
  for (size_t at = 0; at < bytes.size(); at += 7) {
    auto damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x20);
    write_file_atomic(path, damaged);
    torch::nn::Linear read(6, 4);
    try {
      load_checkpoint(path, *read, nullptr);
      ++loaded;  // a byte no reader looks at (a timestamp, padding): the same parameters
      CHECK(torch::equal(read->weight, written->weight));
      CHECK(torch::equal(read->bias, written->bias));
    } catch (const CheckpointError& e) {
      ++refused;
      CHECK_THAT(e.what(), Catch::StartsWith(path + ": "));
    }
  }
  CHECK(refused > loaded);
  std::filesystem::remove_all(dir);
}
