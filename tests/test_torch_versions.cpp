// Files written with one LibTorch and read with another. seqenc builds with Debian's LibTorch 1.13 (build/) and with
// the 2.x inside PyTorch's wheel (build-torch2/); tests/fixtures/libtorch-*/ hold a run and an export written by
// each (tests/fixtures/make_libtorch_fixture), and every build's suite reads them all.
#include <catch2/catch.hpp>

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <caffe2/serialize/versions.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <torch/version.h>

#include "cli.h"
#include "helpers.h"
#include "reliability.h"
#include "seqenc/compat.h"
#include "seqenc/train/run.h"

namespace fs = std::filesystem;
using namespace seqenc;
using namespace seqenc::test;

namespace {

const fs::path kFixtures = fs::path(SEQENC_SOURCE_DIR) / "tests" / "fixtures";

std::vector<fs::path> libtorch_fixtures() {
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(kFixtures)) {
    if (entry.path().filename().string().rfind("libtorch-", 0) == 0) dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// The exp_avg of each parameter in order, as an Adam archive pairs them: param_groups' params/i names the key of
// parameter i's state.
std::vector<torch::Tensor> exp_avgs_in_order(torch::serialize::InputArchive& optimizer, size_t n) {
  torch::serialize::InputArchive groups, group, states;
  optimizer.read("param_groups", groups);
  groups.read("param_groups/0", group);
  optimizer.read("state", states);
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < n; ++i) {
    c10::IValue key;
    group.read("params/" + std::to_string(i), key);
    torch::serialize::InputArchive state;
    states.read(key.toStringRef(), state);
    torch::Tensor exp_avg;
    state.read("exp_avg", exp_avg, /*is_buffer=*/true);
    out.push_back(exp_avg);
  }
  return out;
}

// Rewrites the "<folder>/version" entry of the LibTorch archive at `path` (its file format) to `format`, padded
// with newlines to the entry's length, and fixes its checksums: a file as a LibTorch writing that format would.
void set_file_format(const fs::path& path, const std::string& format) {
  std::string z = slurp(path);
  auto get = [&](size_t at, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(z[at + static_cast<size_t>(i)]);
    return v;
  };
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) z[at + static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  const size_t end = z.rfind(std::string("PK\x05\x06", 4));
  REQUIRE(end != std::string::npos);
  size_t at = get(end + 16, 4);
  for (uint64_t i = 0, n = get(end + 10, 2); i < n; ++i) {
    const size_t name_len = get(at + 28, 2);
    const std::string name = z.substr(at + 46, name_len);
    if (std::count(name.begin(), name.end(), '/') == 1 && name.substr(name.find('/')) == "/version") {
      REQUIRE(get(at + 10, 2) == 0);  // stored
      const size_t size = get(at + 24, 4), local = get(at + 42, 4);
      const size_t data = local + 30 + get(local + 26, 2) + get(local + 28, 2);
      REQUIRE(format.size() <= size);
      const std::string contents = format + std::string(size - format.size(), '\n');
      z.replace(data, size, contents);
      const auto crc = static_cast<uint32_t>(
          crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(contents.data()), static_cast<uInt>(size)));
      put32(at + 16, crc);
      put32(local + 14, crc);
      std::ofstream(path, std::ios::binary) << z;
      return;
    }
    at += 46 + name_len + get(at + 30, 2) + get(at + 32, 2);
  }
  FAIL("no version entry in " << path);
}

}  // namespace

