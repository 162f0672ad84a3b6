#include "launch.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>
#include <utility>

#include <fmt/core.h>

#include "exit_codes.h"
#include "process.h"
#include "seqenc/compat.h"
#include "seqenc/train/distributed.h"
#include "seqenc/train/rendezvous.h"

extern char** environ;

namespace seqenc::app {

namespace {

constexpr int kMaxWorkers = 1024;
// How often the launcher looks for workers that ended.
constexpr auto kPollInterval = std::chrono::milliseconds(20);
// Once a worker failed, the others get the collectives' timeout plus this margin to notice and stop.
constexpr double kKillMarginS = 10;

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

int parse_int(const std::string& what, const std::string& text) {
  try {
    size_t used = 0;
    const int v = std::stoi(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {}
  throw ConfigError(what + ": expected an integer, got '" + text + "'");
}

// Which start of the workers this is: 0, then one more for each restart.
struct Round {
  int restarts = 0, max_restarts = 0;
};

// torchrun's variables for local worker `local`: the one list of them. The workers meet in the launcher's store
// (TORCHELASTIC_USE_AGENT_STORE), under a prefix of their round's own (TORCHELASTIC_RESTART_COUNT).
std::vector<std::pair<std::string, std::string>> torchrun_variables(const Rendezvous& r, int local, Round round) {
  return {{"RANK", std::to_string(r.node_rank * r.nproc + local)},
          {"WORLD_SIZE", std::to_string(r.world_size)},
          {"LOCAL_RANK", std::to_string(local)},
          {"LOCAL_WORLD_SIZE", std::to_string(r.nproc)},
          {"GROUP_RANK", std::to_string(r.node_rank)},
          {"MASTER_ADDR", r.addr},
          {"MASTER_PORT", std::to_string(r.port)},
          {"TORCHELASTIC_USE_AGENT_STORE", "True"},
          {"TORCHELASTIC_RESTART_COUNT", std::to_string(round.restarts)},
          {"TORCHELASTIC_MAX_RESTARTS", std::to_string(round.max_restarts)}};
}

// This process's environment without any torchrun variable it had, and with worker `local`'s.
std::vector<std::string> worker_environment(const Rendezvous& r, int local, Round round) {
  const auto variables = torchrun_variables(r, local, round);
  std::vector<std::string> out;
  for (char** p = environ; *p; ++p) {
    const std::string var = *p;
    const auto name = var.substr(0, var.find('='));
    if (std::none_of(variables.begin(), variables.end(), [&](const auto& v) { return v.first == name; }))
      out.push_back(var);
  }
  for (const auto& [name, value] : variables) out.push_back(name + "=" + value);
  return out;
}

// The workers' pids, for the signal handler.
pid_t g_workers[kMaxWorkers];
volatile sig_atomic_t g_num_workers = 0;
volatile sig_atomic_t g_forwarded = 0;

void forward_signal(int signal) {
  g_forwarded = signal;
  for (int i = 0; i < g_num_workers; ++i) {
    if (g_workers[i] > 0) kill(g_workers[i], signal);
  }
}

std::string describe(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
}

int code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : exit_code_for_signal(WTERMSIG(status)); }

// The descriptors this process holds (the store's sockets among them) stay out of the workers.
void close_on_exec() {
  std::vector<int> fds;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    fds.push_back(std::atoi(entry.path().filename().c_str()));
  }
  for (const int fd : fds) {
    const int flags = fd > 2 ? fcntl(fd, F_GETFD) : -1;
    if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
}

// Forks one worker per local rank, each exec'ing this program with its own environment. Everything a child
// needs is built before fork: after it, only exec.
void spawn_workers(const Rendezvous& r, const std::vector<std::string>& worker_args, Round round) {
  std::vector<std::vector<std::string>> envs;
  for (int local = 0; local < r.nproc; ++local) envs.push_back(worker_environment(r, local, round));
  std::vector<std::string> argv_strings{"seqenc"};
  argv_strings.insert(argv_strings.end(), worker_args.begin(), worker_args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  close_on_exec();
  const pid_t launcher = getpid();
  for (int local = 0; local < r.nproc; ++local) {
    std::vector<char*> envp;
    for (auto& v : envs[static_cast<size_t>(local)]) envp.push_back(v.data());
    envp.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      setpgid(0, 0);                     // a terminal's Ctrl-C reaches the launcher only, which forwards it once
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // and a launcher that dies takes its workers with it
      if (getppid() != launcher) _exit(kExitFailure);
      execve("/proc/self/exe", argv.data(), envp.data());
      _exit(127);
    }
    g_workers[local] = pid;
    g_num_workers = local + 1;
  }
}

// How one start of the workers ended.
struct AttemptEnd {
  int code = kExitOk;    // the first failure's exit code
  std::string failure;   // "rank 1 (pid 4242) was killed by signal 9 (Killed)"
  bool stopped = false;  // a stop request (Ctrl-C, SIGTERM) ended it: never restarted
};

// Waits for every worker. The first failure sets the result. When the workers may be restarted, the others are
// killed at once (the restart names the failure). Otherwise a configuration or rendezvous problem (exit 2, already
// told in one line) ends the others at once, as they cannot proceed without it, and any other failure gives them
// the collectives' timeout and a margin to notice, then they are killed.
class Supervisor {
 public:
  Supervisor(const Rendezvous& r, double timeout_s, bool restartable)
      : r_(r), timeout_s_(timeout_s), restartable_(restartable) {}

  AttemptEnd wait_all() {
    int remaining = r_.nproc;
    while (remaining > 0) {
      int status = 0;
      const pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) {
        if (Clock::now() > deadline_) kill_late_workers();
        std::this_thread::sleep_for(kPollInterval);
        continue;
      }
      --remaining;
      ended(pid, status);
    }
    g_num_workers = 0;
    return end_;
  }

 private:
  using Clock = std::chrono::steady_clock;

  void ended(pid_t pid, int status) {
    int local = 0;
    while (local < r_.nproc && g_workers[local] != pid) ++local;
    if (local == r_.nproc) return;
    g_workers[local] = 0;
    const int code = code_of(status);
    if (code == kExitOk || killed_) return;
    const bool forwarded = g_forwarded != 0 && code == exit_code_for_signal(g_forwarded);
    const bool stop = g_forwarded != 0 || code == exit_code_for_signal(SIGINT) || code == exit_code_for_signal(SIGTERM);
    const bool first = end_.code == kExitOk;
    if (first) {
      end_ = {code, fmt::format("rank {} (pid {}) {}", r_.node_rank * r_.nproc + local, pid, describe(status)), stop};
      deadline_ = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>((timeout_s_ + kKillMarginS) * 1000));
    }
    if (restartable_ && !stop) {
      kill_all();  // torchrun's agent stops the whole local group and starts it again
    } else if (code == kExitUsage && first) {
      kill_all();
    } else if (!forwarded) {
      fmt::print(stderr, "seqenc: error: rank {} (pid {}) {}\n", r_.node_rank * r_.nproc + local, pid,
                 describe(status));
    }
  }

