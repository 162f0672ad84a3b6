#include <filesystem>
#include <map>
#include <set>

#include "../json.h"
#include "seqenc/strings.h"
#include "seqenc/train/sinks.h"
#include "seqenc/train/tensorboard_events.h"

namespace seqenc {

namespace {

namespace fs = std::filesystem;

bool is_events_file(const fs::directory_entry& entry) {
  return entry.is_regular_file() && entry.path().filename().string().find("tfevents") != std::string::npos;
}

// (tag, value) of every number in a metrics.jsonl object but the step's bookkeeping, nested objects by path:
// valid/loss, valid/accuracy_by_distance/3.
void flatten(const nlohmann::json& j, const std::string& prefix, std::vector<std::pair<std::string, double>>& out) {
  static const std::set<std::string> kSkipped = {"step", "epoch", "split", "elapsed_s", "examples", "labels"};
  for (const auto& [key, value] : j.items()) {
    if (kSkipped.count(key)) continue;
    if (value.is_object()) flatten(value, prefix + key + "/", out);
    if (value.is_number()) out.emplace_back(prefix + key, value.get<double>());
  }
}

// The config keys train.tensorboard_hparams names, with their values.
std::map<std::string, ScalarValue> hparams_of(const Config& config) {
  Config copy = config;
  Schema schema;
  add_run_keys(schema, copy);
  std::map<std::string, ScalarValue> out;
  for (const auto& key : split_list(config.train.tensorboard_hparams)) {
    if (const auto* k = schema.find(key)) out[key] = k->get();
  }
  return out;
}

// RUN/tb/: TensorBoard's events files of the run, written as it goes (train.tensorboard). A resumed run first cuts
// its files back to the checkpoint's step, then starts a new file that tells a live TensorBoard to drop the
// steps after it too.
class TensorBoardFile : public TrainingObserver {
 public:
  TensorBoardFile(const Config& config, const RunDir& dir) : config_(config), dir_(dir.file("tb")) {}

  void on_start(const RunStart& e) override {
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(dir_, error)) {
      if (!is_events_file(entry)) continue;
      if (e.resumed) {
        truncate_events_file(entry.path(), e.state.step);
      } else {
        fs::remove(entry.path());  // from an attempt killed before its first checkpoint
      }
    }
    writer_ = std::make_unique<EventFileWriter>(dir_);
    if (e.resumed) writer_->session_start(e.state.step + 1);
    if (!e.resumed && !config_.train.tensorboard_hparams.empty()) {
      writer_->hparams_start(hparams_of(config_));
    }
  }

  void on_train_window(const TrainWindow& e) override {
    writer_->scalars(e.step, {{"train/loss", e.loss}, {"train/lr", e.lr}, {"train/tokens_per_s", e.tokens_per_s}});
  }

  void on_validation(const Validated& e) override {
    std::vector<std::pair<std::string, double>> values;
    flatten(eval_json(e.result, e.group_name), "valid/", values);
    writer_->scalars(e.step, values);
  }

  // The records a checkpoint covers reach the disk before it does.
  void on_checkpoint(const CheckpointDue&) override { writer_->sync(); }

  void on_finish(const TrainOutcome& out) override {
    if (out.stop_reason == StopReason::interrupted || out.stop_reason == StopReason::stopped) return;
    if (!config_.train.tensorboard_hparams.empty()) writer_->hparams_end(out.finished());
  }

 private:
  const Config& config_;
  fs::path dir_;
  std::unique_ptr<EventFileWriter> writer_;
};

}  // namespace

SinkFactory tensorboard_sink() {
  return [](const SinkContext& c) -> std::unique_ptr<TrainingObserver> {
    if (!c.dir.writer() || !c.config.train.tensorboard) return nullptr;
    return std::make_unique<TensorBoardFile>(c.config, c.dir);
  };
}

}  // namespace seqenc
