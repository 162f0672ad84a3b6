#include "seqenc/nn/fused_attention.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <type_traits>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/torch.h>

#include "gemm.h"
#include "row_ops.h"
#include "seqenc/error.h"
#include "seqenc/nn/precision.h"

// Compiled with -fopenmp (lib/CMakeLists.txt): at::parallel_for is header-inline and runs serially without it.
// Inside its OpenMP region the tiles' products (gemm.h) run single-threaded, which is what one tile wants.
// The work on rows of a tile (max, exponentials, dropout, rounding) is in row_ops.h, at the CPU's best SIMD level.

namespace seqenc {

namespace {

using detail::DropoutDraws;
using detail::gemm;
using detail::RowOps;

// ---- bf16 inputs: products read bf16 factors and accumulate in fp32; everything else stays fp32.
using bf16 = c10::BFloat16;

// A tile as a product's factor: itself in fp32 and double, rounded into `buffer` for bf16 products.
template <typename T, typename In>
const In* as_factor(const RowOps<T>& ops, const T* x, int64_t n, std::vector<In>& buffer) {
  if constexpr (std::is_same_v<T, In>) {
    return x;
  } else {
    ops.round_bf16(x, n, reinterpret_cast<uint16_t*>(buffer.data()));
    return buffer.data();
  }
}

// Scratch for as_factor: none when the factors are the tiles themselves.
template <typename T, typename In>
std::vector<In> factor_buffer(size_t size) {
  return std::vector<In>(std::is_same_v<T, In> ? 0 : size);
}

// ---- Dropout mask: SplitMix64, a counter-based generator, over (seed, row, column / 4) (row_ops.h's DropoutDraws),
// so a weight's fate depends on its place alone, never on the tiling.
DropoutDraws dropout_draws(int64_t seed, int64_t num_keys, double p) {
  DropoutDraws d;
  d.seed = static_cast<uint64_t>(seed);
  d.groups_per_row = static_cast<uint64_t>((num_keys + 3) / 4);
  d.threshold = static_cast<uint32_t>(std::min<long>(65536, std::lround(p * 65536.0)));
  // The kept share is exactly (65536 - threshold) / 65536: scaling by its inverse keeps the expectation.
  d.scale = d.threshold < 65536 ? 65536.0 / static_cast<double>(65536 - d.threshold) : 0.0;
  return d;
}

// ---- The problem and its tiling.
struct Problem {
  int64_t batch_heads, num_queries, num_keys, d, dv;
  double scale;
  const int64_t* lens;  // (batch_heads * num_queries): keys kept per row, 0 for a row of valid length 0; null: all
  int64_t q_block, k_block;
  KernelSimd simd;
  DropoutDraws draws;
  bool dropout;