  void kill_late_workers() {
    for (int i = 0; i < r_.nproc; ++i) {
      if (g_workers[i] <= 0) continue;
      fmt::print(stderr, "seqenc: error: rank {} (pid {}) did not stop within {:.0f} s of a failure; killed\n",
                 r_.node_rank * r_.nproc + i, g_workers[i], timeout_s_ + kKillMarginS);
    }
    kill_all();
  }

  void kill_all() {
    for (int i = 0; i < r_.nproc; ++i) {
      if (g_workers[i] > 0) kill(g_workers[i], SIGKILL);
    }
    killed_ = true;  // the rest were killed here: their ends need no words
    deadline_ = Clock::time_point::max();
  }

  const Rendezvous& r_;
  double timeout_s_;
  bool restartable_;
  AttemptEnd end_;
  bool killed_ = false;
  Clock::time_point deadline_ = Clock::time_point::max();  // after a failure, when the survivors are killed
};

// c10d logs each failed bind or connect (glog in 1.13, c10's logger in 2.x), and its own retries; seqenc's error names
// the cause in one line instead. LibTorch's log level while this lives.
class QuietC10d {
 public:
  QuietC10d() : level_(compat::torch_log_level()) { compat::set_torch_log_level(compat::torch_log_fatal); }
  ~QuietC10d() { compat::set_torch_log_level(level_); }
  QuietC10d(const QuietC10d&) = delete;
  QuietC10d& operator=(const QuietC10d&) = delete;

 private:
  int level_;
};

// Gloo's own rendezvous can wait without limit for a rank that joined the store and then died; the alarm bounds it.
char g_rendezvous_message[256];
void on_rendezvous_alarm(int) {
  const ssize_t ignored = write(STDERR_FILENO, g_rendezvous_message, std::strlen(g_rendezvous_message));
  (void)ignored;
  _exit(kExitUsage);
}

DistOptions worker_options(const Config& config, int world_size) {
  DistOptions o;
  o.rank = parse_int("RANK", env("RANK").value_or(""));
  o.world_size = world_size;
  o.local_rank = parse_int("LOCAL_RANK", env("LOCAL_RANK").value_or("0"));
  const auto addr = env("MASTER_ADDR"), port = env("MASTER_PORT");
  if (!addr || !port) throw ConfigError("RANK and WORLD_SIZE are set but MASTER_ADDR or MASTER_PORT is not");
  o.master_addr = *addr;
  o.master_port = parse_int("MASTER_PORT", *port);
  o.interface = env("GLOO_SOCKET_IFNAME").value_or("");
  o.timeout = std::chrono::milliseconds(static_cast<int64_t>(config.train.dist_timeout_s * 1000));
  const auto agent_store = env("TORCHELASTIC_USE_AGENT_STORE").value_or("");
  o.agent_store = agent_store == "True" || agent_store == "true" || agent_store == "1";
  o.attempt = worker_restarts();
  return o;
}

// The process group, with c10d's glog lines for each failed bind or connect silenced: the error names the cause
// in one line instead. The whole rendezvous (store, then Gloo, each with the timeout) is bounded by an alarm.
std::shared_ptr<ProcessGroup> form_group(const DistOptions& o, double timeout_s) {
  const auto limit_s = static_cast<unsigned>(2 * timeout_s + 5);
  std::snprintf(g_rendezvous_message, sizeof g_rendezvous_message,
                "seqenc: error: rank %d: the rendezvous at %s:%d did not complete within %u s (a rank failed or never "
                "started)\n",
                o.rank, o.master_addr.c_str(), o.master_port, limit_s);
  std::signal(SIGALRM, on_rendezvous_alarm);
  alarm(limit_s);
  std::shared_ptr<ProcessGroup> group;
  {
    const QuietC10d quiet;
    group = std::make_shared<ProcessGroup>(o);
  }
  alarm(0);
  std::signal(SIGALRM, SIG_DFL);
  return group;
}

}  // namespace

