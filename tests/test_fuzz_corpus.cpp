// The fuzz targets' seed corpus and every input a fuzzer once crashed on, replayed with the test suite's compiler:
// a regression fails here even in a build without libFuzzer.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz/fuzz_targets.h"

namespace fs = std::filesystem;

namespace {
std::string bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs every file under tests/fuzz/<folder>/<target>; returns how many there were.
int replay(const seqenc::fuzz::Target& target, const std::string& folder) {
  const fs::path dir = fs::path(SEQENC_SOURCE_DIR) / "tests" / "fuzz" / folder / target.name;
  if (!fs::exists(dir)) return 0;
  int count = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto input = bytes_of(entry.path());
    INFO(entry.path().string());
    CHECK_NOTHROW(target.run(reinterpret_cast<const uint8_t*>(input.data()), input.size()));
    ++count;
  }
  return count;
}
}  // namespace

TEST_CASE("every fuzz target's seed corpus and regressions run clean", "[fuzz]") {
  int regressions = 0;
  for (const auto& target : seqenc::fuzz::targets()) {
    INFO(target.name);
    CHECK(replay(target, "corpus") >= 3);
    regressions += replay(target, "regressions");
  }
  // The inputs fuzzers once crashed on (config and checkpoint, so far): a moved folder must not pass silently.
  CHECK(regressions >= 2);
}

TEST_CASE("the checkpoint target's seed is a checkpoint it loads", "[fuzz]") {
  // A format change makes the seed a damaged file and the fuzzer would stop reaching past the header checks:
  // regenerate it with seqenc_tests "[.fuzz-seed]".
  const auto seed = fs::path(SEQENC_SOURCE_DIR) / "tests/fuzz/corpus/checkpoint/seed.pt";
  REQUIRE_NOTHROW(seqenc::fuzz::load_seed_checkpoint(seed.string()));
}

TEST_CASE("write the checkpoint target's seed", "[.fuzz-seed]") {
  seqenc::fuzz::write_seed_checkpoint((fs::path(SEQENC_SOURCE_DIR) / "tests/fuzz/corpus/checkpoint/seed.pt").string());
}
