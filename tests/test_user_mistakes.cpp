// Paths and YAML that users get wrong: each is one line naming the path or key, exit 2, and nothing created.
// Checked where files are opened and YAML is read, so every command answers the same way.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "cli.h"
#include "helpers.h"

using namespace seqenc::test;
namespace fs = std::filesystem;

namespace {
int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

void expect_refused(const std::string& args, const std::string& message, const fs::path& run_dir) {
  INFO(args);
  const auto r = run_seqenc(args);
  INFO(r.err);
  CHECK(r.status == 2);
  CHECK(count_lines(r.err) == 1);
  CHECK_THAT(r.err, Catch::StartsWith("seqenc: error: ") && Catch::Contains(message));
  CHECK(r.err.find("basic_filebuf") == std::string::npos);
  CHECK(r.err.find("filesystem error") == std::string::npos);
  CHECK_FALSE(fs::exists(run_dir / "config.yaml"));
}
}  // namespace

TEST_CASE("mistakes: a directory given as a data file is one line naming it", "[cli][mistakes]") {
  const auto run = fresh_dir("dir_as_file");
  const auto dir = fresh_dir("a_directory");
  fs::create_directories(dir);
  const std::string base = "train --config configs/reviews.yaml --set train.epochs=1 --run-dir " + run.string();
  expect_refused(base + " --set data.train=" + dir.string(), dir.string() + ": is a directory, not a file", run);
  expect_refused(base + " --set data.valid=" + dir.string(), dir.string() + ": is a directory, not a file", run);
  expect_refused(base + " --set data.test=" + dir.string(), dir.string() + ": is a directory, not a file", run);
  fs::remove_all(dir);
  fs::remove_all(run);
}

TEST_CASE("mistakes: a file given as --run-dir, or inside one, is one line naming it", "[cli][mistakes]") {
  const auto file = fresh_dir("run_dir_file");
  std::ofstream(file) << "not a directory\n";
  const std::string base = "train --config configs/lag.yaml --set train.steps=2 --run-dir ";
  expect_refused(base + file.string(), file.string() + ": is a file, not a directory; choose another --run-dir", file);
  expect_refused(base + (file / "sub").string(), file.string() + " is a file, not a directory", file);
  expect_refused("compare --config configs/lag.yaml --run-dir " + file.string(), "is a file, not a directory", file);
  CHECK(slurp(file) == "not a directory\n");  // nothing good is overwritten
  fs::remove(file);
}

TEST_CASE("mistakes: a YAML key given twice is one line naming it and both lines", "[cli][mistakes][config]") {
  const auto config = fresh_dir("twice.yaml");
  std::ofstream(config) << "model:\n  num_layers: 2\n  dropout: 0.1\n  num_layers: 3\ntrain:\n  steps: 5\n";
  const auto run = fresh_dir("twice_run");
  expect_refused("train --config " + config.string() + " --run-dir " + run.string(),
                 config.string() + ": model.num_layers: given twice (lines 2 and 4)", run);
  std::ofstream(config) << "train:\n  steps: 5\ntrain:\n  lr: 0.1\n";
  expect_refused("bench --config " + config.string(), "train: given twice (lines 1 and 3)", run);
  fs::remove(config);
}

TEST_CASE("mistakes: a changed model shape on --resume names the key before any tensor", "[cli][mistakes]") {
  const auto run = fresh_dir("shape_key");
  const std::string base =
      "train --config configs/lag.yaml --set train.steps=2 --set train.eval_every=2"
      " --set data.train_size=64 --set train.threads=1 --run-dir " +
      run.string();
  REQUIRE(run_seqenc(base).status == 0);
  const auto before = slurp(run / "checkpoint_last.pt");
  const auto r = run_seqenc(base + " --set model.num_layers=3 --set train.steps=4 --resume");
  CHECK(r.status == 2);
  CHECK(count_lines(r.err) == 1);
  CHECK_THAT(r.err, Catch::Contains("checkpoint_last.pt: saved for a model of another shape: "
                                    "model.num_layers: 2 in the checkpoint, 3 now"));
  CHECK(slurp(run / "checkpoint_last.pt") == before);
  fs::remove_all(run);
}
