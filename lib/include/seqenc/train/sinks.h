// Where a run's events go: a registry of sinks, each an observer (train/events.h) made for a run. The built-in
// ones are a file each under lib/src/train/sinks/, listed in lib/src/train/sinks.cpp: the console progress bar,
// the log (console and train.log), metrics.jsonl, TensorBoard's events files (train.tensorboard), the checkpoints
// and result.json. A new sink is one file and one register_sink line.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "seqenc/train/config.h"
#include "seqenc/train/events.h"
#include "seqenc/train/run_dir.h"

namespace seqenc {

// What a sink may know of its run.
struct SinkContext {
  const Config& config;
  const RunDir& dir;  // dir.writer(): this rank writes the run directory (rank 0)
  bool quiet;         // no console output
  int rank, world_size;
};

// The sink's observer for this run, or null when it has nothing to do here (e.g. a file sink on a rank that
// does not write).
using SinkFactory = std::function<std::unique_ptr<TrainingObserver>(const SinkContext&)>;

// Adds a sink (or replaces one of that name); every run made after it uses it.
void register_sink(const std::string& name, SinkFactory factory);
std::vector<std::string> sink_names();
// The observers of every sink that applies to this run, in registration order.
std::vector<std::unique_ptr<TrainingObserver>> make_sinks(const SinkContext& context);

// Whether the console shows a live progress bar (a terminal, not quiet, the writing rank): the log then leaves
// out the per-window step lines.
bool shows_progress_bar(const SinkContext& context);

// The built-in sinks (lib/src/train/sinks/).
SinkFactory progress_bar_sink();
SinkFactory log_sink();
SinkFactory metrics_file_sink();
SinkFactory tensorboard_sink();
SinkFactory checkpoint_sink();
SinkFactory result_file_sink();

}  // namespace seqenc
