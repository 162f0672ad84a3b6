#include "seqenc/nn/fused_attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
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
#include "seqenc/error.h"
#include "seqenc/nn/precision.h"

// Compiled with -fopenmp (lib/CMakeLists.txt): at::parallel_for is header-inline and runs serially without it.
// Inside its OpenMP region the tiles' products (gemm.h) run single-threaded, which is what one tile wants.

namespace seqenc {

namespace {

using detail::gemm;

// ---- x[j] = exp(x[j] - shift) over a row; returns the row's sum. exp(-inf) is exactly 0.
__attribute__((target("avx2,fma"))) inline __m256 exp8(__m256 x) {
  // Cephes' expf: exp(x) = 2^n exp(r), r = x - n ln 2, a degree-6 polynomial for exp(r).
  const __m256 underflow = _mm256_set1_ps(-87.3365447f);  // below: less than FLT_MIN, flushed to 0
  const __m256 zero_where = _mm256_cmp_ps(x, underflow, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, underflow), _mm256_set1_ps(88.3762626647949f));
  __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(exponent));
  return _mm256_andnot_ps(zero_where, y);
}

__attribute__((target("avx2,fma"))) float exp_sum_avx2(float* x, int64_t n, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), s));
    _mm256_storeu_ps(x + j, e);
    acc = _mm256_add_ps(acc, e);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  float sum = 0;
  for (float lane : lanes) sum += lane;
  for (; j < n; ++j) sum += (x[j] = std::exp(x[j] - shift));
  return sum;
}

bool has_avx2() {
  static const bool yes = (__builtin_cpu_init(), __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"));
  return yes;
}

// The level KernelSimd::best means: AVX2 where the CPU has it (this kernel has no AVX-512 code).
bool use_avx2(KernelSimd level) { return has_avx2() && level != KernelSimd::scalar; }

float exp_sum(float* x, int64_t n, float shift, KernelSimd level) {
  if (use_avx2(level)) return exp_sum_avx2(x, n, shift);
  float sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += (x[j] = std::exp(x[j] - shift));
  return sum;
}

double exp_sum(double* x, int64_t n, double shift, KernelSimd) {
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += (x[j] = std::exp(x[j] - shift));
  return sum;
}

template <typename T>
T row_max(const T* x, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; ++j) m = std::max(m, x[j]);
  return m;
}

// ---- bf16 inputs: products read bf16 factors and accumulate in fp32; everything else stays fp32.
using bf16 = c10::BFloat16;

// Round to nearest even (a NaN stays a NaN), as c10::BFloat16 does, in a loop the compiler vectorises.
void round_to_bf16(const float* x, int64_t n, bf16* y) {
  auto* out = reinterpret_cast<uint16_t*>(y);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, sizeof u);
    const auto rounded = static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    out[i] = (u & 0x7FFFFFFFu) > 0x7F800000u ? uint16_t{0x7FC0} : rounded;
  }
}

// A tile as a product's factor: itself in fp32 and double, rounded into `buffer` for bf16 products.
template <typename T, typename In>
const In* as_factor(const T* x, int64_t n, std::vector<In>& buffer) {
  if constexpr (std::is_same_v<T, In>) {
    return x;
  } else {
    round_to_bf16(x, n, buffer.data());
    return buffer.data();
  }
}

// Scratch for as_factor: none when the factors are the tiles themselves.
template <typename T, typename In>
std::vector<In> factor_buffer(size_t size) {
  return std::vector<In>(std::is_same_v<T, In> ? 0 : size);
}

// ---- Dropout mask: SplitMix64, a counter-based generator, over (seed, row, column / 4); each 64-bit draw gives
// four 16-bit lanes (columns 4c..4c+3), so a weight's fate depends on its place alone, never on the tiling.
class DropoutMask {
 public:
  DropoutMask(int64_t seed, int64_t num_keys, double p)
      : seed_(static_cast<uint64_t>(seed)),
        groups_per_row_((num_keys + 3) / 4),
        threshold_(static_cast<uint32_t>(std::min<long>(65536, std::lround(p * 65536.0)))),
        // The kept share is exactly (65536 - threshold) / 65536: scaling by its inverse keeps the expectation.
        scale_(threshold_ < 65536 ? 65536.0 / static_cast<double>(65536 - threshold_) : 0.0),
        active_(p > 0) {}
  bool active() const { return active_; }

