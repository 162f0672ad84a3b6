// Metrics of a model on a dataset, and the training loss.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include <torch/types.h>

#include "seqenc/data/dataset.h"
#include "seqenc/nn/heads.h"

namespace seqenc {

struct EvalResult {
  double loss = 0;      // mean cross-entropy per label
  double accuracy = 0;  // share of labels predicted right
  int64_t examples = 0;
  int64_t labels = 0;
  int64_t tokens = 0, unk_tokens = 0;                       // the inputs' tokens, and how many of them are <unk>
  std::map<int64_t, std::pair<int64_t, int64_t>> by_group;  // group (lag distance) -> (correct, total)

  // Accuracy within one group (0 when it has no labels).
  double group_accuracy(int64_t group) const;
};

// Metrics of model (put in eval mode) on every example of data.
EvalResult evaluate(SequenceModelImpl& model, const Dataset& data, int64_t batch_size, const torch::Device& device);

// Mean cross-entropy over labelled positions (kIgnoreLabel ignored).
torch::Tensor task_loss(const torch::Tensor& logits, const torch::Tensor& labels, double label_smoothing = 0);

// {"loss", "accuracy", "examples", "labels", "accuracy_by_<group_name>", "mean_length", "unk_share"} as JSON
// text (seqenc eval --json): mean_length is tokens per example, unk_share the share of tokens that are <unk>.
std::string eval_result_json(const EvalResult& result, const std::string& group_name);

}  // namespace seqenc
