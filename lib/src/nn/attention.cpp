#include "seqenc/nn/attention.h"

#include <cmath>
#include <string>

#include <fmt/format.h>

#include "seqenc/error.h"
#include "seqenc/nn/fused_attention.h"
#include "seqenc/nn/linear.h"
#include "seqenc/nn/sdpa_attention.h"

namespace seqenc {

std::string head_split_problem(int64_t num_hiddens, int64_t num_heads) {
  if (num_heads <= 0) return "model.num_heads: must be > 0";
  if (num_hiddens > 0 && num_hiddens % num_heads != 0) {
    return "model.num_hiddens: " + std::to_string(num_hiddens) + " is not divisible by model.num_heads " +
           std::to_string(num_heads);
  }
  return "";
}

torch::Tensor valid_key_mask(const torch::Tensor& valid_lens, int64_t batch, int64_t num_queries, int64_t num_keys,
                             const torch::Device& device) {
  auto positions = torch::arange(num_keys, torch::dtype(torch::kLong).device(device));
  torch::Tensor lens;
  if (valid_lens.dim() == 1) {
    lens = valid_lens.to(device, torch::kLong).view({batch, 1, 1});
  } else if (valid_lens.dim() == 2) {
    lens = valid_lens.to(device, torch::kLong).view({batch, num_queries, 1});
  } else {
    throw ModelError("valid_lens must be 1-D (batch,) or 2-D (batch, queries), got " +
                     std::to_string(valid_lens.dim()) + "-D");
  }
  return positions.view({1, 1, num_keys}) < lens;  // broadcasts to (B, q, k)
}

namespace {
// masked_softmax on scores nobody else holds: the mask is filled in place, one broadcast (B, q|1, k) mask.
torch::Tensor masked_softmax_(torch::Tensor& X, const torch::Tensor& valid_lens) {
  if (valid_lens.defined()) {
    const auto shape = X.sizes();
    X.masked_fill_(valid_key_mask(valid_lens, shape[0], shape[1], shape[2], X.device()).logical_not(), kMaskedScore);
  }
  return torch::softmax(X, -1);
}
}  // namespace

torch::Tensor masked_softmax(const torch::Tensor& X, const torch::Tensor& valid_lens) {
  auto scores = X.clone();
  return masked_softmax_(scores, valid_lens);
}

torch::Tensor causal_valid_lens(const torch::Tensor& valid_lens, int64_t num_queries) {
  auto steps = torch::arange(1, num_queries + 1, valid_lens.options().dtype(torch::kLong));
  return torch::minimum(steps.unsqueeze(0), valid_lens.to(torch::kLong).unsqueeze(1));
}

DotProductAttentionImpl::DotProductAttentionImpl(double dropout, AttentionKernel kernel)
    : dropout_(register_module("dropout", Dropout(dropout))), kernel_(kernel) {}

AttentionKernel DotProductAttentionImpl::kernel_for(const torch::Tensor& queries, bool relative) const {
  if (kernel_ == AttentionKernel::reference || record_weights_ || relative) return AttentionKernel::reference;
  if (kernel_ == AttentionKernel::sdpa) return sdpa_available() ? AttentionKernel::sdpa : AttentionKernel::reference;
  return fused_attention_supports(queries) ? AttentionKernel::fused : AttentionKernel::reference;
}

torch::Tensor DotProductAttentionImpl::forward(const torch::Tensor& queries, const torch::Tensor& keys,
                                               const torch::Tensor& values, const torch::Tensor& valid_lens,
                                               const torch::Tensor& rel_keys, const torch::Tensor& rel_values) {
  const auto kernel = kernel_for(queries, rel_keys.defined());
  if (kernel != AttentionKernel::reference) {
    attention_weights_ = torch::Tensor();
    const double p = is_training() ? dropout_->p() : 0.0;
    if (kernel == AttentionKernel::sdpa) return sdpa_attention(queries, keys, values, valid_lens, p);
    return fused_attention(queries, keys, values, valid_lens, {p});
  }
  // Scale the (B, q, d) queries rather than the (B, q, k) scores: the same softmax, n/d times less work.
  const auto scaled = queries * (1.0 / std::sqrt(static_cast<double>(queries.size(-1))));
  // Under bf16 autocast (nn/precision.h) bmm returns bf16: the softmax and what follows stay in fp32.
  auto scores = torch::bmm(scaled, keys.transpose(1, 2)).to(queries.scalar_type());
  if (rel_keys.defined()) {
    // q_i . a_ij for every (i, j): (q, B, d) x (q, d, k) -> (q, B, k)
    scores += torch::bmm(scaled.transpose(0, 1), rel_keys.transpose(1, 2)).transpose(0, 1);
  }
  auto weights = masked_softmax_(scores, valid_lens);
  attention_weights_ = weights.detach();
  auto dropped = dropout_(weights);
  auto out = torch::bmm(dropped, values).to(queries.scalar_type());
  if (rel_values.defined()) {
    // sum_j w_ij a_ij: (q, B, k) x (q, k, d) -> (q, B, d)
    out = out + torch::bmm(dropped.transpose(0, 1), rel_values).transpose(0, 1);
  }
  return out;
}

MultiHeadAttentionImpl::MultiHeadAttentionImpl(int64_t num_hiddens, int64_t num_heads, double dropout, bool bias,
                                               int64_t max_relative_position, AttentionKernel kernel)
    : num_hiddens_(num_hiddens), num_heads_(num_heads), max_relative_position_(max_relative_position) {
  if (num_hiddens <= 0) throw ModelError("MultiHeadAttention: num_hiddens must be > 0");
  if (auto problem = head_split_problem(num_hiddens, num_heads); !problem.empty()) {
    throw ModelError("MultiHeadAttention: " + problem);
  }
  if (max_relative_position < 0) throw ModelError("MultiHeadAttention: max_relative_position must be >= 0");
  auto linear = [&](const char* name) {
    return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(num_hiddens, num_hiddens).bias(bias)));
  };
  W_q = linear("W_q");
  W_k = linear("W_k");
  W_v = linear("W_v");
  W_o = linear("W_o");
  if (max_relative_position > 0) {
    const int64_t head = num_hiddens / num_heads;
    rel_keys = register_module("rel_keys", torch::nn::Embedding(2 * max_relative_position + 1, head));
    rel_values = register_module("rel_values", torch::nn::Embedding(2 * max_relative_position + 1, head));
    torch::nn::init::normal_(rel_keys->weight, 0.0, 0.02);
    torch::nn::init::normal_(rel_values->weight, 0.0, 0.02);
  }
  attention_ = register_module("attention", DotProductAttention(dropout, kernel));
}

