// The sweep.* keys: what seqenc sweep trains (the tools layer's part of the configuration schema). The command's
// --grid, --seeds and --jobs override them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "seqenc/schema.h"

namespace seqenc {

struct SweepOptions {
  std::vector<std::string> grid;  // "KEY=V1,V2,..." for each swept key; every combination is trained
  int64_t seeds = 1;              // runs per combination, with train.seed, train.seed + 1, ...
  int64_t jobs = 1;               // runs at a time (separate processes sharing the machine's cores)
};

void add_sweep_keys(Schema& schema, SweepOptions& sweep);
// Every problem of the sweep.* keys, each "sweep.key: problem" (the grid's keys and values are checked against
// the configuration's schema when the sweep is planned: tools/sweep.h).
std::vector<std::string> sweep_problems(const SweepOptions& sweep);

}  // namespace seqenc
