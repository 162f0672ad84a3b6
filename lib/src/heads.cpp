#include "seqenc/heads.h"

#include <stdexcept>

namespace seqenc {

torch::Tensor masked_mean(const torch::Tensor& states, const torch::Tensor& valid_lens) {
  auto lens = valid_lens.to(states.device(), states.scalar_type()).clamp_min(1).unsqueeze(1);
  return zero_padding(states, valid_lens).sum(1) / lens;
}

SequenceModelImpl::SequenceModelImpl(const EncoderOptions& encoder_options, const HeadOptions& head)
    : head_(head) {
  if (head.kind != "classify" && head.kind != "tag" && head.kind != "lm") {
    throw std::invalid_argument("unknown head '" + head.kind + "' (known: classify, tag, lm)");
  }
  if (head.num_classes <= 0) throw std::invalid_argument("head: num_classes must be > 0");
  if (head.kind == "lm" && !encoder_options.causal) {
    throw std::invalid_argument("language modelling needs a causal encoder");
  }
  if (head.kind == "classify" && head.pooling != "mean" && head.pooling != "cls") {
    throw std::invalid_argument("unknown pooling '" + head.pooling + "' (known: mean, cls)");
  }
  if (head.kind == "classify" && head.pooling == "cls" && encoder_options.causal) {
    throw std::invalid_argument("cls pooling needs a non-causal encoder: a causal <cls> sees nothing");
  }
  encoder = register_module("encoder", make_encoder(encoder_options));
  output = register_module("output", torch::nn::Linear(encoder_options.num_hiddens, head.num_classes));
}

torch::Tensor SequenceModelImpl::features(const torch::Tensor& tokens, const torch::Tensor& valid_lens) {
  if (head_.kind != "classify") return encoder->forward(tokens, valid_lens);
  if (head_.pooling == "cls") {
    auto cls = torch::full({tokens.size(0), 1}, kClsId, tokens.options());
    auto states = encoder->forward(torch::cat({cls, tokens}, 1), valid_lens + 1);
    return states.select(1, 0);
  }
  return masked_mean(encoder->forward(tokens, valid_lens), valid_lens);
}

torch::Tensor SequenceModelImpl::forward(const torch::Tensor& tokens, const torch::Tensor& valid_lens) {
  return output(features(tokens, valid_lens));
}

SequenceModelImpl::Labelled SequenceModelImpl::labelled_logits(const torch::Tensor& tokens,
                                                              const torch::Tensor& valid_lens,
                                                              const torch::Tensor& labels) {
  auto states = features(tokens, valid_lens);
  auto mask = labels.ne(kIgnoreLabel);
  auto rows = states.reshape({-1, states.size(-1)}).index({mask.reshape({-1})});
  return {output(rows), labels.masked_select(mask), mask};
}

}  // namespace seqenc
