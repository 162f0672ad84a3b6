#include "seqenc/export.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include "seqenc/cnn_encoder.h"
#include "seqenc/rnn_encoder.h"
#include "seqenc/training.h"
#include "seqenc/transformer_encoder.h"

namespace seqenc {

namespace {

// Parameter and buffer names as TorchScript attributes: dots become underscores.
std::string flat(const std::string& name) {
  std::string out = name;
  std::replace(out.begin(), out.end(), '.', '_');
  return out;
}

std::string real(double v) { return fmt::format("{:.17g}", v); }

class Emitter {
 public:
  void line(const std::string& s) { out_ << "    " << s << "\n"; }
  std::string str() const { return out_.str(); }

  // torch.linear with the module's weight and (optional) bias.
  static std::string linear(const std::string& x, const std::string& prefix, bool bias) {
    return "torch.linear(" + x + ", self." + prefix + "_weight, " + (bias ? "self." + prefix + "_bias" : "None") + ")";
  }
  static std::string layer_norm(const std::string& x, const std::string& prefix, int64_t d) {
    return fmt::format("torch.layer_norm({}, [{}], self.{}_weight, self.{}_bias, 1e-05, False)", x, d, prefix, prefix);
  }

 private:
  std::ostringstream out_;
};

void emit_attention(Emitter& e, const MultiHeadAttentionImpl& mha, const std::string& p, const std::string& x,
                    const std::string& lens, const std::string& out) {
  const int64_t h = mha.num_heads(), d = mha.num_hiddens(), dh = d / h;
  const bool bias = mha.W_q->options.bias();
  auto split = [&](const std::string& t) {
    return fmt::format("{}.reshape(B, n, {}, {}).permute(0, 2, 1, 3).reshape(B * {}, n, {})", t, h, dh, h, dh);
  };
  e.line("q = " + split(Emitter::linear(x, p + "_W_q", bias)));
  e.line("k = " + split(Emitter::linear(x, p + "_W_k", bias)));
  e.line("v = " + split(Emitter::linear(x, p + "_W_v", bias)));
  e.line("scores = torch.bmm(q, k.transpose(1, 2))");
  const int64_t m = mha.max_relative_position();
  if (m > 0) {
    e.line(fmt::format("rel = (positions.unsqueeze(0) - positions.unsqueeze(1)).clamp({}, {}) + {}", -m, m, m));
    e.line("rel_k = torch.embedding(self." + p + "_rel_keys_weight, rel)");
    e.line("rel_v = torch.embedding(self." + p + "_rel_values_weight, rel)");
    e.line("scores = scores + torch.bmm(q.transpose(0, 1), rel_k.transpose(1, 2)).transpose(0, 1)");
  }
  e.line(fmt::format("scores = scores / {}", real(std::sqrt(static_cast<double>(dh)))));
  e.line(fmt::format("heads_lens = {}.repeat_interleave({}, 0)", lens, h));
  e.line("if heads_lens.dim() == 1:");
  e.line("    keep = positions.view(1, 1, n) < heads_lens.view(-1, 1, 1)");
  e.line("else:");
  e.line("    keep = positions.view(1, 1, n) < heads_lens.unsqueeze(2)");
  e.line("weights = torch.softmax(scores.masked_fill(keep.logical_not(), -1000000.0), -1)");
  e.line("att = torch.bmm(weights, v)");
  if (m > 0) e.line("att = att + torch.bmm(weights.transpose(0, 1), rel_v).transpose(0, 1)");
  e.line(fmt::format("att = att.reshape(B, {}, n, {}).permute(0, 2, 1, 3).reshape(B, n, {})", h, dh, d));
  e.line(out + " = " + Emitter::linear("att", p + "_W_o", bias));
}

void emit_transformer(Emitter& e, TransformerEncoderImpl& enc) {
  const auto& o = enc.options();
  const int64_t d = o.num_hiddens;
  e.line(fmt::format("X = torch.embedding(self.encoder_embedding_weight, tokens) * {}", real(std::sqrt(double(d)))));
  if (o.pos_encoding == "sinusoidal") e.line("X = X + self.encoder_pos_encoding_P[:, :n, :].to(X.dtype)");
  if (o.pos_encoding == "learned")
    e.line("X = X + torch.embedding(self.encoder_pos_encoding_table_weight, positions).unsqueeze(0)");
  if (o.causal) {
    e.line("lens = torch.minimum(torch.arange(1, n + 1, device=tokens.device).unsqueeze(0), valid_lens.unsqueeze(1))");
  } else {
    e.line("lens = valid_lens");
  }
  for (size_t i = 0; i < enc.blocks.size(); ++i) {
    const std::string p = "encoder_block" + std::to_string(i);
    auto& block = enc.blocks[i];
    if (!o.pre_norm) {
      emit_attention(e, *block->attention, p + "_attention", "X", "lens", "Y");
      e.line("Y = " + Emitter::layer_norm("X + Y", p + "_addnorm1_ln", d));
      e.line("F = " + Emitter::linear("torch.relu(" + Emitter::linear("Y", p + "_ffn_dense1", true) + ")",
                                      p + "_ffn_dense2", true));
      e.line("X = " + Emitter::layer_norm("Y + F", p + "_addnorm2_ln", d));
    } else {
      e.line("H = " + Emitter::layer_norm("X", p + "_addnorm1_ln", d));
      emit_attention(e, *block->attention, p + "_attention", "H", "lens", "A");
      e.line("Y = X + A");
      e.line("H = " + Emitter::layer_norm("Y", p + "_addnorm2_ln", d));
      e.line("X = Y + " + Emitter::linear("torch.relu(" + Emitter::linear("H", p + "_ffn_dense1", true) + ")",
                                          p + "_ffn_dense2", true));
    }
  }
  if (o.pre_norm) e.line("X = " + Emitter::layer_norm("X", "encoder_final_norm", d));
  e.line("X = X * valid.unsqueeze(-1).to(X.dtype)");
}

void emit_cnn(Emitter& e, CnnEncoderImpl& enc) {
  const auto& o = enc.options();
  e.line("X = torch.embedding(self.encoder_embedding_weight, tokens)");
  e.line("mask = valid.unsqueeze(-1).to(X.dtype)");
  for (size_t i = 0; i < enc.convs.size(); ++i) {
    const int64_t dil = enc.dilation(static_cast<int64_t>(i));
    const int64_t span = (o.kernel_size - 1) * dil;
    const std::string p = "encoder_conv" + std::to_string(i);
    if (o.causal) {
      e.line(fmt::format("H = torch.constant_pad_nd((X * mask).transpose(1, 2), [{}, 0], 0.0)", span));
    } else {
      e.line("H = (X * mask).transpose(1, 2)");
    }
    e.line(fmt::format("H = torch.conv1d(H, self.{}_weight, self.{}_bias, [1], [{}], [{}], 1).transpose(1, 2)", p, p,
                       o.causal ? 0 : span / 2, dil));
    e.line(o.activation == "gelu" ? "H = torch.gelu(H)" : "H = torch.relu(H)");
    e.line("X = " + Emitter::layer_norm("X + H", "encoder_norm" + std::to_string(i), o.num_hiddens));
  }
  e.line("X = X * mask");
}

void emit_rnn(Emitter& e, RnnEncoderImpl& enc) {
  const auto& o = enc.options();
  const std::string cell = o.cell;
  const int64_t dirs = o.bidirectional ? 2 : 1;
  std::string params;
  for (int64_t l = 0; l < o.num_layers; ++l) {
    for (const std::string suffix : {"", "_reverse"}) {
      if (suffix == "_reverse" && !o.bidirectional) continue;
      for (const char* w : {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}) {
        params += (params.empty() ? "" : ", ") + fmt::format("self.encoder_{}_{}_l{}{}", cell, w, l, suffix);
      }
    }
  }
  e.line("X = torch.embedding(self.encoder_embedding_weight, tokens)");
  e.line(fmt::format("h0 = torch.zeros([{}, B, {}], dtype=X.dtype, device=X.device)", o.num_layers * dirs,
                     o.num_hiddens));
  const std::string flags = fmt::format("True, {}, 0.0, False, {}", o.num_layers, o.bidirectional ? "True" : "False");
  const std::string hx = cell == "gru" ? "h0" : "[h0, h0]";
  const std::string outputs = cell == "gru" ? "S, _" : "S, _, _";
  if (!o.bidirectional) {
    e.line(outputs + " = torch." + cell + "(X, " + hx + ", [" + params + "], " + flags + ", True)");
    e.line("X = S");
  } else {
    // Pack by length (sorted), as torch::nn::utils::rnn::pack_padded_sequence does.
    e.line("lengths = valid_lens.clamp(1, n)");
    e.line("sorted_lengths, order = torch.sort(lengths, -1, True)");
    e.line("data, batch_sizes = torch._pack_padded_sequence(X.index_select(0, order), sorted_lengths.cpu(), True)");
    e.line(outputs + " = torch." + cell + "(data, batch_sizes, " + hx + ", [" + params + "], " + flags + ")");
    e.line("S, _ = torch._pad_packed_sequence(S, batch_sizes, True, 0.0, n)");
    e.line("restore = torch.empty_like(order).scatter_(0, order, torch.arange(B, device=order.device))");
    e.line("X = " + Emitter::linear("S.index_select(0, restore)", "encoder_projection", true));
  }
  e.line("X = X * valid.unsqueeze(-1).to(X.dtype)");
}

}  // namespace

std::string torchscript_source(SequenceModelImpl& model) {
  Emitter e;
  const auto& head = model.head_options();
  const int64_t max_len = model.encoder->options().max_len;
  e.line("tokens = tokens.long()");
  e.line("valid_lens = valid_lens.long().to(tokens.device)");
  if (head.kind == "classify" && head.pooling == "cls") {
    e.line(fmt::format("tokens = torch.cat([torch.full([tokens.size(0), 1], {}, dtype=tokens.dtype, "
                       "device=tokens.device), tokens], 1)",
                       kClsId));
    e.line("valid_lens = valid_lens + 1");
  }
  e.line("B = tokens.size(0)");
  e.line("n = tokens.size(1)");
  e.line(fmt::format("assert n <= {}, \"sequence longer than the model's max_len {}\"", max_len, max_len));
  e.line("positions = torch.arange(n, device=tokens.device)");
  e.line("valid = positions.unsqueeze(0) < valid_lens.unsqueeze(1)");
  if (auto* t = dynamic_cast<TransformerEncoderImpl*>(model.encoder.get())) emit_transformer(e, *t);
  else if (auto* c = dynamic_cast<CnnEncoderImpl*>(model.encoder.get())) emit_cnn(e, *c);
  else if (auto* r = dynamic_cast<RnnEncoderImpl*>(model.encoder.get())) emit_rnn(e, *r);
  else throw std::invalid_argument("export: encoder '" + model.encoder->options().name + "' has no TorchScript form");
  if (head.kind == "classify") {
    if (head.pooling == "cls") e.line("X = X[:, 0]");
    else e.line("X = X.sum(1) / valid_lens.clamp_min(1).unsqueeze(1).to(X.dtype)");
  }
  e.line("return " + Emitter::linear("X", "output", true));
  return "def forward(self, tokens: Tensor, valid_lens: Tensor) -> Tensor:\n" + e.str();
}

torch::jit::Module script_model(SequenceModelImpl& model, const ExportMetadata& meta) {
  torch::NoGradGuard no_grad;
  model.eval();
  torch::jit::Module module("SeqencModel");
  for (const auto& p : model.named_parameters()) {
    module.register_parameter(flat(p.key()), p.value().detach().clone(), /*is_buffer=*/false);
  }
  for (const auto& b : model.named_buffers()) {
    module.register_buffer(flat(b.key()), b.value().detach().clone());
  }
  auto strings = c10::ListType::create(c10::StringType::get());
  c10::List<std::string> vocab(meta.vocab), labels(meta.labels);
  module.register_attribute("vocab", strings, vocab);
  module.register_attribute("labels", strings, labels);
  module.register_attribute("task", c10::StringType::get(), meta.task);
  module.register_attribute("head", c10::StringType::get(), meta.head);
  module.register_attribute("tokenizer", c10::StringType::get(), meta.tokenizer);
  module.register_attribute("max_len", c10::IntType::get(), meta.max_len);
  module.register_attribute("config", c10::StringType::get(), meta.config_yaml);
  module.define(torchscript_source(model));
  module.eval();
  return module;
}

void save_scripted(torch::jit::Module& module, const ExportMetadata& meta, const std::string& path) {
  nlohmann::json info = {{"format", "seqenc-export-1"}, {"task", meta.task},          {"head", meta.head},
                         {"tokenizer", meta.tokenizer},  {"max_len", meta.max_len}, {"vocab", meta.vocab},
                         {"labels", meta.labels}};
  std::string vocab, labels;
  for (const auto& v : meta.vocab) vocab += v + "\n";
  for (const auto& l : meta.labels) labels += l + "\n";
  torch::jit::ExtraFilesMap extra = {
      {"seqenc.json", info.dump()}, {"config.yaml", meta.config_yaml}, {"vocab.txt", vocab}, {"labels.txt", labels}};
  const std::string tmp = path + ".tmp";
  module.save(tmp, extra);
  std::filesystem::rename(tmp, path);
}

void export_run(const std::string& run_dir, const std::string& out_path, const std::string& checkpoint) {
  auto run = load_run(run_dir, checkpoint);
  ExportMetadata meta;
  meta.task = run.config.data.task;
  meta.head = run.task.head;
  meta.tokenizer = run.config.data.tokenizer;
  meta.max_len = run.model->encoder->options().max_len - (meta.head == "classify" && run.config.pooling == "cls");
  meta.vocab = run.task.vocab.tokens();
  meta.labels = run.task.label_names;
  meta.config_yaml = to_yaml(run.config);
  auto module = script_model(*run.model, meta);
  const auto parent = std::filesystem::path(out_path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  save_scripted(module, meta, out_path);
}

}  // namespace seqenc