torch::Tensor MultiHeadAttentionImpl::transpose_qkv(const torch::Tensor& X) const {
  const auto B = X.size(0), n = X.size(1);
  return X.reshape({B, n, num_heads_, -1}).permute({0, 2, 1, 3}).reshape({B * num_heads_, n, -1});
}

torch::Tensor MultiHeadAttentionImpl::transpose_output(const torch::Tensor& X) const {
  const auto n = X.size(1);
  return X.reshape({-1, num_heads_, n, X.size(2)}).permute({0, 2, 1, 3}).reshape({-1, n, num_hiddens_});
}

torch::Tensor MultiHeadAttentionImpl::relative_table(const torch::nn::Embedding& table, int64_t nq, int64_t nk) const {
  auto opts = torch::dtype(torch::kLong).device(table->weight.device());
  auto offsets = torch::arange(nk, opts).unsqueeze(0) - torch::arange(nq, opts).unsqueeze(1);
  auto index = offsets.clamp(-max_relative_position_, max_relative_position_) + max_relative_position_;
  return torch::embedding(table->weight, index);  // (q, k, head)
}

torch::Tensor MultiHeadAttentionImpl::forward(const torch::Tensor& queries, const torch::Tensor& keys,
                                              const torch::Tensor& values, const torch::Tensor& valid_lens) {
  torch::Tensor q, k, v;
  if (queries.is_same(keys) && keys.is_same(values)) {
    // Self-attention: one product for the three projections.
    auto bias = W_q->bias.defined() ? torch::cat({W_q->bias, W_k->bias, W_v->bias}) : torch::Tensor();
    auto qkv = linear(queries, torch::cat({W_q->weight, W_k->weight, W_v->weight}), bias).chunk(3, -1);
    q = transpose_qkv(qkv[0]), k = transpose_qkv(qkv[1]), v = transpose_qkv(qkv[2]);
  } else {
    q = transpose_qkv(linear(W_q, queries)), k = transpose_qkv(linear(W_k, keys)),
    v = transpose_qkv(linear(W_v, values));
  }
  torch::Tensor lens;
  if (valid_lens.defined()) lens = valid_lens.repeat_interleave(num_heads_, 0);
  torch::Tensor rk, rv;
  if (max_relative_position_ > 0) {
    rk = relative_table(rel_keys, q.size(1), k.size(1));
    rv = relative_table(rel_values, q.size(1), k.size(1));
  }
  auto out = attention_(q, k, v, lens, rk, rv);
  return linear(W_o, transpose_output(out));
}

