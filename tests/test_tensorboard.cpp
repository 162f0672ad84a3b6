// TensorBoard's events files (train.tensorboard): the TFRecord framing, what survives a kill, and a resumed run
// writing no step twice. tests/check_tensorboard.py reads the same files with TensorBoard's own reader.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <set>

#include "helpers.h"
#include "seqenc/files.h"
#include "seqenc/train/tensorboard_events.h"

using namespace seqenc;
using namespace seqenc::test;
namespace fs = std::filesystem;

namespace {

Config tiny_lag(const std::vector<std::string>& more = {}) {
  std::vector<std::string> o = {"data.task=lag",       "data.symbols=4",        "data.min_len=20",
                                "data.seq_len=24",     "data.max_distance=12",  "data.train_size=64",
                                "data.valid_size=16",  "data.test_size=16",     "model.num_hiddens=16",
                                "model.num_layers=1",  "model.num_heads=2",     "model.ffn_num_hiddens=16",
                                "train.steps=12",      "train.eval_every=6",    "train.log_every=3",
                                "train.batch_size=16", "train.tensorboard=true"};
  o.insert(o.end(), more.begin(), more.end());
  return load_config("", o);
}

// metrics.jsonl as (tag, step) -> value, by TensorBoard's tags: train/loss, valid/accuracy_by_distance/3, ...
std::map<std::pair<std::string, int64_t>, double> metrics_by_tag(const fs::path& run) {
  std::map<std::pair<std::string, int64_t>, double> out;
  std::ifstream in(run / "metrics.jsonl");
  std::string line;
  const std::set<std::string> skipped = {"step", "epoch", "split", "elapsed_s", "examples", "labels"};
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    const std::string split = j["split"];
    const int64_t step = j["step"];
    for (const auto& [key, value] : j.items()) {
      if (skipped.count(key)) continue;
      if (value.is_number()) out[{split + "/" + key, step}] = value.get<double>();
      if (value.is_object()) {
        for (const auto& [group, v] : value.items()) out[{split + "/" + key + "/" + group, step}] = v.get<double>();
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("tensorboard: CRC-32C is Castagnoli's, and a damaged or cut record ends what is read", "[tensorboard]") {
  CHECK(crc32c("123456789", 9) == 0xE3069283u);
  const auto dir = fresh_dir("tb_records");
  {
    EventFileWriter w(dir);
    w.scalars(1, {{"train/loss", 2.5}});
    w.scalars(2, {{"train/loss", 1.5}});
  }
  const std::vector<fs::path> files{fs::directory_iterator(dir), fs::directory_iterator()};
  REQUIRE(files.size() == 1);
  CHECK_THAT(files[0].filename().string(), Catch::StartsWith("events.out.tfevents."));
  std::string problem;
  const auto bytes = read_whole_file(files[0], &problem);
  const auto whole = read_event_records(bytes);
  CHECK(whole.records.size() == 3);  // the file version, then two steps
  CHECK_FALSE(whole.damaged);
  for (size_t cut = 1; cut < 20; ++cut) {
    const auto part = read_event_records(bytes.substr(0, bytes.size() - cut));
    CHECK(part.records.size() == 2);
    CHECK(part.damaged);
  }
  std::string flipped = bytes;
  flipped[flipped.size() - 6] ^= 1;
  CHECK(read_event_records(flipped).records.size() == 2);
  const auto scalars = read_scalars(dir);
  REQUIRE(scalars.size() == 2);
  CHECK(scalars[1].tag == "train/loss");
  CHECK(scalars[1].step == 2);
  CHECK(scalars[1].value == 1.5);
  truncate_events_file(files[0], 1);
  CHECK(read_scalars(dir).size() == 1);
  fs::remove_all(dir);
}

TEST_CASE("tensorboard: the events equal metrics.jsonl, and a resumed run writes no step twice",
          "[tensorboard][training]") {
  const auto dir = fresh_dir("tb_resume");
  auto stop = quietly();
  stop.stop_after_step = 6;
  train(tiny_lag(), dir.string(), false, stop);
  // What a kill after the checkpoint leaves: a record of a later step, and one cut short.
  {
    EventFileWriter late(dir / "tb");
    late.scalars(9, {{"train/loss", 123.0}});
    append_to_file(late.path(), std::string("\x20\x00\x00\x00", 4));
  }
  const auto out = train(tiny_lag(), dir.string(), true, quietly());
  REQUIRE(out.finished());
  std::map<std::pair<std::string, int64_t>, double> seen;
  for (const auto& p : read_scalars(dir / "tb")) {
    INFO(p.tag << " at step " << p.step);
    CHECK(seen.count({p.tag, p.step}) == 0);  // no step written twice
    seen[{p.tag, p.step}] = p.value;
  }
  const auto metrics = metrics_by_tag(dir);
  REQUIRE(metrics.size() == seen.size());
  for (const auto& [key, value] : metrics) {
    INFO(key.first << " at step " << key.second);
    REQUIRE(seen.count(key) == 1);
    CHECK(seen.at(key) == static_cast<float>(value));
  }
  CHECK(seen.count({"train/loss", 12}) == 1);
  CHECK(seen.count({"valid/accuracy_by_distance/12", 12}) == 1);
  CHECK(seen.count({"train/tokens_per_s", 3}) == 1);
  fs::remove_all(dir);
}

TEST_CASE("tensorboard: off by default, and its hyperparameters must be keys of the run", "[tensorboard][config]") {
  CHECK_FALSE(load_config("").train.tensorboard);
  CHECK_THROWS_WITH(load_config("", {"train.tensorboard_hparams=model.num_layers,model.colour"}),
                    Catch::Contains("train.tensorboard_hparams: 'model.colour' is not a key of the run"));
  const auto dir = fresh_dir("tb_off");
  auto c = tiny_lag({"train.tensorboard=false"});
  train(c, dir.string(), false, quietly());
  CHECK_FALSE(fs::exists(dir / "tb"));
  fs::remove_all(dir);
}
