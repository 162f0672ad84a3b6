// Measurements behind the section's comparison table: reach and path length
// from gradients, power-law slopes, and timing.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "seqenc/nn/encoder.h"

namespace seqenc {

struct Reach {
  int64_t before = 0;  // earliest input position with a nonzero gradient, as a distance back
  int64_t after = 0;   // latest input position with a nonzero gradient, as a distance ahead
};

// Which inputs output `position` depends on, measured from gradients
// d output[position] / d input[i] of encoder.encode() on random embeddings of
// length n (batch 1, all valid), in the encoder's dtype (float64 avoids
// underflow through deep stacks). The encoder is put in eval mode.
Reach measure_reach(EncoderImpl& encoder, int64_t n, int64_t position, uint64_t seed = 0);

// The smallest number of layers (up to max_layers) of `options` for which
// output n - 1 depends on input 0, measured from gradients; -1 if none.
int64_t layers_to_connect(EncoderOptions options, int64_t n, int64_t max_layers);

// Maximum path length of one encoder variant at n: measured from gradients
// and as the encoder reports it (EncoderCost::max_path_length).
struct PathMeasurement {
  std::string variant;  // e.g. "cnn k=3"
  int64_t n = 0;
  int64_t measured = 0, reported = 0;
  int64_t reach_per_layer = 0;  // measured reach of one layer, per side
};
std::vector<PathMeasurement> measure_path_lengths(const std::vector<int64_t>& ns, int64_t num_hiddens);

// Least-squares slope of log(y) against log(x): the exponent of a power law.
double loglog_slope(const std::vector<double>& x, const std::vector<double>& y);

// The middle value (the upper one of an even count).
double median(std::vector<double> values);

// Median milliseconds of f over repeats (after one untimed call).
double median_ms(const std::function<void()>& f, int64_t repeats);

}  // namespace seqenc