  // Keys a row attends to: its valid length, or all of them for a row of valid length 0 (uniform weights).
  int64_t keys_of(int64_t row) const { return lens == nullptr || lens[row] == 0 ? num_keys : lens[row]; }
  bool uniform(int64_t row) const { return lens != nullptr && lens[row] == 0; }
  int64_t num_q_blocks() const { return (num_queries + q_block - 1) / q_block; }
  // Columns of a tile (keys key0..key0 + cols) that row `row` keeps.
  int64_t kept(int64_t row, int64_t key0, int64_t cols) const {
    return std::clamp<int64_t>(keys_of(row) - key0, 0, cols);
  }
};

// This CPU's L2 cache per core, in bytes (1 MiB where the C library cannot tell).
int64_t l2_cache_bytes() {
  static const int64_t bytes = [] {
    const long reported = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return reported > 0 ? static_cast<int64_t>(reported) : int64_t{1} << 20;
  }();
  return bytes;
}

// Query rows per tile: as many as keep the backward's two score tiles (the weights and their gradient) within half
// of this CPU's L2 cache, at most 256 (larger tiles make the products run faster: each tile of keys and values is
// packed once for more rows), but enough tiles for every thread.
int64_t query_block(int64_t batch_heads, int64_t num_queries, int64_t k_block) {
  int64_t q_block = 256;
  while (q_block > 32 && 2 * q_block * k_block * static_cast<int64_t>(sizeof(float)) > l2_cache_bytes() / 2) {
    q_block /= 2;
  }
  const int64_t threads = at::get_num_threads();
  while (q_block > 32 && batch_heads * ((num_queries + q_block - 1) / q_block) < threads) q_block /= 2;
  return std::min(q_block, num_queries);
}

Problem make_problem(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& lens,
                     KernelSimd simd, int64_t seed, double dropout) {
  Problem p;
  p.batch_heads = q.size(0);
  p.num_queries = q.size(1);
  p.num_keys = k.size(1);
  p.d = q.size(2);
  p.dv = v.size(2);
  p.scale = 1.0 / std::sqrt(static_cast<double>(p.d));
  p.lens = lens.numel() > 0 ? lens.data_ptr<int64_t>() : nullptr;
  p.k_block = std::min<int64_t>(p.num_keys, 512);
  p.q_block = query_block(p.batch_heads, p.num_queries, p.k_block);
  p.simd = simd;
  p.draws = dropout_draws(seed, p.num_keys, dropout);
  p.dropout = dropout > 0;
  return p;
}

// Scores of one tile, scaled; a row of valid length 0 all equal (so its softmax is uniform over all keys, as with
// the book's -1e6). Keys past a row's length are left out by the row operations (weight exactly 0, as the book's
// exp(-1e6 - max) underflows to whenever a kept score exceeds -1e6 + 104).
template <typename T, typename In>
void scores(const Problem& p, const In* Q, const In* K, int64_t row0, int64_t rows, int64_t cols, T* S) {
  gemm(false, true, rows, cols, p.d, static_cast<T>(p.scale), Q, p.d, K, p.d, T(0), S, cols);
  for (int64_t i = 0; i < rows; ++i) {
    if (p.uniform(row0 + i)) std::fill(S + i * cols, S + (i + 1) * cols, T(0));
  }
}

// Keys a block of query rows needs: past the longest row, tiles contribute nothing and are skipped.
int64_t keys_needed(const Problem& p, int64_t row0, int64_t rows) {
  int64_t needed = 0;
  for (int64_t i = 0; i < rows; ++i) needed = std::max(needed, p.keys_of(row0 + i));
  return needed;
}

// One row of a score tile, in place, in one pass after its max: the online softmax's update of the row's running
// max m and sum l (of the weights before dropout), the weights exp(s - m) times the dropout multipliers `keep`, 0
// past the row's kept columns. Returns the factor that rescales the row's accumulated output.
template <typename T>
T online_softmax_row(const RowOps<T>& ops, T* s, int64_t kept, int64_t cols, const T* keep, T& m, T& l) {
  T rescale = 1;
  if (kept > 0) {  // a row's first tile always keeps a key, so m is finite after it
    const T m_new = std::max(m, ops.max(s, kept));
    if (m != -std::numeric_limits<T>::infinity()) rescale = std::exp(m - m_new);  // before it, acc and l are 0
    l = l * rescale + ops.exp(s, kept, m_new, T(1), keep);
    m = m_new;
  }
  std::fill(s + kept, s + cols, T(0));
  return rescale;
}

// The forward's scratch, one per thread: a score tile, dropout multipliers for a row, the output accumulator, and
// each row's running max and sum.
template <typename T, typename In>
struct ForwardScratch {
  explicit ForwardScratch(const Problem& p)
      : S(static_cast<size_t>(p.q_block * p.k_block)),
        keep(p.dropout ? static_cast<size_t>(p.k_block) : 0),
        acc(static_cast<size_t>(p.q_block * p.dv)),
        m(static_cast<size_t>(p.q_block)),
        l(m.size()),
        S_in(factor_buffer<T, In>(S.size())) {}
  std::vector<T> S, keep, acc, m, l;
  std::vector<In> S_in;
};

// One key tile of a query block: scores, the online softmax row by row, then acc += weights V.
template <typename T, typename In>
void forward_tile(const Problem& p, const RowOps<T>& ops, const In* Q, const In* K, const In* V, int64_t row0,
                  int64_t rows, int64_t key0, int64_t cols, ForwardScratch<T, In>& w) {
  scores(p, Q, K, row0, rows, cols, w.S.data());
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t kept = p.kept(row0 + i, key0, cols);
    if (p.dropout) ops.dropout(p.draws, row0 + i, key0, kept, w.keep.data());
    const T rescale =
        online_softmax_row(ops, w.S.data() + i * cols, kept, cols, p.dropout ? w.keep.data() : nullptr, w.m[i], w.l[i]);
    if (rescale != T(1)) ops.scale(w.acc.data() + i * p.dv, p.dv, rescale);
  }
  gemm(false, false, rows, p.dv, cols, T(1), as_factor(ops, w.S.data(), rows * cols, w.S_in), cols, V, p.dv, T(1),
       w.acc.data(), p.dv);
}

// stats holds each row's softmax statistics, max m and 1 / sum l: the log-sum-exp m + log l kept in two parts,
// because stored as one float it would round log l to the spacing of floats near m when scores are large.
template <typename T, typename In>
void forward_kernel(const Problem& p, const In* q, const In* k, const In* v, T* out, T* stats) {
  const auto& ops = detail::row_ops(p.simd, T{});
  at::parallel_for(0, p.batch_heads * p.num_q_blocks(), 1, [&](int64_t begin, int64_t end) {
    ForwardScratch<T, In> w(p);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t bh = task / p.num_q_blocks(), q0 = (task % p.num_q_blocks()) * p.q_block;
      const int64_t rows = std::min(p.q_block, p.num_queries - q0), row0 = bh * p.num_queries + q0;
      std::fill(w.m.begin(), w.m.end(), -std::numeric_limits<T>::infinity());
      std::fill(w.l.begin(), w.l.end(), T(0));
      std::fill(w.acc.begin(), w.acc.end(), T(0));
      const int64_t key_end = keys_needed(p, row0, rows);
      for (int64_t key0 = 0; key0 < key_end; key0 += p.k_block) {
        const int64_t at = bh * p.num_keys + key0;
        forward_tile(p, ops, q + row0 * p.d, k + at * p.d, v + at * p.dv, row0, rows, key0,
                     std::min(p.k_block, key_end - key0), w);
      }
      for (int64_t i = 0; i < rows; ++i) {
        T* o = out + (row0 + i) * p.dv;
        const T* a = w.acc.data() + i * p.dv;
        const T inv_sum = T(1) / w.l[i];
        for (int64_t c = 0; c < p.dv; ++c) o[c] = a[c] * inv_sum;
        stats[2 * (row0 + i)] = w.m[i];
        stats[2 * (row0 + i) + 1] = inv_sum;
      }
    }
  });
}

