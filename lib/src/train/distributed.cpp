#include "seqenc/train/distributed.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#include <torch/torch.h>

#include "seqenc/compat.h"
#include "seqenc/error.h"
#include "seqenc/strings.h"

namespace seqenc {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_loopback(const std::string& addr) { return addr == "localhost" || addr.rfind("127.", 0) == 0; }

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }
std::string string_of(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

// FNV-1a: the same on every machine and build, unlike std::hash.
int64_t digest(const std::string& text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return static_cast<int64_t>(h);
}

std::string hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// This machine's address on the route toward host (the kernel's choice; connecting a UDP socket sends nothing),
// or "" when it cannot tell (an IPv6 master, a name that does not resolve).
std::string address_toward(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), "9", &hints, &found) != 0 || !found) return "";
  std::string out;
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in local{};
  socklen_t len = sizeof local;
  char text[INET_ADDRSTRLEN] = {};
  if (fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
      inet_ntop(AF_INET, &local.sin_addr, text, sizeof text)) {
    out = text;
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(found);
  return out;
}

// The peer address in one of Gloo's errors ("Connection closed by peer [169.254.0.2]:41234"), or "".
std::string peer_address(const std::string& why) {
  static const std::regex bracketed(R"(\[([0-9a-fA-F:.]+)\]:[0-9]+)");
  std::smatch m;
  return std::regex_search(why, m, bracketed) ? m[1].str() : "";
}

// A local process that has exited (gone, or a zombie not yet reaped).
bool process_gone(long pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const auto paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && (line[paren + 2] == 'Z' || line[paren + 2] == 'X');
}

}  // namespace

std::vector<std::string> dist_problems(const DistOptions& o) {
  std::vector<std::string> p;
  if (o.world_size < 1) p.push_back("WORLD_SIZE: must be >= 1, got " + std::to_string(o.world_size));
  if (o.rank < 0 || o.rank >= o.world_size)
    p.push_back(fmt::format("RANK: must be in [0, WORLD_SIZE {}), got {}", o.world_size, o.rank));
  if (o.local_rank < 0) p.push_back("LOCAL_RANK: must be >= 0, got " + std::to_string(o.local_rank));
  if (auto problem = port_problem(o.master_port); !problem.empty()) p.push_back("MASTER_PORT: " + problem);
  if (o.master_addr.empty()) p.push_back("MASTER_ADDR: empty");
  if (o.timeout.count() <= 0) p.push_back("timeout: must be > 0");
  return p;
}

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error(std::string("cannot find a free port: ") + std::strerror(errno));
  }
  close(fd);
  return ntohs(addr.sin_port);
}

std::string port_problem(int port, bool must_be_free) {
  if (port < 1 || port > 65535) return "must be in [1, 65535], got " + std::to_string(port);
  if (!must_be_free) return "";
  // As the TCPStore binds: any address, SO_REUSEADDR.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";  // let the rendezvous report it
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool in_use = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno == EADDRINUSE;
  close(fd);
  return in_use ? "the port is already in use on this machine; choose another" : "";
}

std::vector<std::vector<size_t>> bucket_tensors(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  std::vector<std::vector<size_t>> buckets;
  int64_t bytes = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto size = tensors[i].numel() * static_cast<int64_t>(tensors[i].element_size());
    const bool same_dtype = !buckets.empty() && tensors[buckets.back().front()].dtype() == tensors[i].dtype();
    if (buckets.empty() || !same_dtype || bytes + size > bucket_bytes) {
      if (buckets.empty() || !buckets.back().empty()) buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(i);
    bytes += size;
  }
  return buckets;
}

// Where each rank runs, for naming the one that went away.
struct Peer {
  std::string host, address;
  long pid = 0;
};

struct ProcessGroup::Impl {
  DistOptions options;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;
  std::vector<Peer> peers;  // by rank
  std::string address;      // this rank's, toward the master
  CommStats stats;

  std::string where() const { return fmt::format("{}:{}", options.master_addr, options.master_port); }
  double timeout_s() const { return static_cast<double>(options.timeout.count()) / 1000; }

  c10::intrusive_ptr<c10d::TCPStore> open_store(bool serve) const {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(options.master_port);
    o.isServer = serve;
    o.numWorkers = static_cast<size_t>(options.world_size);
    o.waitWorkers = !options.agent_store;  // the launcher's store outlives the workers: nothing to wait for there
    o.timeout = options.timeout;
    return c10::make_intrusive<c10d::TCPStore>(options.master_addr, o);
  }

