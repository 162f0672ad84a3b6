// Why the book's transformer recipe fails local tasks, measured: the same
// transformer trained on a local tagging task (segment) and on lag, changing
// one thing at a time from the book's recipe towards seqenc's default, with
// the CNN and RNN on the same budget for reference.
#pragma once
#include <string>
#include <vector>

#include "seqenc/tools/sweep.h"
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
  std::vector<RecipeRun> runs;                     // when every run finished
  StopReason stop_reason = StopReason::completed;  // interrupted: a stop request ended it (it resumes)
  std::vector<std::string> failures;               // "<task: variant> seed 1: <error>"
};

// The study's runs: each variant on each task, in dir/<task>/<variant>.
SweepPlan recipe_study_plan(const std::string& dir, int64_t steps);
// Every variant on both tasks, `steps` steps each, as a sweep (tools/sweep.h) in dir/<task>/<variant>: the runs
// go through `launcher`, control.jobs at a time; a second call skips the finished runs and resumes the others.
RecipeStudy run_recipe_study(const std::string& dir, int64_t steps, RunLauncher& launcher, const SweepControl& control);

}  // namespace seqenc
