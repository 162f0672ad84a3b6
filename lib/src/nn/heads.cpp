#include "seqenc/nn/heads.h"

#include "seqenc/nn/linear.h"
#include "seqenc/nn/torchscript.h"
#include "seqenc/strings.h"

namespace seqenc {

std::vector<std::string> head_problems(const HeadOptions& head, bool causal) {
  std::vector<std::string> p;
  if (head.num_classes <= 0) p.push_back("head: num_classes must be > 0");
  if (head.kind == HeadKind::lm && !causal) p.push_back("model.causal: language modelling needs a causal encoder");
  if (head.kind == HeadKind::classify && head.pooling == Pooling::cls && causal) {
    p.push_back("model.pooling: cls needs a non-causal model (a causal <cls> sees nothing)");
  }
  return p;
}

torch::Tensor masked_mean(const torch::Tensor& states, const torch::Tensor& valid_lens) {
  auto lens = valid_lens.to(states.device(), states.scalar_type()).clamp_min(1).unsqueeze(1);
  return zero_padding(states, valid_lens).sum(1) / lens;
}

SequenceModelImpl::SequenceModelImpl(const EncoderOptions& encoder_options, const HeadOptions& head) : head_(head) {
  if (auto problems = head_problems(head, encoder_options.causal); !problems.empty()) {
    throw ModelError(join(problems, "; "));
  }
  encoder = register_module("encoder", make_encoder(encoder_options));
  output = register_module("output", torch::nn::Linear(encoder_options.num_hiddens, head.num_classes));
}

torch::Tensor SequenceModelImpl::features(const torch::Tensor& tokens, const torch::Tensor& valid_lens) {
  if (head_.kind != HeadKind::classify) return encoder->forward(tokens, valid_lens);
  if (head_.pooling == Pooling::cls) {
    auto cls = torch::full({tokens.size(0), 1}, kClsId, tokens.options());
    auto states = encoder->forward(torch::cat({cls, tokens}, 1), valid_lens + 1);
    return states.select(1, 0);
  }
  return masked_mean(encoder->forward(tokens, valid_lens), valid_lens);
}

torch::Tensor SequenceModelImpl::forward(const torch::Tensor& tokens, const torch::Tensor& valid_lens) {
  return linear(output, features(tokens, valid_lens));
}

SequenceModelImpl::Labelled SequenceModelImpl::labelled_logits(const torch::Tensor& tokens,
                                                               const torch::Tensor& valid_lens,
                                                               const torch::Tensor& labels) {
  auto states = features(tokens, valid_lens);
  auto mask = labels.ne(kIgnoreLabel);
  // index_select, not a boolean index: its backward adds rows to their places (index_add_), where the boolean
  // index's is an accumulating index_put_, 2.5 % of a step at n = 512.
  const auto positions = mask.reshape({-1}).nonzero().reshape({-1});
  auto rows = states.reshape({-1, states.size(-1)}).index_select(0, positions);
  return {linear(output, rows), labels.masked_select(mask), mask};
}

int64_t SequenceModelImpl::max_input_len() const {
  const bool cls = head_.kind == HeadKind::classify && head_.pooling == Pooling::cls;
  return encoder->options().max_len - (cls ? 1 : 0);
}

std::string SequenceModelImpl::torchscript_source() const {
  TorchScriptWriter w;
  const bool cls = head_.kind == HeadKind::classify && head_.pooling == Pooling::cls;
  w.line("tokens = tokens.long()");
  w.line("valid_lens = valid_lens.long().to(tokens.device)");
  if (cls) {
    w.line("tokens = torch.cat([torch.full([tokens.size(0), 1], " + std::to_string(kClsId) +
           ", dtype=tokens.dtype, device=tokens.device), tokens], 1)");
    w.line("valid_lens = valid_lens + 1");
  }
  w.line("B = tokens.size(0)");
  w.line("n = tokens.size(1)");
  const auto max_len = std::to_string(encoder->options().max_len);
  w.line("assert n <= " + max_len + ", \"sequence longer than the model's max_len " + max_len + "\"");
  w.line("positions = torch.arange(n, device=tokens.device)");
  w.line("valid = positions.unsqueeze(0) < valid_lens.unsqueeze(1)");
  const double scale = encoder->embedding_scale();
  w.line("X = torch.embedding(" + TorchScriptWriter::attr("encoder.embedding", "weight") + ", tokens)" +
         (scale == 1.0 ? "" : " * " + TorchScriptWriter::real(scale)));
  encoder->emit_torchscript(w, "encoder");
  if (head_.kind == HeadKind::classify) {
    if (cls)
      w.line("X = X[:, 0]");
    else
      w.line("X = X.sum(1) / valid_lens.clamp_min(1).unsqueeze(1).to(X.dtype)");
  }
  w.line("return " + TorchScriptWriter::linear("X", *output, "output"));
  return "def forward(self, tokens: Tensor, valid_lens: Tensor) -> Tensor:\n" + w.str();
}

}  // namespace seqenc