// D_i = dO_i . O_i = sum_j P_ij dP_ij, for each row of a query block.
template <typename T>
void row_dots(const T* out, const T* dout, int64_t rows, int64_t dv, T* D) {
  for (int64_t i = 0; i < rows; ++i) {
    const T *o = out + i * dv, *g = dout + i * dv;
    T sum = 0;
    for (int64_t c = 0; c < dv; ++c) sum += o[c] * g[c];
    D[i] = sum;
  }
}

// The backward's scratch, one per thread: the weights P (then dS in their place), dP, the dropped weights and the
// dropout multipliers of a tile, each row's D, and bf16 copies of the products' factors.
template <typename T, typename In>
struct BackwardScratch {
  explicit BackwardScratch(const Problem& p)
      : P(tile(p)),
        dP(tile(p)),
        dropped(p.dropout ? tile(p) : 0),
        keep(p.dropout ? tile(p) : 0),
        D(static_cast<size_t>(p.q_block)),
        weights_in(factor_buffer<T, In>(tile(p))),
        dS_in(factor_buffer<T, In>(tile(p))) {}
  static size_t tile(const Problem& p) { return static_cast<size_t>(p.q_block * p.k_block); }
  std::vector<T> P, dP, dropped, keep, D;
  std::vector<In> weights_in, dS_in;
};

// A tile's weights recomputed from the saved statistics, P = exp(s - m) / l, and with dropout the dropped weights
// and the multipliers, all 0 past each row's kept columns.
template <typename T, typename In>
void recompute_weights(const Problem& p, const RowOps<T>& ops, const T* stats, int64_t row0, int64_t rows, int64_t key0,
                       int64_t cols, BackwardScratch<T, In>& w) {
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t row = row0 + i, kept = p.kept(row, key0, cols);
    T* s = w.P.data() + i * cols;
    ops.exp(s, kept, stats[2 * row], stats[2 * row + 1], nullptr);
    std::fill(s + kept, s + cols, T(0));
    if (!p.dropout) continue;
    T *keep = w.keep.data() + i * cols, *dropped = w.dropped.data() + i * cols;
    ops.dropout(p.draws, row, key0, kept, keep);
    ops.mul(s, keep, kept, dropped);
    std::fill(keep + kept, keep + cols, T(0));
    std::fill(dropped + kept, dropped + cols, T(0));
  }
}