  // m[c] = 0 or 1 / (1 - p) for keys [key0, key0 + count) of global row `row`.
  template <typename T>
  void fill(T* m, int64_t row, int64_t key0, int64_t count) const {
    const auto scale = static_cast<T>(scale_);
    const uint64_t base = static_cast<uint64_t>(row) * static_cast<uint64_t>(groups_per_row_);
    for (int64_t c = 0; c < count;) {
      const int64_t key = key0 + c;
      uint64_t bits = draw(base + static_cast<uint64_t>(key / 4)) >> (16 * (key % 4));
      for (int64_t lane = key % 4; lane < 4 && c < count; ++lane, ++c, bits >>= 16) {
        m[c] = (bits & 0xFFFF) >= threshold_ ? scale : T(0);
      }
    }
  }

 private:
  uint64_t draw(uint64_t counter) const {
    uint64_t z = seed_ + (counter + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t seed_;
  int64_t groups_per_row_;
  uint32_t threshold_;
  double scale_;
  bool active_;
};

// ---- The problem and its tiling.
struct Problem {
  int64_t batch_heads, num_queries, num_keys, d, dv;
  double scale;
  const int64_t* lens;  // (batch_heads * num_queries): keys kept per row; 0 marks a row of valid length 0
  int64_t q_block, k_block;
  KernelSimd simd;

  // Keys a row attends to: its valid length, or all of them for a row of valid length 0 (uniform weights).
  int64_t keys_of(int64_t row) const { return lens[row] == 0 ? num_keys : lens[row]; }
  bool uniform(int64_t row) const { return lens[row] == 0; }
  int64_t num_q_blocks() const { return (num_queries + q_block - 1) / q_block; }
};

Problem make_problem(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& lens,
                     KernelSimd simd) {
  Problem p;
  p.simd = simd;
  p.batch_heads = q.size(0);
  p.num_queries = q.size(1);
  p.num_keys = k.size(1);
  p.d = q.size(2);
  p.dv = v.size(2);
  p.scale = 1.0 / std::sqrt(static_cast<double>(p.d));
  p.lens = lens.data_ptr<int64_t>();
  // PyTorch 2.x's CPU flash kernel: key blocks of 512, query blocks of 32 / 64 / 256 by length.
  p.k_block = std::min<int64_t>(p.num_keys, 512);
  p.q_block = p.num_queries < 192 ? 32 : p.num_queries < 768 ? 64 : 256;
  return p;
}

// Scores of one tile, scaled and masked the book's way: keys past a row's length excluded (-inf here: their
// weight is exactly 0, as the book's exp(-1e6 - max) underflows to whenever a kept score exceeds -1e6 + 104),
// a row of valid length 0 all equal (so its softmax is uniform over all keys, as with the book's -1e6).
template <typename T, typename In>
void masked_scores(const Problem& p, const In* Q, const In* K, int64_t row0, int64_t rows, int64_t key0, int64_t cols,
                   T* S) {
  gemm(false, true, rows, cols, p.d, static_cast<T>(p.scale), Q, p.d, K, p.d, T(0), S, cols);
  for (int64_t i = 0; i < rows; ++i) {
    T* s = S + i * cols;
    if (p.uniform(row0 + i)) {
      std::fill(s, s + cols, T(0));
      continue;
    }
    const int64_t kept = std::clamp<int64_t>(p.keys_of(row0 + i) - key0, 0, cols);
    std::fill(s + kept, s + cols, -std::numeric_limits<T>::infinity());
  }
}

// Keys a block of query rows needs: past the longest row, tiles contribute nothing and are skipped.
int64_t keys_needed(const Problem& p, int64_t row0, int64_t rows) {
  int64_t needed = 0;
  for (int64_t i = 0; i < rows; ++i) needed = std::max(needed, p.keys_of(row0 + i));
  return needed;
}

// stats holds each row's softmax statistics, max m and 1 / sum l: the log-sum-exp m + log l kept in two parts,
// because stored as one float it would round log l to the spacing of floats near m when scores are large.
template <typename T, typename In>
void forward_kernel(const Problem& p, const DropoutMask& mask, const In* q, const In* k, const In* v, T* out,
                    T* stats) {
  at::parallel_for(0, p.batch_heads * p.num_q_blocks(), 1, [&](int64_t begin, int64_t end) {
    std::vector<T> S(static_cast<size_t>(p.q_block * p.k_block)), M(mask.active() ? S.size() : 0);
    std::vector<T> acc(static_cast<size_t>(p.q_block * p.dv)), m(static_cast<size_t>(p.q_block)), l(m.size());
    auto S_in = factor_buffer<T, In>(S.size());
    for (int64_t task = begin; task < end; ++task) {
      const int64_t bh = task / p.num_q_blocks(), q0 = (task % p.num_q_blocks()) * p.q_block;
      const int64_t rows = std::min(p.q_block, p.num_queries - q0), row0 = bh * p.num_queries + q0;
      const In* Q = q + row0 * p.d;
      std::fill(m.begin(), m.end(), -std::numeric_limits<T>::infinity());
      std::fill(l.begin(), l.end(), T(0));
      std::fill(acc.begin(), acc.end(), T(0));
      const int64_t key_end = keys_needed(p, row0, rows);
      for (int64_t key0 = 0; key0 < key_end; key0 += p.k_block) {
        const int64_t cols = std::min(p.k_block, key_end - key0);
        const In* K = k + (bh * p.num_keys + key0) * p.d;
        const In* V = v + (bh * p.num_keys + key0) * p.dv;
        masked_scores(p, Q, K, row0, rows, key0, cols, S.data());
        for (int64_t i = 0; i < rows; ++i) {
          T* s = S.data() + i * cols;
          const T m_new = std::max(m[i], row_max(s, cols));
          const T rescale = std::exp(m[i] - m_new);
          l[i] = l[i] * rescale + exp_sum(s, cols, m_new, p.simd);  // the softmax's statistics: weights before dropout
          m[i] = m_new;
          T* a = acc.data() + i * p.dv;
          for (int64_t c = 0; c < p.dv; ++c) a[c] *= rescale;
          if (mask.active()) {
            mask.fill(M.data(), row0 + i, key0, cols);
            for (int64_t j = 0; j < cols; ++j) s[j] *= M[j];
          }
        }
        gemm(false, false, rows, p.dv, cols, T(1), as_factor(S.data(), rows * cols, S_in), cols, V, p.dv, T(1),
             acc.data(), p.dv);
      }
      for (int64_t i = 0; i < rows; ++i) {
        T* o = out + (row0 + i) * p.dv;
        const T* a = acc.data() + i * p.dv;
        for (int64_t c = 0; c < p.dv; ++c) o[c] = a[c] / l[i];
        stats[2 * (row0 + i)] = m[i];
        stats[2 * (row0 + i) + 1] = T(1) / l[i];
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

// dS = P (dP - D) in place of P, dP masked by the dropout mask M where there is one; zero for a uniform row.
template <typename T>
void softmax_backward(const Problem& p, const T* M, int64_t row0, int64_t rows, int64_t cols, const T* D, const T* dP,
                      T* P) {
  for (int64_t i = 0; i < rows; ++i) {
    T* s = P + i * cols;
    const T* g = dP + i * cols;
    if (p.uniform(row0 + i)) {
      std::fill(s, s + cols, T(0));
      continue;
    }
    if (M) {
      const T* mi = M + i * cols;
      for (int64_t j = 0; j < cols; ++j) s[j] *= g[j] * mi[j] - D[i];
    } else {
      for (int64_t j = 0; j < cols; ++j) s[j] *= g[j] - D[i];
    }
  }
}

// One head at a time, so that each thread owns its head's dK and dV (no atomics), as PyTorch's kernel does.
// dout_in: dout as the products' factor (dout itself unless they run in bf16).
template <typename T, typename In>
void backward_kernel(const Problem& p, const DropoutMask& mask, const In* q, const In* k, const In* v, const T* out,
                     const T* stats, const T* dout, const In* dout_in, T* dq, T* dk, T* dv) {
  at::parallel_for(0, p.batch_heads, 1, [&](int64_t begin, int64_t end) {
    const size_t tile = static_cast<size_t>(p.q_block * p.k_block);
    std::vector<T> P(tile), dP(tile), dropped(mask.active() ? tile : 0), M(mask.active() ? tile : 0);
    std::vector<T> D(static_cast<size_t>(p.q_block));
    auto weights_in = factor_buffer<T, In>(tile), dS_in = factor_buffer<T, In>(tile);
    for (int64_t bh = begin; bh < end; ++bh) {
      for (int64_t q0 = 0; q0 < p.num_queries; q0 += p.q_block) {
        const int64_t rows = std::min(p.q_block, p.num_queries - q0), row0 = bh * p.num_queries + q0;
        const In *Q = q + row0 * p.d, *dO_in = dout_in + row0 * p.dv;
        const T* dO = dout + row0 * p.dv;
        T* dQ = dq + row0 * p.d;
        row_dots(out + row0 * p.dv, dO, rows, p.dv, D.data());
        const int64_t key_end = keys_needed(p, row0, rows);
        for (int64_t key0 = 0; key0 < key_end; key0 += p.k_block) {
          const int64_t cols = std::min(p.k_block, key_end - key0);
          const In *K = k + (bh * p.num_keys + key0) * p.d, *V = v + (bh * p.num_keys + key0) * p.dv;
          T *dK = dk + (bh * p.num_keys + key0) * p.d, *dV = dv + (bh * p.num_keys + key0) * p.dv;
          masked_scores(p, Q, K, row0, rows, key0, cols, P.data());
          for (int64_t i = 0; i < rows; ++i) {
            T* s = P.data() + i * cols;
            exp_sum(s, cols, stats[2 * (row0 + i)], p.simd);  // the weights, recomputed from the saved statistics
            const T inv_sum = stats[2 * (row0 + i) + 1];
            for (int64_t j = 0; j < cols; ++j) s[j] *= inv_sum;
            if (!mask.active()) continue;
            T *mi = M.data() + i * cols, *di = dropped.data() + i * cols;
            mask.fill(mi, row0 + i, key0, cols);
            for (int64_t j = 0; j < cols; ++j) di[j] = s[j] * mi[j];
          }
          const T* used = mask.active() ? dropped.data() : P.data();  // the weights that multiplied V
          gemm(true, false, cols, p.dv, rows, T(1), as_factor(used, rows * cols, weights_in), cols, dO_in, p.dv, T(1),
               dV, p.dv);
          gemm(false, true, rows, cols, p.dv, T(1), dO_in, p.dv, V, p.dv, T(0), dP.data(), cols);
          softmax_backward(p, mask.active() ? M.data() : nullptr, row0, rows, cols, D.data(), dP.data(), P.data());
          const auto scale = static_cast<T>(p.scale);
          const In* dS = as_factor(P.data(), rows * cols, dS_in);
          gemm(false, false, rows, p.d, cols, scale, dS, cols, K, p.d, T(1), dQ, p.d);
          gemm(true, false, cols, p.d, rows, scale, dS, cols, Q, p.d, T(1), dK, p.d);
        }
      }
    }
  });
}

// valid_lens as the kernel reads them: (BH, q) counts of kept keys, 0 for a row of valid length 0.
torch::Tensor keys_per_row(const torch::Tensor& valid_lens, int64_t batch_heads, int64_t num_queries,
                           int64_t num_keys) {
  if (!valid_lens.defined()) return torch::full({batch_heads, num_queries}, num_keys, torch::kLong);
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
    const auto problem = make_problem(q, k, v, lens, static_cast<KernelSimd>(simd));
    const DropoutMask mask(seed, problem.num_keys, dropout);
    const auto options = q.options().dtype(q.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat);
    auto out = torch::empty({problem.batch_heads, problem.num_queries, problem.dv}, options);
    auto stats = torch::empty({problem.batch_heads, problem.num_queries, 2}, options);
    torch::Tensor qi = q, ki = k, vi = v;
    if (q.scalar_type() == torch::kBFloat16 || (bf16_products && q.scalar_type() == torch::kFloat)) {
      qi = q.to(torch::kBFloat16), ki = k.to(torch::kBFloat16), vi = v.to(torch::kBFloat16);
      forward_kernel<float, bf16>(problem, mask, qi.data_ptr<bf16>(), ki.data_ptr<bf16>(), vi.data_ptr<bf16>(),
                                  out.data_ptr<float>(), stats.data_ptr<float>());
    } else {
      AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "fused_attention_forward", [&] {
        forward_kernel<scalar_t, scalar_t>(problem, mask, q.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(),
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
    const auto problem = make_problem(q, k, v, lens, static_cast<KernelSimd>(ctx->saved_data["simd"].toInt()));
    const DropoutMask mask(ctx->saved_data["seed"].toInt(), problem.num_keys, ctx->saved_data["dropout"].toDouble());
    auto dout = grads[0].to(out.scalar_type()).contiguous();
    auto dq = torch::zeros(q.sizes(), out.options()), dk = torch::zeros(k.sizes(), out.options()),
         dv = torch::zeros(v.sizes(), out.options());
    if (q.scalar_type() == torch::kBFloat16) {
      const auto dout_in = dout.to(torch::kBFloat16);
      backward_kernel<float, bf16>(problem, mask, q.data_ptr<bf16>(), k.data_ptr<bf16>(), v.data_ptr<bf16>(),
                                   out.data_ptr<float>(), stats.data_ptr<float>(), dout.data_ptr<float>(),
                                   dout_in.data_ptr<bf16>(), dq.data_ptr<float>(), dk.data_ptr<float>(),
                                   dv.data_ptr<float>());
    } else {
      AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "fused_attention_backward", [&] {
        backward_kernel<scalar_t, scalar_t>(
            problem, mask, q.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(),
            out.data_ptr<scalar_t>(), stats.data_ptr<scalar_t>(), dout.data_ptr<scalar_t>(), dout.data_ptr<scalar_t>(),
            dq.data_ptr<scalar_t>(), dk.data_ptr<scalar_t>(), dv.data_ptr<scalar_t>());
      });
    }
    return {dq, dk, dv, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

std::vector<KernelSimd> fused_attention_simd_levels() {
  if (has_avx2()) return {KernelSimd::scalar, KernelSimd::avx2};
  return {KernelSimd::scalar};
}

KernelSimd fused_attention_best_simd() { return fused_attention_simd_levels().back(); }

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
  const auto levels = fused_attention_simd_levels();
  if (options.simd != KernelSimd::best && std::find(levels.begin(), levels.end(), options.simd) == levels.end()) {
    throw ModelError("fused attention: this CPU does not run SIMD level " + name_of(options.simd));
  }
  const int64_t seed = options.dropout > 0 ? (options.seed >= 0 ? options.seed : draw_seed()) : 0;
  auto lens = keys_per_row(valid_lens, queries.size(0), queries.size(1), keys.size(1));
  return FusedAttentionFunction::apply(queries.contiguous(), keys.contiguous(), values.contiguous(), lens,
                                       options.dropout, seed, bf16_products(), static_cast<int64_t>(options.simd));
}

torch::Tensor fused_attention_dropout_mask(int64_t seed, int64_t batch_heads, int64_t num_queries, int64_t num_keys,
                                           double dropout) {
  const DropoutMask mask(seed, num_keys, dropout);
  auto m = torch::ones({batch_heads, num_queries, num_keys}, torch::kDouble);
  if (!mask.active()) return m;
  auto* data = m.data_ptr<double>();
  for (int64_t row = 0; row < batch_heads * num_queries; ++row) mask.fill(data + row * num_keys, row, 0, num_keys);
  return m;
}

}  // namespace seqenc
