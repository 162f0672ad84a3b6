// Which implementation each hot operation of a run uses, chosen by measurement on the machine at hand (as cuDNN's
// benchmark mode chooses convolutions) unless the configuration forces it: the attention kernel
// (model.attention: fused, reference or sdpa), the route of seqenc's linears (train.matmul: oneDNN or LibTorch's
// own BLAS) and who answers LibTorch's own sgemm_ calls (train.blas). A CPU's fastest choice differs from
// another's, so none is hard-coded. Measured choices are cached per CPU model, thread count and LibTorch version
// in a small JSON file the caller names (the program: $XDG_CACHE_HOME/seqenc/kernels.json), written once per
// shape class under a lock, so that every later run on the machine makes the same choices.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "seqenc/nn/encoder.h"
#include "seqenc/nn/matmul_route.h"
#include "seqenc/nn/precision.h"

namespace seqenc {

struct KernelPlan {
  AttentionKernel attention = AttentionKernel::fused;  // never automatic
  MatmulRoute matmul = MatmulRoute::onednn;            // never automatic
  BlasChoice blas = BlasChoice::onednn;                // never automatic
  std::string how;                                     // measured, cached, forced, default or resumed
  std::vector<std::string> timings;                    // "attention: fused 1.20 ms, reference 2.31 ms", ...
  std::string summary() const;                         // one line for the log
  std::string to_json() const;                         // as a run directory records it (kernels.json)
  static std::optional<KernelPlan> from_json(const std::string& text);  // nullopt for anything else
};

// The shapes a run's steps have, which the choices depend on.
struct TuningShape {
  int64_t batch = 1, n = 1;
  int64_t num_hiddens = 64, num_heads = 4, ffn_num_hiddens = 128;
  double dropout = 0;
  Precision precision = Precision::fp32;
  bool attention = true;  // the encoder has attention (else its choice is moot)
  bool relative = false;  // relative positions: the reference path alone takes them
};

// What the caller lets the tuner use. Without measure (a program that links the library and says nothing), auto
// keeps the fixed defaults: the fused kernel where it applies, oneDNN, LibTorch's sgemm_ left as the program has it.
struct TuningContext {
  bool measure = false;
  std::string cache_path;  // "" : measure every time
  // Switches the program's answer to LibTorch's sgemm_ calls (app/blas_override.cpp); null where the program has
  // none: train.blas then has nothing to choose.
  std::function<void(bool)> set_blas_override;
};

struct KernelRequest {
  AttentionKernel attention = AttentionKernel::automatic;
  MatmulRoute matmul = MatmulRoute::automatic;
  BlasChoice blas = BlasChoice::automatic;
};

// The plan for `shape`: forced choices kept, automatic ones measured (or read from the cache). A damaged cache
// file is ignored with a warning (in warnings) and written anew.
KernelPlan plan_kernels(const TuningShape& shape, const KernelRequest& request, const TuningContext& context,
                        std::vector<std::string>* warnings = nullptr);
// Puts the plan's train.blas choice into effect through the context's hook (process state belongs to the program).
void apply_blas_choice(const KernelPlan& plan, const TuningContext& context);

// The machine part of a cache key: CPU model, intra-op threads, LibTorch version.
std::string machine_key();

}  // namespace seqenc