  void connect_store() {
    try {
      if (!options.agent_store) {
        store = open_store(options.rank == 0);
        return;
      }
      store = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(options.attempt),
                                                     open_store(false));
    } catch (const std::exception& e) {
      throw store_error(first_line(e.what()));
    }
  }

  ConfigError store_error(const std::string& why) const {
    const auto l = lower(why);
    if (options.rank == 0 && !options.agent_store &&
        (l.find("in use") != std::string::npos || l.find("listen") != std::string::npos ||
         l.find("bind") != std::string::npos)) {
      return ConfigError(fmt::format(
          "MASTER_PORT {}: rank 0 cannot serve the rendezvous on {} (the port is in use or the address is not this "
          "machine's); choose another --master-port ({})",
          options.master_port, where(), why));
    }
    if (options.rank == 0 && !options.agent_store) {
      return ConfigError(
          fmt::format("rank 0: not every one of the {} ranks joined the rendezvous at {} within {} s ({})",
                      options.world_size, where(), timeout_s(), why));
    }
    return ConfigError(fmt::format(
        "rank {}: cannot reach the master at {} within {} s; check MASTER_ADDR / MASTER_PORT (--master-addr, "
        "--master-port) and that rank 0 is running ({})",
        options.rank, where(), timeout_s(), why));
  }

  // GLOO_SOCKET_IFNAME's interface; else the loopback for a loopback master, else this machine's address on the
  // route toward the master (the interface the ranks of other machines reach it by), else the host name's.
  std::shared_ptr<::gloo::transport::Device> device() const {
    if (!options.interface.empty()) return c10d::ProcessGroupGloo::createDeviceForInterface(options.interface);
    if (is_loopback(options.master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
    if (!address.empty()) return c10d::ProcessGroupGloo::createDeviceForHostname(address);
    return c10d::ProcessGroupGloo::createDefaultDevice();
  }

  void create_group() {
    address = is_loopback(options.master_addr) ? "127.0.0.1" : address_toward(options.master_addr);
    auto o = c10d::ProcessGroupGloo::Options::create(options.timeout);
    o->threads = 2;
    try {
      o->devices.push_back(device());
      group = compat::gloo_process_group<c10d::ProcessGroup, c10d::ProcessGroupGloo>(store, options.rank,
                                                                                     options.world_size, o);
    } catch (const std::exception& e) {
      throw ConfigError(fmt::format("rank {}: the Gloo process group did not form within {} s ({})", options.rank,
                                    timeout_s(), first_line(e.what())));
    }
  }

  void exchange_peers() {
    store->set("seqenc/peer/" + std::to_string(options.rank),
               bytes_of(fmt::format("{} {} {}", getpid(), address.empty() ? "-" : address, hostname())));
    for (int r = 0; r < options.world_size; ++r) {
      const auto entry = string_of(store->get("seqenc/peer/" + std::to_string(r)));
      const auto first = entry.find(' '), second = entry.find(' ', first + 1);
      peers.push_back(
          {entry.substr(second + 1), entry.substr(first + 1, second - first - 1), std::stol(entry.substr(0, first))});
    }
  }

  // The local ranks whose process has gone (a kill is seen at once; a zombie may take a moment).
  std::vector<std::string> gone_here() const {
    const auto here = hostname();
    std::vector<std::string> gone;
    for (int attempt = 0; attempt < 20 && gone.empty(); ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      for (int r = 0; r < options.world_size; ++r) {
        const auto& p = peers[static_cast<size_t>(r)];
        if (r != options.rank && p.host == here && process_gone(p.pid)) gone.push_back(std::to_string(r));
      }
    }
    return gone;
  }

  // The ranks that have gone, as far as this rank can tell: the other one of two; local ones whose process is
  // gone; else the ranks at the address Gloo's error names (another machine).
  std::string failed_ranks(const std::string& why) const {
    if (options.world_size == 2) return "rank " + std::to_string(1 - options.rank);
    auto gone = gone_here();
    if (!gone.empty()) return (gone.size() == 1 ? "rank " : "ranks ") + join(gone, ", ");
    const auto at = peer_address(why);
    for (int r = 0; r < options.world_size && !at.empty(); ++r) {
      if (r != options.rank && peers[static_cast<size_t>(r)].address == at) gone.push_back(std::to_string(r));
    }
    if (gone.empty()) return "a peer rank";
    return fmt::format("{} {} (host {})", gone.size() == 1 ? "rank" : "ranks", join(gone, ", "), at);
  }

  // A collective that failed, as one line naming the rank that went away (or did not answer in time).
  std::runtime_error failure(const std::exception& e, const char* op) const {
    const std::string why = first_line(e.what());
    // "Timed out waiting 8000ms for recv operation", or "Application timeout caused pair closure".
    const bool timed_out =
        lower(why).find("timed out") != std::string::npos || lower(why).find("timeout") != std::string::npos;
    return std::runtime_error(fmt::format(
        "rank {}: {} during {} ({}); stopping. Checkpoints are written by rank 0 only and stay intact", options.rank,
        timed_out ? fmt::format("no answer from {} within train.dist_timeout_s ({} s)", failed_ranks(why), timeout_s())
                  : failed_ranks(why) + " failed or left",
        op, why));
  }

  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* op) {
    try {
      work->wait();
    } catch (const std::exception& e) {
      throw failure(e, op);
    }
  }
};

