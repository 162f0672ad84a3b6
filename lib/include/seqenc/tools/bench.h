// seqenc bench: the project's training-step benchmark.
#pragma once
#include <string>

#include "seqenc/train/config.h"

namespace seqenc {

struct BenchResult {
  std::string encoder;
  int64_t batch_size = 0, seq_len = 0, vocab_size = 0, threads = 0, parameters = 0;
  double tokens_per_s = 0;  // batch_size x seq_len positions per second (median over repeats)
  double ms_per_step = 0;   // median over repeats
  double peak_rss_mb = 0;
  std::string device;
};

// A step: random tokens, random valid lengths in [n/2, n], the encoder with a
// token-classification head over the vocabulary, cross-entropy, backward, Adam.
BenchResult run_bench(const Config& config);
std::string bench_json(const BenchResult& r);

}  // namespace seqenc