torch::Tensor MultiHeadAttentionImpl::attention_weights() const {
  const auto& w = attention_->attention_weights();
  if (!w.defined()) return w;
  return w.reshape({-1, num_heads_, w.size(1), w.size(2)});
}

void MultiHeadAttentionImpl::emit_torchscript(TorchScriptWriter& w, const std::string& path, const std::string& x,
                                              const std::string& lens, const std::string& out) const {
  const int64_t h = num_heads_, d = num_hiddens_, dh = d / h;
  auto split = [&](const std::string& t) {
    return fmt::format("{}.reshape(B, n, {}, {}).permute(0, 2, 1, 3).reshape(B * {}, n, {})", t, h, dh, h, dh);
  };
  w.line("q = " + split(TorchScriptWriter::linear(x, *W_q, path + ".W_q")));
  w.line("k = " + split(TorchScriptWriter::linear(x, *W_k, path + ".W_k")));
  w.line("v = " + split(TorchScriptWriter::linear(x, *W_v, path + ".W_v")));
  w.line("scores = torch.bmm(q, k.transpose(1, 2))");
  const int64_t m = max_relative_position_;
  if (m > 0) {
    w.line(fmt::format("rel = (positions.unsqueeze(0) - positions.unsqueeze(1)).clamp({}, {}) + {}", -m, m, m));
    w.line("rel_k = torch.embedding(" + TorchScriptWriter::attr(path + ".rel_keys", "weight") + ", rel)");
    w.line("rel_v = torch.embedding(" + TorchScriptWriter::attr(path + ".rel_values", "weight") + ", rel)");
    w.line("scores = scores + torch.bmm(q.transpose(0, 1), rel_k.transpose(1, 2)).transpose(0, 1)");
  }
  w.line("scores = scores / " + TorchScriptWriter::real(std::sqrt(static_cast<double>(dh))));
  w.line(fmt::format("heads_lens = {}.repeat_interleave({}, 0)", lens, h));
  w.line("if heads_lens.dim() == 1:");
  w.line("    keep = positions.view(1, 1, n) < heads_lens.view(-1, 1, 1)");
  w.line("else:");
  w.line("    keep = positions.view(1, 1, n) < heads_lens.unsqueeze(2)");
  w.line("weights = torch.softmax(scores.masked_fill(keep.logical_not(), " + TorchScriptWriter::real(kMaskedScore) +
         "), -1)");
  w.line("att = torch.bmm(weights, v)");
  if (m > 0) w.line("att = att + torch.bmm(weights.transpose(0, 1), rel_v).transpose(0, 1)");
  w.line(fmt::format("att = att.reshape(B, {}, n, {}).permute(0, 2, 1, 3).reshape(B, n, {})", h, dh, d));
  w.line(out + " = " + TorchScriptWriter::linear("att", *W_o, path + ".W_o"));
}

}  // namespace seqenc
