#include "seqenc/nn/precision.h"

#include <cpuid.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include <fmt/format.h>

#include "gemm.h"
#include "seqenc/compat.h"
#include "seqenc/error.h"

namespace seqenc {

PrecisionScope::PrecisionScope(Precision precision) : active_(precision == Precision::bf16) {
  if (!active_) return;
  was_enabled_ = compat::cpu_autocast_enabled();
  was_dtype_ = compat::cpu_autocast_dtype();
  compat::set_cpu_autocast(true, c10::ScalarType::BFloat16);
  at::autocast::increment_nesting();
}

PrecisionScope::~PrecisionScope() {
  if (!active_) return;
  // Autocast caches casts of leaf tensors (the weights) until the outermost scope ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  compat::set_cpu_autocast(was_enabled_, was_dtype_);
}

bool bf16_products() {
  return compat::cpu_autocast_enabled() && compat::cpu_autocast_dtype() == c10::ScalarType::BFloat16;
}

namespace {

// CPUID leaf 7: AMX-BF16 is EDX bit 22 of sub-leaf 0, AVX512_BF16 is EAX bit 5 of sub-leaf 1.
void read_cpu_flags(Bf16Support& s) {
  unsigned a, b, c, d;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) s.amx_bf16 = (d >> 22) & 1;
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) s.avx512_bf16 = (a >> 5) & 1;
}

// Best of a few 512^3 products: enough to tell 2x apart, a few milliseconds in all.
template <typename In>
double gemm_gflops() {
  constexpr int64_t n = 512;
  std::vector<In> a(n * n, In(0.5f)), b(n * n, In(0.25f));
  std::vector<float> c(n * n);
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    detail::gemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rep > 0) best = std::max(best, 2.0 * n * n * n / s / 1e9);  // the first one JIT-compiles its kernel
  }
  return best;
}

Bf16Support probe() {
  Bf16Support s;
  read_cpu_flags(s);
  try {
    s.fp32_gflops = gemm_gflops<float>();
    s.bf16_gflops = gemm_gflops<c10::BFloat16>();
    s.runs = true;
  } catch (const Error& e) {
    s.error = e.what();
  }
  return s;
}

}  // namespace

std::string Bf16Support::summary() const {
  if (!runs) return "bf16 does not run on this CPU (" + error + ")";
  const std::string isa = amx_bf16 ? "AMX-BF16" : avx512_bf16 ? "AVX-512 BF16 (no AMX)" : "no bf16 instructions";
  const std::string rates =
      fmt::format("bf16 products {:.0f} GFLOP/s against {:.0f} in fp32", bf16_gflops, fp32_gflops);
  if (faster()) return fmt::format("bf16: {}; {}", isa, rates);
  return fmt::format("bf16: {}; {}: bf16 trains slower than fp32 on this CPU{}", isa, rates,
                     avx512_bf16 || amx_bf16 ? "" : " (oneDNN emulates it)");
}

const Bf16Support& bf16_support() {
  static const Bf16Support support = probe();
  return support;
}

}  // namespace seqenc
