#include "seqenc/encoder.h"

#include <map>
#include <mutex>
#include <stdexcept>

#include "seqenc/cnn_encoder.h"
#include "seqenc/rnn_encoder.h"
#include "seqenc/transformer_encoder.h"

namespace seqenc {

EncoderImpl::EncoderImpl(EncoderOptions options) : options_(std::move(options)) {
  if (options_.vocab_size <= 0) throw std::invalid_argument("encoder: vocab_size must be > 0");
  if (options_.num_hiddens <= 0) throw std::invalid_argument("encoder: num_hiddens must be > 0");
  if (options_.num_layers <= 0) throw std::invalid_argument("encoder: num_layers must be > 0");
  if (options_.dropout < 0 || options_.dropout >= 1) throw std::invalid_argument("encoder: dropout must be in [0, 1)");
  embedding = register_module("embedding", torch::nn::Embedding(options_.vocab_size, options_.num_hiddens));
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& tokens, const torch::Tensor& valid_lens) {
  return encode(embed(tokens), valid_lens);
}

torch::Tensor EncoderImpl::embed(const torch::Tensor& tokens) { return embedding(tokens); }

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

namespace {
std::map<std::string, EncoderFactory>& registry() {
  static std::map<std::string, EncoderFactory> factories = {
      {"transformer", [](const EncoderOptions& o) { return std::make_shared<TransformerEncoderImpl>(o); }},
      {"cnn", [](const EncoderOptions& o) { return std::make_shared<CnnEncoderImpl>(o); }},
      {"rnn", [](const EncoderOptions& o) { return std::make_shared<RnnEncoderImpl>(o); }},
  };
  return factories;
}
std::mutex registry_mutex;
}  // namespace

std::vector<std::string> encoder_names() {
  std::lock_guard<std::mutex> lock(registry_mutex);
  std::vector<std::string> names;
  for (const auto& [name, factory] : registry()) names.push_back(name);
  return names;
}

void register_encoder(const std::string& name, EncoderFactory factory) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  registry()[name] = std::move(factory);
}

std::shared_ptr<EncoderImpl> make_encoder(const EncoderOptions& options) {
  EncoderFactory factory;
  {
    std::lock_guard<std::mutex> lock(registry_mutex);
    auto it = registry().find(options.name);
    if (it != registry().end()) factory = it->second;
  }
  if (!factory) {
    std::string known;
    for (const auto& name : encoder_names()) known += (known.empty() ? "" : ", ") + name;
    throw std::invalid_argument("unknown encoder '" + options.name + "' (known: " + known + ")");
  }
  return factory(options);
}

}  // namespace seqenc