// dS = P (dP keep - D) in place of P; zero for a uniform row (its weights do not depend on the scores).
template <typename T, typename In>
void softmax_backward(const Problem& p, const RowOps<T>& ops, int64_t row0, int64_t rows, int64_t key0, int64_t cols,
                      BackwardScratch<T, In>& w) {
  for (int64_t i = 0; i < rows; ++i) {
    T* s = w.P.data() + i * cols;
    const int64_t kept = p.uniform(row0 + i) ? 0 : p.kept(row0 + i, key0, cols);
    ops.softmax_grad(s, w.dP.data() + i * cols, p.dropout ? w.keep.data() + i * cols : nullptr, w.D[i], kept);
    std::fill(s + kept, s + cols, T(0));
  }
}

// The factors a query block's tiles share: its queries, dO (as the products' factor) and dO, and where dQ goes.
template <typename T, typename In>
struct QueryBlock {
  const In *Q, *dO_in;
  const T* dO;
  T* dQ;
  int64_t row0, rows;
};

// One key tile of a query block: dV += P~^T dO, dP = dO V^T, dS, dQ += scale dS K, dK += scale dS^T Q.
template <typename T, typename In>
void backward_tile(const Problem& p, const RowOps<T>& ops, const T* stats, const QueryBlock<T, In>& b, const In* K,
                   const In* V, T* dK, T* dV, int64_t key0, int64_t cols, BackwardScratch<T, In>& w) {
  const int64_t rows = b.rows;
  scores(p, b.Q, K, b.row0, rows, cols, w.P.data());
  recompute_weights(p, ops, stats, b.row0, rows, key0, cols, w);
  const T* used = p.dropout ? w.dropped.data() : w.P.data();  // the weights that multiplied V
  gemm(true, false, cols, p.dv, rows, T(1), as_factor(ops, used, rows * cols, w.weights_in), cols, b.dO_in, p.dv, T(1),
       dV, p.dv);
  gemm(false, true, rows, cols, p.dv, T(1), b.dO_in, p.dv, V, p.dv, T(0), w.dP.data(), cols);
  softmax_backward(p, ops, b.row0, rows, key0, cols, w);
  const auto scale = static_cast<T>(p.scale);
  const In* dS = as_factor(ops, w.P.data(), rows * cols, w.dS_in);
  gemm(false, false, rows, p.d, cols, scale, dS, cols, K, p.d, T(1), b.dQ, p.d);
  gemm(true, false, cols, p.d, rows, scale, dS, cols, b.Q, p.d, T(1), dK, p.d);
}

// The gradients are allocated uninitialised: a query block's dQ rows are zeroed before its first key tile, and a
// head's dK and dV rows as the tiles first reach them (here, in cache, rather than in a pass of their own).
// Zeroes rows [*zeroed, end) of one head's dK and dV.
template <typename T>
void zero_key_rows(const Problem& p, T* dK, T* dV, int64_t& zeroed, int64_t end) {
  if (end <= zeroed) return;
  std::fill(dK + zeroed * p.d, dK + end * p.d, T(0));
  std::fill(dV + zeroed * p.dv, dV + end * p.dv, T(0));
  zeroed = end;
}

