// The one place where LibTorch 1.13 and 2.x differ for seqenc.
#pragma once
#include <ATen/autocast_mode.h>
#include <c10/util/Logging.h>
#include <c10/util/intrusive_ptr.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/version.h>

#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#if TORCH_VERSION_MAJOR >= 2
// 2.x ships a fused scaled_dot_product_attention (flash / memory-efficient kernels).
#define SEQENC_HAS_FUSED_SDPA 1
#include <ATen/Functions.h>
#else
#define SEQENC_HAS_FUSED_SDPA 0
#endif

// 2.4 made autocast's state per device type (set_autocast_enabled(kCPU, ...)) and deprecated the CPU-named calls.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define SEQENC_AUTOCAST_BY_DEVICE 1
#else
#define SEQENC_AUTOCAST_BY_DEVICE 0
#endif

namespace seqenc::compat {
inline constexpr int torch_major = TORCH_VERSION_MAJOR;
inline constexpr int torch_minor = TORCH_VERSION_MINOR;
inline constexpr bool has_fused_sdpa = SEQENC_HAS_FUSED_SDPA != 0;

// CPU autocast: whether it is on for this thread, its lower-precision dtype, and switching both.
inline bool cpu_autocast_enabled() {
#if SEQENC_AUTOCAST_BY_DEVICE
  return at::autocast::is_autocast_enabled(at::kCPU);
#else
  return at::autocast::is_cpu_enabled();
#endif
}
inline at::ScalarType cpu_autocast_dtype() {
#if SEQENC_AUTOCAST_BY_DEVICE
  return at::autocast::get_autocast_dtype(at::kCPU);
#else
  return at::autocast::get_autocast_cpu_dtype();
#endif
}
inline void set_cpu_autocast(bool enabled, at::ScalarType dtype) {
#if SEQENC_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(at::kCPU, enabled);
  at::autocast::set_autocast_dtype(at::kCPU, dtype);
#else
  at::autocast::set_cpu_enabled(enabled);
  at::autocast::set_autocast_cpu_dtype(dtype);
#endif
}

// LibTorch's log threshold (0 info ... 3 fatal, the same in both), e.g. to mute c10d's log of each failed connect.
// Debian's 1.13 logs through glog (minloglevel); the 2.x wheel is built without glog and has c10's own flag.
inline int torch_log_level() {
#ifdef C10_USE_GLOG
  return FLAGS_minloglevel;
#else
  return FLAGS_caffe2_log_level;
#endif
}
inline void set_torch_log_level(int level) {
#ifdef C10_USE_GLOG
  FLAGS_minloglevel = level;
#else
  FLAGS_caffe2_log_level = level;
#endif
}
inline constexpr int torch_log_fatal = 3;

// An optimizer's saved state is keyed by each parameter's address: 1.13 wrote it in hex ("0x55d2..."), 2.x parses
// the keys as decimal numbers, so a 1.13 checkpoint's keys all read as 0 there and the states land on the wrong
// parameters. Such keys are rewritten in decimal before loading (1.13 only compares the strings, so reads both).
namespace detail {
inline std::string decimal_key(const std::string& key) {
  return key.rfind("0x", 0) == 0 ? std::to_string(std::stoull(key, nullptr, 16)) : key;
}
inline void copy_with_decimal_keys(torch::serialize::InputArchive& in, torch::serialize::OutputArchive& out) {
  for (const auto& key : in.keys()) {
    torch::serialize::InputArchive child;
    c10::IValue value;
    if (in.try_read(key, child)) {
      torch::serialize::OutputArchive copy(out.compilation_unit());
      copy_with_decimal_keys(child, copy);
      out.write(decimal_key(key), copy);
    } else if (in.try_read(key, value)) {
      if (value.isTensor()) {
        out.write(decimal_key(key), value.toTensor(), /*is_buffer=*/true);
      } else {
        out.write(decimal_key(key), value.isString() ? c10::IValue(decimal_key(value.toStringRef())) : value);
      }
    }
  }
}
}  // namespace detail
inline void load_optimizer(torch::optim::Optimizer& optimizer, torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive state;
  bool hex = false;
  if (archive.try_read("state", state)) {
    for (const auto& key : state.keys()) hex = hex || key.rfind("0x", 0) == 0;
  }
  if (!hex) return optimizer.load(archive);
  torch::serialize::OutputArchive decimal;
  detail::copy_with_decimal_keys(archive, decimal);
  std::ostringstream bytes;
  decimal.save_to(bytes);
  torch::serialize::InputArchive reread;
  std::istringstream in(bytes.str());
  reread.load_from(in);
  optimizer.load(reread);
}

// c10d. These are templates on c10d's types, so that only distributed.cpp (which includes c10d's headers) compiles
// them, and they pick what the LibTorch at hand has rather than naming versions.

// A Gloo process group. LibTorch 2.0 split a process group into a ProcessGroup front and per-device Backends:
// ProcessGroupGloo became a Backend that a front dispatches the CPU collectives to (the Reducer takes the front).
template <class ProcessGroup, class Gloo, class Store, class Options>
c10::intrusive_ptr<ProcessGroup> gloo_process_group(const c10::intrusive_ptr<Store>& store, int rank, int size,
                                                    c10::intrusive_ptr<Options> options) {
  auto gloo = c10::make_intrusive<Gloo>(store, rank, size, std::move(options));
  if constexpr (std::is_base_of_v<ProcessGroup, Gloo>) {
    return gloo;
  } else {
    auto group = c10::make_intrusive<ProcessGroup>(store, rank, size);
    group->setBackend(c10::DeviceType::CPU, ProcessGroup::BackendType::GLOO, gloo);
    group->setDefaultBackend(ProcessGroup::BackendType::GLOO);
    return group;
  }
}

// c10d's Reducer with buckets of at most bucket_bytes, no sparse gradients, find_unused_parameters and
// gradient_as_bucket_view off. 1.13 takes each bucket's size limit; later versions dropped those for the caps used
// when buckets are rebuilt (seqenc never rebuilds them) and added flags whose off state is 1.13's behaviour.
template <class Reducer, class ProcessGroup>
std::unique_ptr<Reducer> make_reducer(const std::vector<at::Tensor>& parameters,
                                      std::vector<std::vector<size_t>> buckets,
                                      const c10::intrusive_ptr<ProcessGroup>& group, int64_t bucket_bytes) {
  using Names = std::unordered_map<size_t, std::string>;
  const std::vector<bool> sparse(parameters.size(), false);
  if constexpr (std::is_constructible_v<Reducer, std::vector<at::Tensor>, std::vector<std::vector<size_t>>,
                                        c10::intrusive_ptr<ProcessGroup>, std::vector<bool>, int64_t, bool, bool, Names,
                                        int64_t, bool, bool, std::vector<int64_t>>) {
    return std::make_unique<Reducer>(parameters, std::move(buckets), group, sparse, bucket_bytes,
                                     /*find_unused_parameters=*/false, /*gradient_as_bucket_view=*/false, Names{},
                                     bucket_bytes, /*skip_all_reduce_unused_params=*/false,
                                     /*use_python_reducer=*/false, std::vector<int64_t>{bucket_bytes});
  } else {
    const std::vector<size_t> limits(buckets.size(), static_cast<size_t>(bucket_bytes));
    return std::make_unique<Reducer>(parameters, std::move(buckets), limits, group, sparse, bucket_bytes,
                                     /*find_unused_parameters=*/false, /*gradient_as_bucket_view=*/false, Names{},
                                     bucket_bytes);
  }
}
// LibTorch's own scaled_dot_product_attention (attn_mask: bool, true where a key takes part). 1.13 has none: the
// configuration refuses model.attention: sdpa there, and this is never called.
inline at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                               const at::Tensor& attn_mask, double dropout) {
#if SEQENC_HAS_FUSED_SDPA
  // An undefined mask must reach it as no mask at all (nullopt), not as an optional holding an undefined tensor.
  const auto mask = attn_mask.defined() ? c10::optional<at::Tensor>(attn_mask) : c10::nullopt;
  return at::scaled_dot_product_attention(q, k, v, mask, dropout, /*is_causal=*/false);
#else
  (void)q, (void)k, (void)v, (void)attn_mask, (void)dropout;
  TORCH_CHECK(false, "scaled_dot_product_attention needs LibTorch 2.x");
#endif
}
}  // namespace seqenc::compat
