// Task heads on top of an encoder; an encoder plus a head is one model taking
// (tokens, valid_lens) and returning logits.
#pragma once
#include <memory>
#include <string>

#include <vector>

#include <torch/nn/modules/linear.h>

#include "seqenc/data/dataset.h"
#include "seqenc/nn/encoder.h"

namespace seqenc {

// classify: mean over valid positions, or the state of a prepended <cls> token.
enum class Pooling { mean, cls };
SEQENC_CHOICES(Pooling, {Pooling::mean, "mean"}, {Pooling::cls, "cls"});

// HeadKind (data/dataset.h) says which labels the head predicts.
struct HeadOptions {
  HeadKind kind = HeadKind::classify;
  int64_t num_classes = 2;  // lm: the vocabulary size
  Pooling pooling = Pooling::mean;
};

// Problems of a head on an encoder that is (or is not) causal, each "model.key: problem".
std::vector<std::string> head_problems(const HeadOptions& head, bool causal);

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

  // The model's forward(tokens, valid_lens) -> logits as a TorchScript method, in eval mode.
  std::string torchscript_source() const;
  // Longest input the model takes (the encoder's max_len, less a prepended <cls>).
  int64_t max_input_len() const;

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