// One head at a time, so that each thread owns its head's dK and dV (no atomics), as PyTorch's kernel does.
// dout_in: dout as the products' factor (dout itself unless they run in bf16).
template <typename T, typename In>
void backward_kernel(const Problem& p, const In* q, const In* k, const In* v, const T* out, const T* stats,
                     const T* dout, const In* dout_in, T* dq, T* dk, T* dv) {
  const auto& ops = detail::row_ops(p.simd, T{});
  at::parallel_for(0, p.batch_heads, 1, [&](int64_t begin, int64_t end) {
    BackwardScratch<T, In> w(p);
    for (int64_t bh = begin; bh < end; ++bh) {
      T *dK = dk + bh * p.num_keys * p.d, *dV = dv + bh * p.num_keys * p.dv;
      int64_t zeroed = 0;
      for (int64_t q0 = 0; q0 < p.num_queries; q0 += p.q_block) {
        const int64_t rows = std::min(p.q_block, p.num_queries - q0), row0 = bh * p.num_queries + q0;
        const QueryBlock<T, In> b{
            q + row0 * p.d, dout_in + row0 * p.dv, dout + row0 * p.dv, dq + row0 * p.d, row0, rows};
        std::fill(b.dQ, b.dQ + rows * p.d, T(0));
        row_dots(out + row0 * p.dv, b.dO, rows, p.dv, w.D.data());
        const int64_t key_end = keys_needed(p, row0, rows);
        zero_key_rows(p, dK, dV, zeroed, key_end);
        for (int64_t key0 = 0; key0 < key_end; key0 += p.k_block) {
          const int64_t at = bh * p.num_keys + key0;
          backward_tile(p, ops, stats, b, k + at * p.d, v + at * p.dv, dK + key0 * p.d, dV + key0 * p.dv, key0,
                        std::min(p.k_block, key_end - key0), w);
        }
      }
      zero_key_rows(p, dK, dV, zeroed, p.num_keys);
    }
  });
}
// valid_lens as the kernel reads them: (BH, q) counts of kept keys, 0 for a row of valid length 0; empty for no
// mask (every row keeps every key).
torch::Tensor keys_per_row(const torch::Tensor& valid_lens, int64_t batch_heads, int64_t num_queries,
                           int64_t num_keys) {
  if (!valid_lens.defined()) return torch::empty({0}, torch::kLong);
  auto lens = valid_lens.to(torch::kCPU, torch::kLong);
  if (lens.dim() == 1) lens = lens.unsqueeze(1).expand({batch_heads, num_queries});
  if (lens.dim() != 2 || lens.size(0) != batch_heads || lens.size(1) != num_queries) {
    throw ModelError("valid_lens must be 1-D (batch,) or 2-D (batch, queries)");
  }
  return lens.clamp(0, num_keys).contiguous();
}

int64_t draw_seed() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return static_cast<int64_t>(generator.get<at::CPUGeneratorImpl>()->random64() >> 1);
}

