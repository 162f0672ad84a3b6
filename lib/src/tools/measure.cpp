#include "seqenc/tools/measure.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

namespace seqenc {

Reach measure_reach(EncoderImpl& encoder, int64_t n, int64_t position, uint64_t seed) {
  encoder.eval();
  auto gen = at::detail::createCPUGenerator(seed);
  const auto dtype = encoder.parameters().front().scalar_type();
  auto X = at::randn({1, n, encoder.options().num_hiddens}, gen).to(dtype).requires_grad_(true);
  auto states = encoder.encode(X, torch::tensor({n}));
  // A random projection: a plain sum of a LayerNorm output is constant, with zero gradient.
  auto direction = at::randn({encoder.options().num_hiddens}, gen).to(dtype);
  (states.select(1, position) * direction).sum().backward();
  auto touched = X.grad().abs().sum(-1).squeeze(0) > 0;  // (n,)
  auto idx = torch::nonzero(touched).flatten();
  Reach r;
  if (idx.numel() == 0) return r;
  r.before = position - idx.min().item<int64_t>();
  r.after = idx.max().item<int64_t>() - position;
  return r;
}

int64_t layers_to_connect(EncoderOptions options, int64_t n, int64_t max_layers) {
  for (int64_t layers = 1; layers <= max_layers; ++layers) {
    options.num_layers = layers;
    options.dropout = 0;
    torch::manual_seed(0);
    auto encoder = make_encoder(options);
    encoder->to(torch::kFloat64);  // a gradient through dozens of layers can underflow float32
    if (measure_reach(*encoder, n, n - 1).before >= n - 1) return layers;
  }
  return -1;
}

double loglog_slope(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 2) throw std::invalid_argument("loglog_slope needs two or more points");
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    mx += std::log(x[i]);
    my += std::log(y[i]);
  }
  mx /= static_cast<double>(x.size());
  my /= static_cast<double>(x.size());
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double dx = std::log(x[i]) - mx;
    sxy += dx * (std::log(y[i]) - my);
    sxx += dx * dx;
  }
  return sxy / sxx;
}

double median(std::vector<double> values) {
  if (values.empty()) throw std::invalid_argument("median of nothing");
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double median_ms(const std::function<void()>& f, int64_t repeats) {
  f();
  std::vector<double> ms;
  for (int64_t r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return median(ms);
}

namespace {
// One variant's rows: reach per layer, the measured hops from position 0 to n - 1 (layers, or recurrent steps of
// one layer for an encoder whose facts say so) and what its cost() reports.
void measure_variant(const std::string& label, const EncoderOptions& options, bool in_steps,
                     const std::vector<int64_t>& ns, std::vector<PathMeasurement>& rows) {
  auto one = options;
  one.num_layers = 1;
  auto single = make_encoder(one);
  single->to(torch::kFloat64);
  for (int64_t n : ns) {
    PathMeasurement m;
    m.variant = label;
    m.n = n;
    const Reach r = measure_reach(*single, n, n - 1);
    m.reach_per_layer = r.before;
    if (in_steps) {
      m.measured = r.before >= n - 1 ? n - 1 : -1;  // one layer connects them through n - 1 sequential steps
    } else {
      m.measured = layers_to_connect(options, n, n);  // layers (hops) until the last output sees the first input
    }
    auto full = options;
    full.num_layers = in_steps ? 1 : std::max<int64_t>(1, m.measured);
    m.reported = make_encoder(full)->cost(n).max_path_length;
    rows.push_back(m);
  }
}
}  // namespace

std::vector<PathMeasurement> measure_path_lengths(const std::vector<int64_t>& ns, int64_t num_hiddens) {
  EncoderOptions base;
  base.vocab_size = 16;
  base.num_hiddens = num_hiddens;
  base.num_heads = 1;
  base.ffn_num_hiddens = num_hiddens;
  base.dropout = 0;
  base.activation = Activation::gelu;  // a nonzero gradient everywhere: reach is decided by structure alone
  base.max_len = *std::max_element(ns.begin(), ns.end());
  std::vector<PathMeasurement> rows;
  for (const auto& name : default_comparison()) {
    const auto facts = encoder_facts(name);
    for (const auto& [label, tweak] : facts.path_variants) {
      auto options = base;
      options.name = name;
      tweak(options);
      measure_variant(label, options, facts.path_in_steps, ns, rows);
    }
  }
  return rows;
}

}  // namespace seqenc
