#include "seqenc/data/batching.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <stdexcept>

#include <torch/torch.h>

namespace seqenc {

Batcher::Batcher(const Dataset& data, int64_t batch_size, bool shuffle, uint64_t seed, bool bucket)
    : data_(data), batch_size_(batch_size), shuffle_(shuffle), bucket_(bucket), seed_(seed) {
  if (batch_size <= 0) throw DataError("batch_size must be > 0");
}

int64_t Batcher::num_batches() const { return (data_.size() + batch_size_ - 1) / batch_size_; }

std::vector<std::vector<int64_t>> Batcher::epoch(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<size_t>(data_.size()));
  std::iota(order.begin(), order.end(), 0);
  std::seed_seq seq{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32), static_cast<uint32_t>(epoch)};
  std::mt19937_64 rng(seq);
  if (shuffle_) std::shuffle(order.begin(), order.end(), rng);
  if (bucket_) {
    const auto window = static_cast<size_t>(batch_size_ * 50);
    for (size_t start = 0; start < order.size(); start += window) {
      auto end = order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), start + window));
      std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(start), end,
                       [&](int64_t a, int64_t b) { return data_.length(a) < data_.length(b); });
    }
  }
  std::vector<std::vector<int64_t>> batches;
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(batch_size_)) {
    const size_t end = std::min(order.size(), start + static_cast<size_t>(batch_size_));
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start),
                         order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  if (bucket_ && shuffle_) std::shuffle(batches.begin(), batches.end(), rng);
  return batches;
}

Batch Batcher::collate(const std::vector<int64_t>& indices) const {
  const auto B = static_cast<int64_t>(indices.size());
  int64_t n = 1;
  for (auto i : indices) n = std::max(n, data_.length(i));
  auto tokens = torch::full({B, n}, kPadId, torch::kLong);
  auto lens = torch::empty({B}, torch::kLong);
  auto labels =
      data_.per_token_labels ? torch::full({B, n}, kIgnoreLabel, torch::kLong) : torch::empty({B}, torch::kLong);
  auto groups = torch::full(labels.sizes(), -1, torch::kLong);
  auto t = tokens.accessor<int64_t, 2>();
  auto l = lens.accessor<int64_t, 1>();
  int64_t* lab = labels.data_ptr<int64_t>();
  int64_t* grp = groups.data_ptr<int64_t>();
  Batch batch;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t i = indices[static_cast<size_t>(b)], begin = data_.offsets[i], len = data_.length(i);
    l[b] = len;
    batch.num_tokens += len;
    for (int64_t j = 0; j < len; ++j) t[b][j] = data_.tokens[begin + j];
    if (data_.per_token_labels) {
      for (int64_t j = 0; j < len; ++j) {
        lab[b * n + j] = data_.labels[begin + j];
        grp[b * n + j] = data_.groups[begin + j];
      }
    } else {
      lab[b] = data_.labels[i];
      grp[b] = data_.groups[i];
    }
  }
  batch.tokens = tokens;
  batch.valid_lens = lens;
  batch.labels = labels;
  batch.groups = groups;
  return batch;
}

}  // namespace seqenc
