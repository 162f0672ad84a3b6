#include "seqenc/nn/torchscript.h"

#include <algorithm>

#include <fmt/format.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "seqenc/strings.h"

namespace seqenc {

std::string TorchScriptWriter::attribute_name(const std::string& dotted) {
  std::string flat = dotted;
  std::replace(flat.begin(), flat.end(), '.', '_');
  return flat;
}

std::string TorchScriptWriter::attr(const std::string& path, const std::string& name) {
  return "self." + attribute_name(path + "." + name);
}

std::string TorchScriptWriter::linear(const std::string& x, const torch::nn::LinearImpl& module,
                                      const std::string& path) {
  const std::string bias = module.options.bias() ? attr(path, "bias") : "None";
  return "torch.linear(" + x + ", " + attr(path, "weight") + ", " + bias + ")";
}

std::string TorchScriptWriter::layer_norm(const std::string& x, const torch::nn::LayerNormImpl& module,
                                          const std::string& path) {
  const auto& o = module.options;
  std::vector<std::string> shape;
  for (auto s : o.normalized_shape()) shape.push_back(std::to_string(s));
  const std::string weight = o.elementwise_affine() ? attr(path, "weight") : "None";
  const std::string bias = o.elementwise_affine() ? attr(path, "bias") : "None";
  return fmt::format("torch.layer_norm({}, [{}], {}, {}, {}, False)", x, join(shape, ", "), weight, bias,
                     real(o.eps()));
}

std::string TorchScriptWriter::real(double value) {
  auto s = fmt::format("{:.17g}", value);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // 2 -> 2.0: a float in TorchScript
  return s;
}

}  // namespace seqenc
