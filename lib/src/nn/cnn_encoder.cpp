#include "seqenc/nn/cnn_encoder.h"

#include <fmt/format.h>

#include "seqenc/nn/torchscript.h"

namespace seqenc {

EncoderFacts CnnEncoderImpl::facts() {
  EncoderFacts f;
  f.exponent_n = "1 (O(knd²))";
  f.exponent_d = "2";
  f.sequential_operations = "O(1)";
  f.max_path_length = "O(n/k)";
  f.in_default_comparison = true;
  for (int64_t k : {3, 5, 7})
    f.path_variants.push_back({"cnn k=" + std::to_string(k), [k](EncoderOptions& o) { o.kernel_size = k; }});
  f.path_variants.push_back({"dilated cnn k=3", [](EncoderOptions& o) { o.dilated = true; }});
  return f;
}

std::vector<std::string> CnnEncoderImpl::problems(const EncoderOptions& o) {
  std::vector<std::string> p;
  if (o.kernel_size < 1 || o.kernel_size % 2 == 0) {
    p.push_back("model.kernel_size: must be odd and positive, got " + std::to_string(o.kernel_size));
  }
  if (o.dilated && o.num_layers > 30) p.push_back("model.num_layers: at most 30 dilated layers");
  return p;
}

CnnEncoderImpl::CnnEncoderImpl(const EncoderOptions& o) : EncoderImpl(o) {
  require(problems(o), o);
  for (int64_t i = 0; i < o.num_layers; ++i) {
    convs.push_back(
        register_module("conv" + std::to_string(i),
                        torch::nn::Conv1d(torch::nn::Conv1dOptions(o.num_hiddens, o.num_hiddens, o.kernel_size)
                                              .dilation(dilation(i))
                                              .padding(padding(i)))));
    norms.push_back(register_module("norm" + std::to_string(i),
                                    torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.num_hiddens}))));
  }
  dropout_ = register_module("dropout", Dropout(o.dropout));
}

int64_t CnnEncoderImpl::dilation(int64_t layer) const { return options_.dilated ? (int64_t{1} << layer) : 1; }

// "Same" padding inside the convolution; a causal one pads the left by hand in encode().
int64_t CnnEncoderImpl::padding(int64_t layer) const {
  return options_.causal ? 0 : (options_.kernel_size - 1) * dilation(layer) / 2;
}

int64_t CnnEncoderImpl::receptive_radius() const {
  const int64_t half = options_.causal ? options_.kernel_size - 1 : (options_.kernel_size - 1) / 2;
  int64_t radius = 0;
  for (int64_t i = 0; i < options_.num_layers; ++i) radius += half * dilation(i);
  return radius;
}

torch::Tensor CnnEncoderImpl::encode(const torch::Tensor& embeddings, const torch::Tensor& valid_lens) {
  const int64_t n = embeddings.size(1);
  auto mask = valid_positions(valid_lens.to(embeddings.device()), n).unsqueeze(-1).to(embeddings.dtype());
  auto X = dropout_(embeddings);
  for (size_t i = 0; i < convs.size(); ++i) {
    // Zero padded positions first, so that padding never leaks into valid ones.
    auto h = (X * mask).transpose(1, 2);  // (B, d, n)
    if (options_.causal) {
      h = torch::constant_pad_nd(h, {(options_.kernel_size - 1) * dilation(static_cast<int64_t>(i)), 0}, 0.0);
    }
    h = convs[i](h).transpose(1, 2);
    h = options_.activation == Activation::gelu ? torch::gelu(h) : torch::relu(h);
    X = norms[i](X + dropout_(h));
  }
  return X * mask;
}

void CnnEncoderImpl::emit_torchscript(TorchScriptWriter& w, const std::string& path) const {
  const auto& o = options_;
  w.line("mask = valid.unsqueeze(-1).to(X.dtype)");
  for (size_t i = 0; i < convs.size(); ++i) {
    const auto layer = static_cast<int64_t>(i);
    const int64_t dil = dilation(layer), span = (o.kernel_size - 1) * dil;
    const std::string conv_path = path + ".conv" + std::to_string(i);
    if (o.causal) {
      w.line(fmt::format("H = torch.constant_pad_nd((X * mask).transpose(1, 2), [{}, 0], 0.0)", span));
    } else {
      w.line("H = (X * mask).transpose(1, 2)");
    }
    w.line(fmt::format("H = torch.conv1d(H, {}, {}, [1], [{}], [{}], 1).transpose(1, 2)",
                       TorchScriptWriter::attr(conv_path, "weight"), TorchScriptWriter::attr(conv_path, "bias"),
                       padding(layer), dil));
    w.line(o.activation == Activation::gelu ? "H = torch.gelu(H)" : "H = torch.relu(H)");
    w.line("X = " + TorchScriptWriter::layer_norm("X + H", *norms[i], path + ".norm" + std::to_string(i)));
  }
  w.line("X = X * mask");
}

EncoderCost CnnEncoderImpl::cost(int64_t n) const {
  const double d = static_cast<double>(options_.num_hiddens);
  EncoderCost c;
  c.flops = 2.0 * static_cast<double>(options_.kernel_size) * static_cast<double>(n) * d * d *
            static_cast<double>(options_.num_layers);
  c.sequential_steps = options_.num_layers;
  const int64_t radius = receptive_radius();
  c.reach_before = std::min(radius, n - 1);
  c.reach_after = options_.causal ? 0 : std::min(radius, n - 1);
  // Layers needed to carry position 0 to position n - 1 (whether or not this stack has them).
  const int64_t half = options_.causal ? options_.kernel_size - 1 : (options_.kernel_size - 1) / 2;
  int64_t layers = 0, covered = 0;
  while (covered < n - 1 && half > 0) {
    covered += half * (options_.dilated ? (int64_t{1} << layers) : 1);
    ++layers;
  }
  c.max_path_length = layers;
  c.connects_all = radius >= n - 1;
  return c;
}

}  // namespace seqenc