TEST_CASE("versions: runs and exports written with LibTorch 1.13 and 2.x predict, evaluate and resume the same here",
          "[versions]") {
  const auto fixtures = libtorch_fixtures();
  REQUIRE(fixtures.size() >= 2);  // one written by each LibTorch seqenc builds with
  for (const auto& fixture : fixtures) {
    INFO(fixture.filename().string() << " read with LibTorch " << TORCH_VERSION);
    // The program, as a user runs it: predictions as they were when the export was written.
    auto r = run_seqenc("predict --model " + (fixture / "model.pt").string() + " --input " +
                        (fixture / "input.txt").string() + " --json");
    REQUIRE(r.status == 0);
    const auto got = json_lines(r.out), want = json_lines(slurp(fixture / "predictions.jsonl"));
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i]["labels"] == want[i]["labels"]);
      for (size_t j = 0; j < want[i]["probabilities"].size(); ++j) {
        CHECK(got[i]["probabilities"][j].get<double>() ==
              Approx(want[i]["probabilities"][j].get<double>()).margin(1e-5));
      }
    }
    // The run: the best checkpoint evaluates as it did, and the last resumes.
    const auto dir = fresh_dir("versions_" + fixture.filename().string());
    fs::copy(fixture / "run", dir);
    auto best = load_run(dir.string(), CheckpointKind::best);
    const auto expected = nlohmann::json::parse(slurp(fixture / "eval_best.json"));
    const auto e = evaluate_run(best);
    CHECK(e.accuracy == expected["accuracy"].get<double>());
    CHECK(e.loss == Approx(expected["loss"].get<double>()).epsilon(1e-5));
    auto config = load_config((dir / "config.yaml").string(), {"train.steps=9"});
    const auto outcome = train(config, dir.string(), true, quietly());
    CHECK(outcome.stop_reason == StopReason::completed);
    CHECK(outcome.state.step == 9);
    fs::remove_all(dir);
  }
}

TEST_CASE("versions: the optimizer state of a 1.13 checkpoint (hex keys) lands on the parameters it was saved for",
          "[versions][checkpoint]") {
  // 2.x reads state keys as decimal numbers: without the rewrite every 1.13 key reads as 0.
  const auto dir = fresh_dir("versions_optimizer");
  fs::copy(kFixtures / "run-0.1.0", dir);
  auto run = load_run(dir.string(), CheckpointKind::last);
  const auto parameters = run.model->parameters();
  torch::serialize::InputArchive checkpoint, saved;
  checkpoint.load_from((dir / "checkpoint_last.pt").string());
  checkpoint.read("optimizer", saved);
  const auto want = exp_avgs_in_order(saved, parameters.size());

  torch::optim::Adam adam(parameters);
  compat::load_optimizer(adam, saved);
  // Saved again, the state pairs with the parameters through this LibTorch's own keys.
  torch::serialize::OutputArchive out;
  adam.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  torch::serialize::InputArchive resaved;
  std::istringstream in(bytes.str());
  resaved.load_from(in);
  const auto got = exp_avgs_in_order(resaved, parameters.size());
  for (size_t i = 0; i < parameters.size(); ++i) {
    INFO("parameter " << i);
    REQUIRE(got[i].sizes() == parameters[i].sizes());
    CHECK(got[i].equal(want[i]));
  }
  fs::remove_all(dir);
}

TEST_CASE("versions: a checkpoint or export in a file format newer than this LibTorch reads is refused in one line",
          "[versions][reliability]") {
  const auto dir = fresh_dir("versions_format");
  fs::copy(kFixtures / "run-0.1.0", dir);
  const auto model = fs::path(dir.string() + ".pt");
  REQUIRE(run_seqenc("export --run " + dir.string() + " --out " + model.string()).status == 0);
  const auto newer = std::to_string(caffe2::serialize::kMaxSupportedFileFormatVersion + 1);
  const std::string reads = ", newer than this seqenc's LibTorch " TORCH_VERSION " reads (formats up to " +
                            std::to_string(caffe2::serialize::kMaxSupportedFileFormatVersion) + "); ";
  set_file_format(model, newer);
  auto r = run_seqenc("predict --model " + model.string() + " --input " +
                      (kFixtures / "libtorch-1.13" / "input.txt").string());
  CHECK(r.status == 2);
  REQUIRE(error_lines(r.err).size() == 1);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_THAT(r.err, Catch::Contains(model.string() + ": written by LibTorch " TORCH_VERSION " in file format " + newer +
                                    reads + "use a seqenc built with LibTorch " TORCH_VERSION " or newer"));
  // A checkpoint does not say which LibTorch wrote it.
  set_file_format(dir / "checkpoint_best.pt", newer);
  r = run_seqenc("eval --run " + dir.string());
  CHECK(r.status == 2);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_THAT(r.err,
             Catch::Contains((dir / "checkpoint_best.pt").string() + ": written by a newer LibTorch in file format " +
                             newer + reads + "use a seqenc built with a newer LibTorch"));
  fs::remove_all(dir);
  fs::remove(model);
}
