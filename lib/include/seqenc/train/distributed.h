// Data-parallel training on LibTorch's own c10d: ranks meet through a
// TCPStore (rank 0 serves it) and talk through a Gloo process group. The
// program reads RANK, WORLD_SIZE, ... from the environment and passes them in;
// the library reads no environment.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

namespace seqenc {

// Where this process stands in a data-parallel run (torchrun's variables).
struct DistOptions {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string interface;                     // network interface for Gloo (GLOO_SOCKET_IFNAME); empty: from master_addr
  std::chrono::milliseconds timeout{60000};  // rendezvous and every collective
  // torchrun's TORCHELASTIC_USE_AGENT_STORE: the launcher serves the TCPStore at master_addr:master_port, and the
  // ranks meet there as clients under the prefix /worker/attempt_<attempt> (TORCHELASTIC_RESTART_COUNT), so that
  // each restart of the workers has keys of its own. Otherwise rank 0 serves the store.
  bool agent_store = false;
  int attempt = 0;
};

// Problems with the options ("RANK: ..."), e.g. a rank outside [0, WORLD_SIZE).
std::vector<std::string> dist_problems(const DistOptions& options);

// Communication done so far, for measurements.
struct CommStats {
  int64_t bytes = 0;     // payload handed to allreduce (per rank)
  int64_t calls = 0;     // allreduce calls
  double seconds = 0;    // waiting on collectives (what communication added to this rank's time)
  double exposed_s = 0;  // of which gradient communication waited for after backward (not hidden behind it)
};

class GradientReducer;

class ProcessGroup {
 public:
  // Rendezvous: rank 0 serves a TCPStore at master_addr:master_port and waits for world_size ranks; then a Gloo
  // group with options.timeout. ConfigError (one line) when the port is taken, the master cannot be reached or
  // not every rank joins within the timeout.
  explicit ProcessGroup(const DistOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int world_size() const;

  // ConfigError on every rank unless all ranks pass the same text (e.g. the resolved configuration); names the
  // ranks that differ from rank 0.
  void check_same(const std::string& text, const std::string& what);
  // Rank 0's values into every rank's tensors, in place.
  void broadcast(const std::vector<torch::Tensor>& tensors);
  // Sums in place over ranks, flattened into buckets of about bucket_bytes (all in flight at once); its time
  // counts as exposed (CommStats::exposed_s), as for gradients reduced after backward.
  void allreduce_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes = kBucketBytes);
  // The largest value over ranks.
  int64_t allreduce_max(int64_t value);
  // Every rank's `mine` (same shape and dtype on each), stacked in rank order: row r is rank r's.
  torch::Tensor allgather(const torch::Tensor& mine, const char* what);

  const CommStats& stats() const;

  static constexpr int64_t kBucketBytes = 25 << 20;  // as PyTorch's DDP

 private:
  friend class GradientReducer;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sums gradients over ranks while backward runs, as PyTorch's DDP does: LibTorch's own c10d::Reducer hooks each
// parameter's gradient accumulator and starts a bucket's allreduce as soon as its gradients are ready (buckets of
// about bucket_bytes, in the reverse order of parameters, which is roughly the order backward produces them).
// Nothing is divided: callers weight each rank's loss so that the sum is the mean they want.
class GradientReducer {
 public:
  GradientReducer(ProcessGroup& group, const std::vector<torch::Tensor>& parameters, int64_t bucket_bytes);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // loss.backward(). With reduce, the parameters' gradients (what this backward adds to what earlier ones left,
  // as in gradient accumulation) are summed over ranks before it returns, and so are the values in scalars (one
  // small allreduce in flight alongside); without, it accumulates locally and communicates nothing.
  void backward(const torch::Tensor& loss, bool reduce, torch::Tensor scalars = {});
  size_t num_buckets() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A loopback port free on this machine now (the kernel's choice), for a one-machine rendezvous.
int free_port();
// What is wrong with `port` as a rendezvous port ("must be in [1, 65535], got 0"; with must_be_free, also "the
// port is already in use on this machine": rank 0 could not serve the TCPStore there); "" when nothing is.
std::string port_problem(int port, bool must_be_free = false);

// Flat buckets of about bucket_bytes over tensors of one dtype, in order; a tensor larger than a bucket is a bucket.
std::vector<std::vector<size_t>> bucket_tensors(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes);

}  // namespace seqenc
