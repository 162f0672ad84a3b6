#include <nlohmann/json.hpp>

#include "../json.h"
#include "seqenc/train/sinks.h"

namespace seqenc {

namespace {

using json = nlohmann::json;

// metrics.jsonl: one line per training window and per validation, appended as they happen.
class MetricsFile : public TrainingObserver {
 public:
  explicit MetricsFile(const RunDir& dir) : dir_(dir) {}

  // Lines past the checkpoint (or, for a fresh start, from an attempt killed before its first checkpoint).
  void on_start(const RunStart& e) override { dir_.truncate_metrics(e.state.step); }

  void on_train_window(const TrainWindow& e) override {
    dir_.append_metrics(json{
        {"step", e.step},
        {"epoch", e.epoch},
        {"split", "train"},
        {"loss", e.loss},
        {"lr", e.lr},
        {"tokens_per_s", e.tokens_per_s},
        {"elapsed_s",
         e.elapsed_s}}.dump());
  }

  void on_validation(const Validated& e) override {
    json line = {{"step", e.step}, {"epoch", e.epoch}, {"split", "valid"}, {"elapsed_s", e.elapsed_s}};
    line.update(eval_json(e.result, e.group_name));
    dir_.append_metrics(line.dump());
  }

 private:
  const RunDir& dir_;
};

}  // namespace

SinkFactory metrics_file_sink() {
  return [](const SinkContext& c) -> std::unique_ptr<TrainingObserver> {
    if (!c.dir.writer()) return nullptr;
    return std::make_unique<MetricsFile>(c.dir);
  };
}

}  // namespace seqenc
