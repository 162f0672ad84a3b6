#include "seqenc/tools/analyze_options.h"

namespace seqenc {

void add_analyze_keys(Schema& s, AnalyzeOptions& a) {
  s.add("analyze.min_n", a.min_n, "smallest n of the cost and latency sweeps");
  s.add("analyze.max_n", a.max_n, "largest n of the cost and latency sweeps (doubling from min_n)");
  s.add("analyze.num_hiddens", a.num_hiddens, "d of the n sweeps");
  s.add("analyze.fixed_n", a.fixed_n, "n of the d sweep");
  s.add("analyze.min_d", a.min_d, "smallest d of the d sweep");
  s.add("analyze.max_d", a.max_d, "largest d of the d sweep (doubling from min_d)");
  s.add("analyze.repeats", a.repeats, "timing repeats; the median is reported");
  s.add("analyze.max_path_n", a.max_path_n, "largest n of the path-length measurements");
  s.add("analyze.train", a.train, "train the comparison for sections 4 and 6 (else skip them)");
  s.add("analyze.recipes", a.recipes, "train the recipe study of section 7 (else skip it)");
  s.add("analyze.recipe_steps", a.recipe_steps, "training steps of each run of the recipe study");
}

std::vector<std::string> analyze_problems(const AnalyzeOptions& a) {
  std::vector<std::string> p;
  auto need = [&p](bool ok, const std::string& problem) {
    if (!ok) p.push_back(problem);
  };
  need(a.min_n >= 2 && a.min_n <= a.max_n, "analyze.min_n: must be in [2, analyze.max_n]");
  need(a.min_d >= 1 && a.min_d <= a.max_d, "analyze.min_d: must be in [1, analyze.max_d]");
  need(a.num_hiddens > 0, "analyze.num_hiddens: must be > 0");
  need(a.fixed_n >= 2, "analyze.fixed_n: must be >= 2");
  need(a.repeats > 0, "analyze.repeats: must be > 0");
  need(a.max_path_n >= 4, "analyze.max_path_n: must be >= 4");
  need(a.recipe_steps >= 100, "analyze.recipe_steps: must be >= 100 (validation runs every 100 steps)");
  return p;
}

}  // namespace seqenc