bool launches_workers(const LaunchArgs& args) {
  return (args.nproc > 1 || args.nnodes > 1 || args.max_restarts > 0) && !env("RANK");
}

Rendezvous resolve_rendezvous(const LaunchArgs& args) {
  if (args.nproc < 1 || args.nproc > kMaxWorkers) throw ConfigError("--nproc: must be in [1, 1024]");
  if (args.nnodes < 1) throw ConfigError("--nnodes: must be >= 1");
  if (args.max_restarts < 0) throw ConfigError("--max-restarts: must be >= 0");
  if (args.node_rank < 0 || args.node_rank >= args.nnodes)
    throw ConfigError(fmt::format("--node-rank: must be in [0, --nnodes {})", args.nnodes));
  Rendezvous r{!args.master_addr.empty() ? args.master_addr : env("MASTER_ADDR").value_or(""), 0, args.nproc,
               args.node_rank, args.nproc * args.nnodes};
  std::string port = !args.master_port.empty() ? args.master_port : env("MASTER_PORT").value_or("");
  if (args.nnodes > 1 && (r.addr.empty() || port.empty()))
    throw ConfigError(
        "--nnodes > 1: give --master-addr and --master-port (or MASTER_ADDR, MASTER_PORT), the same "
        "on every machine");
  if (r.addr.empty()) r.addr = "127.0.0.1";
  r.port = port.empty() ? free_port() : parse_int("--master-port", port);
  // Node 0's rank 0 serves the rendezvous: its port must be free there.
  if (auto problem = port_problem(r.port, args.node_rank == 0); !problem.empty())
    throw ConfigError(fmt::format("--master-port {}: {}", r.port, problem));
  return r;
}

int launch_workers(const LaunchArgs& args, const WorkerArgs& worker_args, double timeout_s) {
  const auto rendezvous = resolve_rendezvous(args);
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  const QuietC10d quiet;  // the launcher's store: a master not there yet, a node that does not come
  LauncherStore store(rendezvous.addr, rendezvous.port, args.node_rank, args.nnodes, timeout);
  std::signal(SIGINT, forward_signal);
  std::signal(SIGTERM, forward_signal);
  for (int restarts = 0;; ++restarts) {
    if (args.nnodes > 1) store.meet(restarts);
    if (g_forwarded != 0) return exit_code_for_signal(g_forwarded);  // a stop request between two attempts
    spawn_workers(rendezvous, worker_args(restarts > 0), Round{restarts, args.max_restarts});
    const auto end = Supervisor(rendezvous, timeout_s, restarts < args.max_restarts).wait_all();
    if (end.code == kExitOk || end.stopped || restarts >= args.max_restarts) return end.code;
    fmt::print(stderr,
               "seqenc: {}; restart {} of {} (--max-restarts): the {} worker(s) of node {} start again from "
               "the last checkpoint\n",
               end.failure, restarts + 1, args.max_restarts, rendezvous.nproc, rendezvous.node_rank);
  }
}

int worker_restarts() {
  const auto count = env("TORCHELASTIC_RESTART_COUNT");
  return count ? parse_int("TORCHELASTIC_RESTART_COUNT", *count) : 0;
}

Rank join_workers(const Config& config) {
  const auto rank = env("RANK"), world = env("WORLD_SIZE");
  const int world_size = world ? parse_int("WORLD_SIZE", *world) : 1;
  if (!rank || world_size == 1) {
    use_threads(config.train.threads);
    return {};
  }
  const auto options = worker_options(config, world_size);
  // The machine's cores shared among its workers, unless train.threads says otherwise.
  const int local_world = parse_int("LOCAL_WORLD_SIZE", env("LOCAL_WORLD_SIZE").value_or("1"));
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  use_threads(config.train.threads > 0 ? config.train.threads : std::max(1, cores / std::max(1, local_world)));
  std::signal(SIGPIPE, SIG_IGN);
  return Rank::of(form_group(options, config.train.dist_timeout_s));
}

}  // namespace seqenc::app
