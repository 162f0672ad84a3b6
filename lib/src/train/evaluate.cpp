#include "seqenc/train/evaluate.h"

#include <algorithm>

#include "json.h"
#include "seqenc/data/batching.h"
#include "seqenc/nn/cross_entropy.h"

namespace seqenc {

double EvalResult::group_accuracy(int64_t group) const {
  auto it = by_group.find(group);
  if (it == by_group.end() || it->second.second == 0) return 0.0;
  return static_cast<double>(it->second.first) / static_cast<double>(it->second.second);
}

torch::Tensor task_loss(const torch::Tensor& logits, const torch::Tensor& labels, double label_smoothing) {
  const auto C = logits.size(-1);
  auto flat_labels = labels.reshape({-1});
  if (flat_labels.numel() == 0) return logits.sum() * 0;  // nothing to learn in this batch
  return cross_entropy(logits.reshape({-1, C}), flat_labels, kIgnoreLabel, label_smoothing);
}

namespace {
void count_groups(const torch::Tensor& groups, const torch::Tensor& hits, EvalResult& r) {
  if (!groups.ge(0).any().item<bool>()) return;
  auto ga = groups.accessor<int64_t, 1>();
  auto ha = hits.accessor<bool, 1>();
  for (int64_t i = 0; i < groups.size(0); ++i) {
    if (ga[i] < 0) continue;
    auto& [correct, total] = r.by_group[ga[i]];
    correct += ha[i] ? 1 : 0;
    ++total;
  }
}
}  // namespace

EvalResult evaluate(SequenceModelImpl& model, const Dataset& data, int64_t batch_size, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  model.eval();
  EvalResult r;
  r.tokens = data.num_tokens();
  r.unk_tokens = std::count(data.tokens.begin(), data.tokens.end(), static_cast<int32_t>(kUnkId));
  Batcher batcher(data, batch_size, false, 0);
  double loss_sum = 0;
  int64_t correct = 0;
  namespace F = torch::nn::functional;
  for (const auto& indices : batcher.epoch(0)) {
    auto batch = batcher.collate(indices);
    auto out = model.labelled_logits(batch.tokens.to(device), batch.valid_lens.to(device), batch.labels.to(device));
    r.examples += static_cast<int64_t>(indices.size());
    if (out.labels.numel() == 0) continue;
    loss_sum +=
        F::cross_entropy(out.logits, out.labels, F::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
    auto hits = out.logits.argmax(-1).eq(out.labels).cpu();
    correct += hits.sum().item<int64_t>();
    r.labels += out.labels.numel();
    count_groups(batch.groups.masked_select(out.mask.cpu()), hits, r);
  }
  if (r.labels > 0) {
    r.loss = loss_sum / static_cast<double>(r.labels);
    r.accuracy = static_cast<double>(correct) / static_cast<double>(r.labels);
  }
  return r;
}

nlohmann::json eval_json(const EvalResult& r, const std::string& group_name) {
  nlohmann::json j = {{"loss", r.loss}, {"accuracy", r.accuracy}, {"examples", r.examples}, {"labels", r.labels}};
  if (!r.by_group.empty() && !group_name.empty()) {
    nlohmann::json groups = nlohmann::json::object();
    for (const auto& [g, counts] : r.by_group) groups[std::to_string(g)] = r.group_accuracy(g);
    j["accuracy_by_" + group_name] = groups;
  }
  return j;
}

std::string eval_result_json(const EvalResult& result, const std::string& group_name) {
  auto j = eval_json(result, group_name);
  const auto tokens = static_cast<double>(std::max<int64_t>(result.tokens, 1));
  j["mean_length"] = static_cast<double>(result.tokens) / static_cast<double>(std::max<int64_t>(result.examples, 1));
  j["unk_share"] = static_cast<double>(result.unk_tokens) / tokens;
  return j.dump();
}

}  // namespace seqenc
