// Why the book's transformer recipe fails local tasks, measured: the same
// transformer trained on a local tagging task (segment) and on lag, changing
// one thing at a time from the book's recipe towards seqenc's default, with
// the CNN and RNN on the same budget for reference.
#pragma once
#include <string>
#include <vector>

#include "seqenc/train/config.h"
#include "seqenc/train/trainer.h"

namespace seqenc {

struct RecipeRun {
  std::string task, variant;
  double best_accuracy = 0;
  int64_t steps_to_90 = -1;                       // first validation at >= 0.9; -1: never within the budget
  std::vector<std::pair<int64_t, double>> curve;  // (step, validation accuracy)
};

struct RecipeStudy {
  std::vector<RecipeRun> runs;
  StopReason stop_reason = StopReason::completed;
};

// Trains every variant on both tasks for `steps` steps into dir/<task>/<variant>, `threads` as train.threads.
RecipeStudy run_recipe_study(const std::string& dir, int64_t steps, int64_t threads, const TrainControl& control);

}  // namespace seqenc
