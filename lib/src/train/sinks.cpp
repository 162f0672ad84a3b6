#include "seqenc/train/sinks.h"

#include <unistd.h>

#include "seqenc/registry.h"

namespace seqenc {

namespace {
// In this order: the progress bar clears its line before the log writes one, and metrics.jsonl holds a
// validation's line (and TensorBoard its record) before the checkpoint writer flushes it and saves.
Registry<SinkFactory>& registry() {
  static Registry<SinkFactory> sinks({
      {"progress", progress_bar_sink()},
      {"log", log_sink()},
      {"metrics", metrics_file_sink()},
      {"tensorboard", tensorboard_sink()},
      {"checkpoints", checkpoint_sink()},
      {"result", result_file_sink()},
  });
  return sinks;
}
}  // namespace

void register_sink(const std::string& name, SinkFactory factory) { registry().add(name, std::move(factory)); }

std::vector<std::string> sink_names() { return registry().names(); }

std::vector<std::unique_ptr<TrainingObserver>> make_sinks(const SinkContext& context) {
  std::vector<std::unique_ptr<TrainingObserver>> observers;
  for (const auto& [name, factory] : registry().entries()) {
    if (auto observer = factory(context)) observers.push_back(std::move(observer));
  }
  return observers;
}

bool shows_progress_bar(const SinkContext& context) {
  return !context.quiet && context.dir.writer() && isatty(STDERR_FILENO);
}

}  // namespace seqenc