class FusedAttentionFunction : public torch::autograd::Function<FusedAttentionFunction> {
 public:
  // Products in bf16 when the inputs are bf16, or when `bf16` asks for it with float inputs; the output and the
  // softmax statistics are fp32 either way (a bf16 copy of the output is returned for bf16 inputs).
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& lens, double dropout, int64_t seed,
                               bool bf16_products, int64_t simd) {
    const auto problem = make_problem(q, k, v, lens, static_cast<KernelSimd>(simd), seed, dropout);
    const auto options = q.options().dtype(q.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat);
    auto out = torch::empty({problem.batch_heads, problem.num_queries, problem.dv}, options);
    auto stats = torch::empty({problem.batch_heads, problem.num_queries, 2}, options);
    torch::Tensor qi = q, ki = k, vi = v;
    if (q.scalar_type() == torch::kBFloat16 || (bf16_products && q.scalar_type() == torch::kFloat)) {
      qi = q.to(torch::kBFloat16), ki = k.to(torch::kBFloat16), vi = v.to(torch::kBFloat16);
      forward_kernel<float, bf16>(problem, qi.data_ptr<bf16>(), ki.data_ptr<bf16>(), vi.data_ptr<bf16>(),
                                  out.data_ptr<float>(), stats.data_ptr<float>());
    } else {
      AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "fused_attention_forward", [&] {
        forward_kernel<scalar_t, scalar_t>(problem, q.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(),
                                           v.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(),
                                           stats.data_ptr<scalar_t>());
      });
    }
    ctx->save_for_backward({qi, ki, vi, out, stats, lens});
    ctx->saved_data["dropout"] = dropout;
    ctx->saved_data["seed"] = seed;
    ctx->saved_data["simd"] = simd;
    return out.to(q.scalar_type());
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    TORCH_CHECK(!torch::GradMode::is_enabled(), "fused attention has no double backward");
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &out = saved[3], &stats = saved[4], &lens = saved[5];
    const auto problem = make_problem(q, k, v, lens, static_cast<KernelSimd>(ctx->saved_data["simd"].toInt()),
                                      ctx->saved_data["seed"].toInt(), ctx->saved_data["dropout"].toDouble());
    auto dout = grads[0].to(out.scalar_type()).contiguous();
    auto dq = torch::empty(q.sizes(), out.options()), dk = torch::empty(k.sizes(), out.options()),
         dv = torch::empty(v.sizes(), out.options());  // every element written by backward_kernel
    if (q.scalar_type() == torch::kBFloat16) {
      const auto dout_in = dout.to(torch::kBFloat16);
      backward_kernel<float, bf16>(problem, q.data_ptr<bf16>(), k.data_ptr<bf16>(), v.data_ptr<bf16>(),
                                   out.data_ptr<float>(), stats.data_ptr<float>(), dout.data_ptr<float>(),
                                   dout_in.data_ptr<bf16>(), dq.data_ptr<float>(), dk.data_ptr<float>(),
                                   dv.data_ptr<float>());
    } else {
      AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "fused_attention_backward", [&] {
        backward_kernel<scalar_t, scalar_t>(
            problem, q.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(),
            stats.data_ptr<scalar_t>(), dout.data_ptr<scalar_t>(), dout.data_ptr<scalar_t>(), dq.data_ptr<scalar_t>(),
            dk.data_ptr<scalar_t>(), dv.data_ptr<scalar_t>());
      });
    }
    return {dq, dk, dv, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

std::vector<KernelSimd> fused_attention_simd_levels() { return detail::simd_levels(); }

KernelSimd fused_attention_best_simd() { return detail::resolve_simd(KernelSimd::best); }

bool fused_attention_supports(const torch::Tensor& queries) {
  const auto type = queries.scalar_type();
  return queries.is_cpu() && (type == torch::kFloat || type == torch::kDouble || type == torch::kBFloat16);
}

torch::Tensor fused_attention(const torch::Tensor& queries, const torch::Tensor& keys, const torch::Tensor& values,
                              const torch::Tensor& valid_lens, const FusedAttentionOptions& options) {
  if (!fused_attention_supports(queries))
    throw ModelError("fused attention runs on CPU float, double or bfloat16 tensors");
  const bool shapes_agree = queries.dim() == 3 && keys.dim() == 3 && values.dim() == 3 &&
                            keys.size(0) == queries.size(0) && values.size(0) == queries.size(0) &&
                            keys.size(2) == queries.size(2) && values.size(1) == keys.size(1);
  if (!shapes_agree) {
    throw ModelError("fused attention needs queries (BH, q, d), keys (BH, k, d) and values (BH, k, dv)");
  }
  if (keys.device() != queries.device() || values.device() != queries.device() ||
      keys.scalar_type() != queries.scalar_type() || values.scalar_type() != queries.scalar_type()) {
    throw ModelError("fused attention needs queries, keys and values of one dtype on one device");
  }
  if (keys.size(1) == 0) return torch::zeros({queries.size(0), queries.size(1), values.size(2)}, queries.options());
  if (!(options.dropout >= 0 && options.dropout < 1)) throw ModelError("fused attention: dropout must be in [0, 1)");
  const auto simd = detail::resolve_simd(options.simd);
  const int64_t seed = options.dropout > 0 ? (options.seed >= 0 ? options.seed : draw_seed()) : 0;
  auto lens = keys_per_row(valid_lens, queries.size(0), queries.size(1), keys.size(1));
  return FusedAttentionFunction::apply(queries.contiguous(), keys.contiguous(), values.contiguous(), lens,
                                       options.dropout, seed, bf16_products(), static_cast<int64_t>(simd));
}

torch::Tensor fused_attention_dropout_mask(int64_t seed, int64_t batch_heads, int64_t num_queries, int64_t num_keys,
                                           double dropout) {
  auto m = torch::ones({batch_heads, num_queries, num_keys}, torch::kDouble);
  if (!(dropout > 0)) return m;
  const auto draws = dropout_draws(seed, num_keys, dropout);
  const auto fill = detail::scalar_row_ops(double{}).dropout;
  auto* data = m.data_ptr<double>();
  for (int64_t row = 0; row < batch_heads * num_queries; ++row) fill(draws, row, 0, num_keys, data + row * num_keys);
  return m;
}

}  // namespace seqenc
