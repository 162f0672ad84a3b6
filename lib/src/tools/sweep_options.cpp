#include "seqenc/tools/sweep_options.h"

namespace seqenc {

namespace {
constexpr int64_t kMaxSeeds = 1000, kMaxJobs = 256;
}

void add_sweep_keys(Schema& s, SweepOptions& o) {
  s.add("sweep.grid", o.grid,
        "seqenc sweep: one KEY=V1,V2,... entry per swept key (--grid); every combination is trained");
  s.add("sweep.seeds", o.seeds, "seqenc sweep: runs per combination, seeded train.seed, train.seed + 1, ...");
  s.add("sweep.jobs", o.jobs, "seqenc sweep: runs at a time, each with an equal share of the cores");
}

std::vector<std::string> sweep_problems(const SweepOptions& o) {
  std::vector<std::string> p;
  if (o.seeds < 1 || o.seeds > kMaxSeeds) p.push_back("sweep.seeds: must be in [1, 1000]");
  if (o.jobs < 1 || o.jobs > kMaxJobs) p.push_back("sweep.jobs: must be in [1, 256]");
  return p;
}

}  // namespace seqenc