ProcessGroup::ProcessGroup(const DistOptions& options) : impl_(std::make_unique<Impl>()) {
  if (auto p = dist_problems(options); !p.empty()) throw ConfigError(join(p, "; "));
  impl_->options = options;
  impl_->connect_store();
  impl_->create_group();
  impl_->exchange_peers();
}

ProcessGroup::~ProcessGroup() = default;

int ProcessGroup::rank() const { return impl_->options.rank; }
int ProcessGroup::world_size() const { return impl_->options.world_size; }
const CommStats& ProcessGroup::stats() const { return impl_->stats; }

void ProcessGroup::check_same(const std::string& text, const std::string& what) {
  const auto digests = allgather(torch::tensor({digest(text)}, torch::kLong), "the configuration check").reshape({-1});
  std::vector<std::string> differ;
  const auto reference = digests[0].item<int64_t>();
  for (int r = 1; r < world_size(); ++r) {
    if (digests[r].item<int64_t>() != reference) differ.push_back(std::to_string(r));
  }
  if (!differ.empty()) {
    const auto other = digests[std::stoi(differ[0])].item<int64_t>();
    throw ConfigError(fmt::format(
        "{} differs from that of rank 0 (digest {:016x} against {:016x}); start every rank with the same --config "
        "and --set",
        differ.size() == 1 ? "rank " + differ[0] + "'s " + what : "ranks " + join(differ, ", ") + ": their " + what,
        static_cast<uint64_t>(other), static_cast<uint64_t>(reference)));
  }
}

torch::Tensor ProcessGroup::allgather(const torch::Tensor& mine, const char* what) {
  const auto start = Clock::now();
  std::vector<torch::Tensor> input{mine.contiguous()};
  std::vector<std::vector<torch::Tensor>> output(1);
  for (int r = 0; r < world_size(); ++r) output[0].push_back(torch::empty_like(input[0]));
  impl_->wait(impl_->group->allgather(output, input), what);
  impl_->stats.seconds += seconds_since(start);
  return torch::stack(output[0]);
}

