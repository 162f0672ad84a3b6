// Batches of padded token ids with valid lengths, in an order fixed by
// (seed, epoch) so that a run can resume mid-epoch.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "seqenc/data/dataset.h"

namespace seqenc {

struct Batch {
  at::Tensor tokens;       // int64 (B, n), padded with <pad>
  at::Tensor valid_lens;   // int64 (B,)
  at::Tensor labels;       // int64 (B,) or (B, n), kIgnoreLabel where none
  at::Tensor groups;       // int64, labels' shape, -1 where none
  int64_t num_tokens = 0;  // real (unpadded) tokens
};

class Batcher {
 public:
  // bucket: group examples of similar length (within windows of 50 batches) to save padding.
  Batcher(const Dataset& data, int64_t batch_size, bool shuffle, uint64_t seed, bool bucket = false);
  int64_t num_batches() const;
  // The batches of one epoch as lists of example indices; the last partial batch is kept.
  std::vector<std::vector<int64_t>> epoch(int64_t epoch) const;
  Batch collate(const std::vector<int64_t>& indices) const;
  const Dataset& data() const { return data_; }

 private:
  const Dataset& data_;
  int64_t batch_size_;
  bool shuffle_, bucket_;
  uint64_t seed_;
};

}  // namespace seqenc
