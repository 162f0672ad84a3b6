#include "seqenc/nn/encoder.h"

#include "seqenc/nn/cnn_encoder.h"
#include "seqenc/nn/rnn_encoder.h"
#include "seqenc/nn/transformer_encoder.h"
#include "seqenc/registry.h"
#include "seqenc/strings.h"

namespace seqenc {

namespace {

template <typename Impl>
EncoderSpec builtin() {
  return {[](const EncoderOptions& o) { return std::make_shared<Impl>(o); }, &Impl::problems, Impl::facts()};
}

// The built-in encoders, in the order compare and analyze show them.
Registry<EncoderSpec>& registry() {
  static Registry<EncoderSpec> encoders({
      {"transformer", builtin<TransformerEncoderImpl>()},
      {"cnn", builtin<CnnEncoderImpl>()},
      {"rnn", builtin<RnnEncoderImpl>()},
  });
  return encoders;
}

}  // namespace

std::vector<std::string> encoder_names() { return registry().names(); }

std::vector<std::pair<std::string, EncoderSpec>> encoder_specs() { return registry().entries(); }

EncoderFacts encoder_facts(const std::string& name) {
  const auto spec = registry().find(name);
  return spec ? spec->facts : EncoderFacts{};
}

std::vector<std::string> default_comparison() {
  std::vector<std::string> names;
  for (const auto& [name, spec] : registry().entries()) {
    if (spec.facts.in_default_comparison) names.push_back(name);
  }
  return names;
}

void register_encoder(const std::string& name, EncoderFactory factory, EncoderValidator validator, EncoderFacts facts) {
  registry().add(name, {std::move(factory), std::move(validator), std::move(facts)});
}

namespace {
// What every encoder needs, whatever its kind.
std::vector<std::string> shared_problems(const EncoderOptions& o) {
  std::vector<std::string> p;
  if (o.num_hiddens <= 0) p.push_back("model.num_hiddens: must be > 0");
  if (o.num_layers <= 0) p.push_back("model.num_layers: must be > 0");
  if (!(o.dropout >= 0 && o.dropout < 1)) p.push_back("model.dropout: must be in [0, 1)");
  return p;
}
}  // namespace

std::vector<std::string> encoder_problems(const EncoderOptions& o) {
  auto p = shared_problems(o);
  const auto spec = registry().find(o.name);
  if (spec && spec->validator) {
    for (auto& problem : spec->validator(o)) p.push_back(std::move(problem));
  }
  return p;
}

std::shared_ptr<EncoderImpl> make_encoder(const EncoderOptions& options) {
  const auto spec = registry().find(options.name);
  if (!spec || !spec->factory) {
    throw ModelError("unknown encoder '" + options.name + "' (known: " + join(encoder_names(), ", ") + ")");
  }
  EncoderImpl::require(encoder_problems(options), options);
  return spec->factory(options);
}

void EncoderImpl::require(const std::vector<std::string>& problems, const EncoderOptions& options) {
  if (!problems.empty()) throw ModelError(options.name + " encoder: " + join(problems, "; "));
}

EncoderImpl::EncoderImpl(EncoderOptions options) : options_(std::move(options)) {
  auto problems = shared_problems(options_);
  if (options_.vocab_size <= 0) problems.insert(problems.begin(), "vocab_size: must be > 0");
  require(problems, options_);
  embedding = register_module("embedding", torch::nn::Embedding(options_.vocab_size, options_.num_hiddens));
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& tokens, const torch::Tensor& valid_lens) {
  return encode(embed(tokens), valid_lens);
}

torch::Tensor EncoderImpl::embed(const torch::Tensor& tokens) {
  const double scale = embedding_scale();
  return scale == 1.0 ? embedding(tokens) : embedding(tokens) * scale;
}

void EncoderImpl::emit_torchscript(TorchScriptWriter&, const std::string&) const {
  throw ModelError("export: encoder '" + options_.name +
                   "' has no TorchScript form (it does not override "
                   "EncoderImpl::emit_torchscript)");
}

int64_t EncoderImpl::num_parameters() const {
  int64_t total = 0;
  for (const auto& p : parameters()) total += p.numel();
  return total;
}

torch::Tensor valid_positions(const torch::Tensor& valid_lens, int64_t n) {
  auto positions = torch::arange(n, torch::dtype(torch::kLong).device(valid_lens.device()));
  return positions.unsqueeze(0) < valid_lens.to(torch::kLong).unsqueeze(1);
}

torch::Tensor zero_padding(const torch::Tensor& states, const torch::Tensor& valid_lens) {
  auto mask = valid_positions(valid_lens.to(states.device()), states.size(1)).unsqueeze(-1);
  return states * mask.to(states.dtype());
}

}  // namespace seqenc
