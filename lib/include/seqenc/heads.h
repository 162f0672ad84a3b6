// Task heads on top of an encoder; an encoder plus a head is one model taking
// (tokens, valid_lens) and returning logits.
#pragma once
#include <memory>
#include <string>

#include <torch/nn/modules/linear.h>

#include "seqenc/encoder.h"

namespace seqenc {

// Reserved token ids shared by every vocabulary seqenc builds.
inline constexpr int64_t kPadId = 0, kUnkId = 1, kBosId = 2, kEosId = 3, kClsId = 4;
inline constexpr int64_t kNumSpecialTokens = 5;
// Label value that the loss and the metrics ignore (positions without a label).
inline constexpr int64_t kIgnoreLabel = -100;

struct HeadOptions {
  std::string kind = "classify";  // classify (one label per sequence) | tag (one per position) | lm
  int64_t num_classes = 2;        // lm: the vocabulary size
  std::string pooling = "mean";   // classify: mean (over valid positions) | cls (prepended <cls> token)
};

class SequenceModelImpl : public torch::nn::Module {
 public:
  SequenceModelImpl(const EncoderOptions& encoder, const HeadOptions& head);
  // tokens int64 (B, n), valid_lens int64 (B,) -> (B, classes) for classify,
  // (B, n, classes) for tag and lm.
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& valid_lens);
  // Pooled (B, num_hiddens) or per-position (B, n, num_hiddens) features before the output layer.
  torch::Tensor features(const torch::Tensor& tokens, const torch::Tensor& valid_lens);

  // Logits (M, classes) and labels (M,) of the M labelled positions (or
  // examples) only: the output layer skips padding and unlabelled positions,
  // which for a vocabulary-sized head is most of a training step's work.
  // mask, of labels' shape, says which entries were kept.
  struct Labelled {
    torch::Tensor logits, labels, mask;
  };
  Labelled labelled_logits(const torch::Tensor& tokens, const torch::Tensor& valid_lens, const torch::Tensor& labels);

  const HeadOptions& head_options() const { return head_; }
  std::shared_ptr<EncoderImpl> encoder;
  torch::nn::Linear output{nullptr};

 private:
  HeadOptions head_;
};
TORCH_MODULE(SequenceModel);

// Mean of states over valid positions (B, n, d) -> (B, d); empty sequences give zeros.
torch::Tensor masked_mean(const torch::Tensor& states, const torch::Tensor& valid_lens);

}  // namespace seqenc
