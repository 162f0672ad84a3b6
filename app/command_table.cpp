#include "command.h"

namespace seqenc::app {

const std::vector<CommandEntry>& command_table() {
  static const std::vector<CommandEntry> table = {
      {"train", "Train one encoder from a YAML config", train_command},
      {"eval", "Metrics of a run's checkpoint on its test split or on a file", eval_command},
      {"compare", "Train several encoders on the same data and budget; table and report", compare_command},
      {"sweep", "Train a config over a grid of keys and seeds, J at a time; resumable; report with error bars",
       sweep_command},
      {"export", "Write a run's model (encoder and head) as TorchScript", export_command},
      {"predict", "Predict each line of a file with an exported model", predict_command},
      {"bench", "Time training steps of an encoder (median over repeats)", bench_command},
      {"analyze", "Measure the section's comparison; write a report with plots", analyze_command},
      {"keys", "List every configuration key with its type and default", keys_command},
  };
  return table;
}

}  // namespace seqenc::app
