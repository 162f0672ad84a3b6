// Measurements behind the section's comparison table: reach from gradients.
#pragma once
#include <cstdint>

#include "seqenc/encoder.h"

namespace seqenc {

struct Reach {
  int64_t before = 0;  // earliest input position with a nonzero gradient, as a distance back
  int64_t after = 0;   // latest input position with a nonzero gradient, as a distance ahead
};

// Which inputs output `position` depends on, measured from gradients
// d output[position] / d input[i] of encoder.encode() on random embeddings of
// length n (batch 1, all valid). The encoder is put in eval mode.
Reach measure_reach(EncoderImpl& encoder, int64_t n, int64_t position, uint64_t seed = 0);

}  // namespace seqenc
