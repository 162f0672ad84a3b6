#include "seqenc/train/run.h"

#include <filesystem>

#include "seqenc/data/task.h"
#include "seqenc/data/text_files.h"
#include "seqenc/data/tokenizer.h"
#include "seqenc/train/device.h"
#include "seqenc/train/model_factory.h"
#include "seqenc/train/run_dir.h"

namespace seqenc {

namespace {
// A file task's vocabulary and labels as the run saved them, and its test split.
TaskData saved_file_task(const RunDir& dir, const DataOptions& d, const TaskSpec& spec) {
  for (const char* f : {"vocab.txt", "labels.txt"}) {
    if (!std::filesystem::exists(dir.file(f))) throw ConfigError(dir.str() + ": missing " + f);
  }
  TaskData task;
  task.task = d.task;
  task.head = spec.head;
  task.causal = task.head == HeadKind::lm;
  task.vocab = Vocabulary::load(dir.file("vocab.txt").string());
  task.label_names = load_lines(dir.file("labels.txt").string());
  task.tokenizer = make_tokenizer(with_saved_tokenizer(d, dir.path()));
  if (const auto pieces = task.tokenizer->pieces();
      !pieces.empty() && Vocabulary::with_pieces(pieces).tokens() != task.vocab.tokens()) {
    throw CheckpointError(dir.file(tokenizer_model_file(d.tokenizer)).string() + " does not match " +
                          dir.file("vocab.txt").string() + ": one of them changed after training");
  }
  const bool single_file = d.valid.empty() && d.test.empty();
  task.test = single_file ? read_file(d.train, d, *task.tokenizer, task.vocab, task.label_names, true, 2)
                          : read_file(d.test, d, *task.tokenizer, task.vocab, task.label_names, true);
  return task;
}
}  // namespace

LoadedRun load_run(const std::string& run_dir, CheckpointKind checkpoint) {
  const RunDir dir(run_dir, /*writer=*/false);
  if (!std::filesystem::is_directory(dir.path())) throw ConfigError(run_dir + ": no such run directory");
  if (!std::filesystem::exists(dir.file("config.yaml"))) {
    throw ConfigError(run_dir + ": no config.yaml; is this a seqenc run directory?");
  }
  LoadedRun run;
  run.config = load_config(dir.file("config.yaml").string(), {}, /*run_directory=*/true);
  const auto& d = run.config.data;
  const auto spec = task_spec(d.task);
  run.task = spec.reads_files() ? saved_file_task(dir, d, spec) : load_task(d) /* regenerated exactly from the seed */;
  const auto name = "checkpoint_" + name_of(checkpoint) + ".pt";
  if (!std::filesystem::exists(dir.file(name)))
    throw CheckpointError(run_dir + ": no " + name + "; train the run first");
  run.model = build_model(run.config, run.task);
  run.state = load_checkpoint(dir.file(name).string(), *run.model, nullptr, model_keys_text(run.config));
  run.model->eval();
  run.warnings = run.task.warnings();
  return run;
}

EvalResult evaluate_run(LoadedRun& run, const std::string& data_file) {
  const auto device = resolve_device(run.config.train.device);
  run.model->to(device);
  if (data_file.empty()) return evaluate(*run.model, run.task.test, run.config.train.batch_size, device);
  if (!task_spec(run.config.data.task).reads_files()) {
    throw ConfigError("--data: task " + run.config.data.task.name() + " is synthetic; it has no data files");
  }
  auto data = read_file(data_file, run.config.data, *run.task.tokenizer, run.task.vocab, run.task.label_names, true);
  run.warnings.insert(run.warnings.end(), data.warnings.begin(), data.warnings.end());
  return evaluate(*run.model, data, run.config.train.batch_size, device);
}

}  // namespace seqenc
