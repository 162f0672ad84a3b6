// Synthetic tasks whose dependency distance is controlled: generated from a seed, no files, fully deterministic.
// Each is a Generator in a file of its own under lib/src/data/tasks/ and one line in task_registry.cpp.
#pragma once
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "seqenc/data/task.h"

namespace seqenc {

using Rng = std::mt19937_64;
int64_t uniform(Rng& rng, int64_t lo, int64_t hi);  // in [lo, hi]
// A different but reproducible stream for each split (and for anything a generator draws once, e.g. a lexicon).
Rng split_rng(uint64_t seed, uint64_t split);

// Makes one example at a time. Its constructor adds the task's tokens to task.vocab and its classes to
// task.label_names (and names task.group_name when labels have a group, such as a distance).
class Generator {
 public:
  virtual ~Generator() = default;
  virtual void example(Rng& rng, Dataset& out) const = 0;
};
using GeneratorFactory = std::function<std::unique_ptr<Generator>(const DataOptions&, TaskData&)>;
using ProblemCheck = std::function<std::vector<std::string>(const DataOptions&)>;

// The registry entry of a generator: the checks every synthetic task shares (sizes, lengths, symbols), then
// `problems`; its splits are data.train_size, valid_size and test_size examples drawn from data.seed.
TaskSpec synthetic_task(HeadKind head, GeneratorFactory make, ProblemCheck problems = {});

// The built-in synthetic tasks (lib/src/data/tasks/).
// lag: random symbols; at marked query positions (a marker token ?d replaces the symbol) the label is the symbol
//   d positions earlier. groups = d.
TaskSpec lag_task();
// copy / reverse: x_1..x_m = _.._ ; at the j-th blank the label is x_j (copy) or x_{m+1-j} (reverse).
//   groups = distance from source to label position.
TaskSpec copy_task();
TaskSpec reverse_task();
// recall: k_1 v_1 .. k_K v_K ? k_q; at the last position the label is the value paired with k_q. groups =
//   distance from that value to the query.
TaskSpec recall_task();
// listops: nested [MIN [MAX [MED [SM (sum mod 10) expressions over digits, brackets kept; the label is the
//   value (10 classes).
TaskSpec listops_task();
// segment: words of a random lexicon written without spaces, each character tagged B (begins a word) or I.
TaskSpec segment_task();

}  // namespace seqenc