void ProcessGroup::broadcast(const std::vector<torch::Tensor>& tensors) {
  const auto start = Clock::now();
  for (const auto& bucket : bucket_tensors(tensors, kBucketBytes)) {
    std::vector<torch::Tensor> parts;
    for (auto i : bucket) parts.push_back(tensors[i].detach().reshape({-1}));
    std::vector<torch::Tensor> flat{torch::cat(parts).contiguous()};
    impl_->wait(impl_->group->broadcast(flat), "a broadcast from rank 0");
    int64_t offset = 0;
    for (auto i : bucket) {
      auto t = tensors[i].detach();
      t.copy_(flat[0].narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
  impl_->stats.seconds += seconds_since(start);
}

void ProcessGroup::allreduce_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  const auto start = Clock::now();
  const auto buckets = bucket_tensors(tensors, bucket_bytes);
  std::vector<std::vector<torch::Tensor>> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (const auto& bucket : buckets) {
    std::vector<torch::Tensor> parts;
    for (auto i : bucket) parts.push_back(tensors[i].detach().reshape({-1}));
    flats.push_back({torch::cat(parts)});
    impl_->stats.bytes += flats.back()[0].numel() * static_cast<int64_t>(flats.back()[0].element_size());
    ++impl_->stats.calls;
    works.push_back(impl_->group->allreduce(flats.back()));  // Gloo's threads run them while we queue the next
  }
  for (size_t b = 0; b < buckets.size(); ++b) {
    impl_->wait(works[b], "the gradient allreduce");
    int64_t offset = 0;
    for (auto i : buckets[b]) {
      auto t = tensors[i].detach();
      t.copy_(flats[b][0].narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
  const double waited = seconds_since(start);  // all of it after backward: nothing hides it
  impl_->stats.seconds += waited;
  impl_->stats.exposed_s += waited;
}

int64_t ProcessGroup::allreduce_max(int64_t value) {
  const auto start = Clock::now();
  std::vector<torch::Tensor> t{torch::tensor({value}, torch::kLong)};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::MAX;
  impl_->wait(impl_->group->allreduce(t, o), "the agreement on stopping");
  impl_->stats.seconds += seconds_since(start);
  return t[0].item<int64_t>();
}

namespace {

// What the hook saw of the current backward.
struct HookLog {
  size_t launched = 0;            // buckets whose allreduce has started
  Clock::time_point last_launch;  // when the last one started: backward's computation ends about then
};

// Sums a bucket over ranks, undivided (the weights are in the losses), and notes when it started.
class SumHook : public c10d::CommHookInterface {
 public:
  SumHook(c10::intrusive_ptr<c10d::ProcessGroup> group, CommStats& stats, HookLog& log)
      : group_(std::move(group)), stats_(stats), log_(log) {}

  c10::intrusive_ptr<c10::ivalue::Future> runHook(c10d::GradBucket& bucket) override {
    std::vector<at::Tensor> tensors{bucket.getBufferRef()};
    stats_.bytes += tensors[0].numel() * static_cast<int64_t>(tensors[0].element_size());
    ++stats_.calls;
    ++log_.launched;
    log_.last_launch = Clock::now();
    return group_->allreduce(tensors)->getFuture();
  }

  // c10d's own parser is not exported by libtorch_cpu.so; Gloo's future holds the list of reduced tensors.
  at::Tensor parseHookResult(const c10::IValue& result) override {
    return result.isTensor() ? result.toTensor() : result.toTensorVector().at(0);
  }

 private:
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
  CommStats& stats_;
  HookLog& log_;
};

// c10d's assignment (by size and dtype) over the parameters in order, buckets then reversed as DDP does.
std::vector<std::vector<size_t>> reducer_buckets(const std::vector<torch::Tensor>& parameters, int64_t bucket_bytes) {
  auto buckets = std::get<0>(c10d::compute_bucket_assignment_by_size(parameters, {static_cast<size_t>(bucket_bytes)}));
  std::reverse(buckets.begin(), buckets.end());
  return buckets;
}

}  // namespace

struct GradientReducer::Impl {
  ProcessGroup::Impl& pg;
  HookLog log;
  size_t num_buckets = 0;
  std::unique_ptr<c10d::Reducer> reducer;
};

GradientReducer::GradientReducer(ProcessGroup& group, const std::vector<torch::Tensor>& parameters,
                                 int64_t bucket_bytes)
    : impl_(std::make_unique<Impl>(Impl{*group.impl_, {}, 0, nullptr})) {
  auto buckets = reducer_buckets(parameters, bucket_bytes);
  impl_->num_buckets = buckets.size();
  // find_unused_parameters off: every parameter of seqenc's models gets a gradient (checked in backward).
  impl_->reducer = compat::make_reducer<c10d::Reducer>(parameters, std::move(buckets), impl_->pg.group, bucket_bytes);
  impl_->reducer->register_comm_hook(std::make_unique<SumHook>(impl_->pg.group, impl_->pg.stats, impl_->log));
}

GradientReducer::~GradientReducer() = default;

size_t GradientReducer::num_buckets() const { return impl_->num_buckets; }

void GradientReducer::backward(const torch::Tensor& loss, bool reduce, torch::Tensor scalars) {
  if (!reduce) {
    loss.backward();  // the Reducer's hooks stay idle until prepare_for_backward
    return;
  }
  auto& pg = impl_->pg;
  impl_->log = HookLog{};
  c10::intrusive_ptr<c10d::Work> side;
  std::vector<torch::Tensor> side_tensors{scalars};
  impl_->reducer->prepare_for_forward();
  impl_->reducer->prepare_for_backward({});
  try {  // what fails from here on is communication: a rank that went away or did not answer
    if (scalars.defined()) side = pg.group->allreduce(side_tensors);
    loss.backward();  // ends in the Reducer's finalize: every bucket reduced and copied into .grad
    if (side) side->wait();
  } catch (const std::exception& e) {
    throw pg.failure(e, "the gradient allreduce");
  }
  if (impl_->log.launched != impl_->num_buckets) {
    throw std::logic_error("GradientReducer: a parameter got no gradient, so its bucket was never reduced");
  }
  const double exposed = seconds_since(impl_->log.last_launch);
  pg.stats.exposed_s += exposed;
  pg.stats.seconds += exposed;
  if (scalars.defined()) {
    pg.stats.bytes += scalars.numel() * static_cast<int64_t>(scalars.element_size());
    ++pg.stats.calls;
  }
}

}  // namespace seqenc
