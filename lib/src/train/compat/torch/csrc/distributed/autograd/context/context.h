// Debian's libtorch-dev 1.13 ships c10d's reducer.hpp but not the distributed-autograd header it includes (for
// the RPC context that DDP's Reducer keeps, unused here). Where LibTorch has the header, it is used; otherwise
// the two names reducer.hpp needs: the Reducer's layout holds only pointers to the context, so it stays the
// library's, and seqenc never creates or touches a context.
#pragma once
#if __has_include_next(<torch/csrc/distributed/autograd/context/context.h>)
#include_next <torch/csrc/distributed/autograd/context/context.h>
#else
#include <functional>
#include <memory>

#include <ATen/core/Tensor.h>

namespace torch::distributed::autograd {
class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
};
using ContextPtr = std::shared_ptr<DistAutogradContext>;
}  // namespace torch::distributed::autograd
#endif
