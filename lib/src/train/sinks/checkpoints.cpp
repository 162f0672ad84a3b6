#include "seqenc/nn/heads.h"
#include "seqenc/train/sinks.h"

namespace seqenc {

namespace {

// checkpoint_best.pt (model only) when a validation improves, then checkpoint_last.pt (model, optimizer, state).
class Checkpoints : public TrainingObserver {
 public:
  Checkpoints(const RunDir& dir, const Config& config) : dir_(dir), model_keys_(model_keys_text(config)) {}

  void on_checkpoint(const CheckpointDue& e) override {
    if (e.best) save_checkpoint(dir_.best_checkpoint().string(), e.model, nullptr, e.state, model_keys_);
    dir_.sync_metrics();  // the lines this checkpoint covers reach the disk before it does
    save_checkpoint(dir_.last_checkpoint().string(), e.model, e.optimizer, e.state, model_keys_);
  }

 private:
  const RunDir& dir_;
  const std::string model_keys_;
};

}  // namespace

SinkFactory checkpoint_sink() {
  return [](const SinkContext& c) -> std::unique_ptr<TrainingObserver> {
    if (!c.dir.writer()) return nullptr;
    return std::make_unique<Checkpoints>(c.dir, c.config);
  };
}

}  // namespace seqenc
