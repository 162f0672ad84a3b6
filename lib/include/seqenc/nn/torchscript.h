// Writes a model's forward pass as TorchScript source, module by module: each
// encoder and head emits its own part from the same constants and module
// options that its C++ forward uses. LibTorch's C++ frontend cannot script a
// torch::nn module and its tracer freezes sizes, so seqenc exports this way.
#pragma once
#include <sstream>
#include <string>

namespace torch::nn {
class LinearImpl;
class LayerNormImpl;
}  // namespace torch::nn

namespace seqenc {

// Variables of the frame every emitter may read: tokens (B, n) int64,
// valid_lens (B,) int64, B, n, positions (n,) int64, valid (B, n) bool, and
// X, the (B, n, d) states being computed.
class TorchScriptWriter {
 public:
  void line(const std::string& code) { out_ << "    " << code << "\n"; }
  std::string str() const { return out_.str(); }

  // The scripted module's attribute for a parameter or buffer at a module path:
  // "encoder.block0.ffn.dense1" + "weight" -> "self.encoder_block0_ffn_dense1_weight".
  static std::string attr(const std::string& path, const std::string& name);
  // The attribute a dotted parameter or buffer name becomes: "encoder.block0.ffn" -> "encoder_block0_ffn".
  static std::string attribute_name(const std::string& dotted);
  // Expressions that apply a module the way its C++ forward does.
  static std::string linear(const std::string& x, const torch::nn::LinearImpl& module, const std::string& path);
  static std::string layer_norm(const std::string& x, const torch::nn::LayerNormImpl& module, const std::string& path);
  // A double as TorchScript reads it back exactly.
  static std::string real(double value);

 private:
  std::ostringstream out_;
};

}  // namespace seqenc
