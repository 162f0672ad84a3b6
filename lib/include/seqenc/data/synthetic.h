// Synthetic tasks whose dependency distance is controlled: generated from a
// seed, no files, fully deterministic.
#pragma once
#include <string>
#include <vector>

#include "seqenc/data/dataset.h"

namespace seqenc {

// lag: random symbols; at marked query positions (a marker token ?d replaces
//   the symbol) the label is the symbol d positions earlier. groups = d.
// copy / reverse: x_1..x_m = _.._ ; at the j-th blank the label is x_j (copy)
//   or x_{m+1-j} (reverse). groups = distance from source to label position.
// recall: k_1 v_1 .. k_K v_K ? k_q; at the last position the label is the
//   value paired with k_q. groups = distance from that value to the query.
// listops: nested [MIN [MAX [MED [SM (sum mod 10) expressions over digits,
//   brackets kept; the label is the value (10 classes).
TaskData make_synthetic_task(const DataOptions& options);
std::vector<std::string> synthetic_task_names();

}  // namespace seqenc
