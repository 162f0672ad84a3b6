// The analyze.* keys: what seqenc analyze measures (the tools layer's part of the configuration schema).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "seqenc/schema.h"

namespace seqenc {

struct AnalyzeOptions {
  int64_t min_n = 16, max_n = 4096;  // cost and latency sweeps over n (doubling)
  int64_t num_hiddens = 64;          // d of the n sweeps
  int64_t fixed_n = 256;             // n of the d sweep
  int64_t min_d = 16, max_d = 512;   // d sweep (doubling)
  int64_t repeats = 3;               // timings are medians over repeats
  int64_t max_path_n = 64;           // path-length measurements up to this n
  bool train = true;                 // section 4 and 6 train the comparison (compare)
  bool recipes = true;               // section 7 trains the recipe study (tools/recipe_study.h)
  int64_t recipe_steps = 800;        // its budget per run
};

void add_analyze_keys(Schema& schema, AnalyzeOptions& analyze);
// Every problem of the analyze.* keys, each "analyze.key: problem".
std::vector<std::string> analyze_problems(const AnalyzeOptions& analyze);

}  // namespace seqenc
