#include "launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fmt/core.h>

#include "process.h"
#include "seqenc/compat.h"
#include "seqenc/train/distributed.h"

extern char** environ;

namespace seqenc::app {

namespace {

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

// Whether rank 0 could serve the rendezvous on this port (as the TCPStore binds: any address, SO_REUSEADDR).
bool port_available(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return true;  // let the rendezvous report it
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 || errno != EADDRINUSE;
  close(fd);
  return ok;
}

// The workers' pids, for the signal handler.
constexpr int kMaxWorkers = 1024;
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

int code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

// Gloo's own rendezvous can wait without limit for a rank that joined the store and then died; the alarm bounds it.
char g_rendezvous_message[256];
void on_rendezvous_alarm(int) {
  const ssize_t ignored = write(STDERR_FILENO, g_rendezvous_message, std::strlen(g_rendezvous_message));
  (void)ignored;
  _exit(2);
}

}  // namespace

bool launches_workers(const LaunchArgs& args) { return (args.nproc > 1 || args.nnodes > 1) && !env("RANK"); }

int launch_workers(const LaunchArgs& args, const std::vector<std::string>& worker_args, double timeout_s) {
  if (args.nproc < 1 || args.nproc > kMaxWorkers) throw ConfigError("--nproc: must be in [1, 1024]");
  if (args.nnodes < 1) throw ConfigError("--nnodes: must be >= 1");
  if (args.node_rank < 0 || args.node_rank >= args.nnodes)
    throw ConfigError(fmt::format("--node-rank: must be in [0, --nnodes {})", args.nnodes));
  std::string addr = !args.master_addr.empty() ? args.master_addr : env("MASTER_ADDR").value_or("");
  std::string port = !args.master_port.empty() ? args.master_port : env("MASTER_PORT").value_or("");
  if (args.nnodes > 1 && (addr.empty() || port.empty()))
    throw ConfigError(
        "--nnodes > 1: give --master-addr and --master-port (or MASTER_ADDR, MASTER_PORT), the same "
        "on every machine");
  if (addr.empty()) addr = "127.0.0.1";
  if (port.empty()) port = std::to_string(free_port());
  const int port_number = parse_int("--master-port", port);
  if (port_number < 1 || port_number > 65535) throw ConfigError("--master-port: must be in [1, 65535]");
  if (args.node_rank == 0 && !port_available(port_number)) {
    throw ConfigError(
        fmt::format("--master-port {}: the port is already in use on this machine; choose another", port_number));
  }
  const int world = args.nproc * args.nnodes;

  // Everything a child needs is built before fork: after it, only exec.
  std::vector<std::vector<std::string>> envs;
  for (int local = 0; local < args.nproc; ++local) {
    std::vector<std::string> e;
    for (char** p = environ; *p; ++p) {
      const std::string var = *p;
      const auto name = var.substr(0, var.find('='));
      if (name != "RANK" && name != "WORLD_SIZE" && name != "LOCAL_RANK" && name != "LOCAL_WORLD_SIZE" &&
          name != "MASTER_ADDR" && name != "MASTER_PORT")
        e.push_back(var);
    }
    e.push_back("RANK=" + std::to_string(args.node_rank * args.nproc + local));
    e.push_back("WORLD_SIZE=" + std::to_string(world));
    e.push_back("LOCAL_RANK=" + std::to_string(local));
    e.push_back("LOCAL_WORLD_SIZE=" + std::to_string(args.nproc));
    e.push_back("MASTER_ADDR=" + addr);
    e.push_back("MASTER_PORT=" + port);
    envs.push_back(std::move(e));
  }
  std::vector<std::string> argv_strings{"seqenc"};
  argv_strings.insert(argv_strings.end(), worker_args.begin(), worker_args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::signal(SIGINT, forward_signal);
  std::signal(SIGTERM, forward_signal);
  const pid_t launcher = getpid();
  std::vector<int> ranks;
  for (int local = 0; local < args.nproc; ++local) {
    std::vector<char*> envp;
    for (auto& v : envs[static_cast<size_t>(local)]) envp.push_back(v.data());
    envp.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      setpgid(0, 0);                     // a terminal's Ctrl-C reaches the launcher only, which forwards it once
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // and a launcher that dies takes its workers with it
      if (getppid() != launcher) _exit(1);
      execve("/proc/self/exe", argv.data(), envp.data());
      _exit(127);
    }
    g_workers[local] = pid;
    g_num_workers = local + 1;
  }

  // Wait for every worker; once one has failed, the others get the collectives' timeout to notice and stop.
  using Clock = std::chrono::steady_clock;
  // After a failure, when the survivors are killed; time_point::max(): no failure yet (or already killed).
  auto deadline = Clock::time_point::max();
  int result = 0, remaining = args.nproc;
  bool killed = false;  // the rest were killed here: their ends need no words
  while (remaining > 0) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      if (Clock::now() > deadline) {
        for (int i = 0; i < args.nproc; ++i) {
          if (g_workers[i] <= 0) continue;
          fmt::print(stderr, "seqenc: error: rank {} (pid {}) did not stop within {:.0f} s of a failure; killed\n",
                     args.node_rank * args.nproc + i, g_workers[i], timeout_s + 10);
          kill(g_workers[i], SIGKILL);
        }
        killed = true;
        deadline = Clock::time_point::max();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    --remaining;
    int local = 0;
    while (local < args.nproc && g_workers[local] != pid) ++local;
    if (local == args.nproc) continue;
    g_workers[local] = 0;
    const int code = code_of(status);
    if (code == 0 || killed) continue;
    const bool interrupted = g_forwarded != 0 && code == 128 + g_forwarded;
    if (code == 2 && result == 0) {
      // A configuration or rendezvous problem, already told in one line; the others cannot proceed without it.
      for (int i = 0; i < args.nproc; ++i) {
        if (g_workers[i] > 0) kill(g_workers[i], SIGKILL);
      }
      killed = true;
    } else if (!interrupted) {
      fmt::print(stderr, "seqenc: error: rank {} (pid {}) {}\n", args.node_rank * args.nproc + local, pid,
                 describe(status));
    }
    if (result == 0) {
      result = code;
      deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>((timeout_s + 10) * 1000));
    }
  }
  g_num_workers = 0;
  return result;
}

Rank join_workers(const Config& config) {
  const auto rank = env("RANK"), world = env("WORLD_SIZE");
  int world_size = world ? parse_int("WORLD_SIZE", *world) : 1;
  if (!rank || world_size == 1) {
    use_threads(config.train.threads);
    return {};
  }
  DistOptions o;
  o.rank = parse_int("RANK", *rank);
  o.world_size = world_size;
  o.local_rank = parse_int("LOCAL_RANK", env("LOCAL_RANK").value_or("0"));
  const auto addr = env("MASTER_ADDR"), port = env("MASTER_PORT");
  if (!addr || !port) throw ConfigError("RANK and WORLD_SIZE are set but MASTER_ADDR or MASTER_PORT is not");
  o.master_addr = *addr;
  o.master_port = parse_int("MASTER_PORT", *port);
  o.interface = env("GLOO_SOCKET_IFNAME").value_or("");
  o.timeout = std::chrono::milliseconds(static_cast<int64_t>(config.train.dist_timeout_s * 1000));
  // The machine's cores shared among its workers, unless train.threads says otherwise.
  const int local_world = parse_int("LOCAL_WORLD_SIZE", env("LOCAL_WORLD_SIZE").value_or("1"));
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  use_threads(config.train.threads > 0 ? config.train.threads : std::max(1, cores / std::max(1, local_world)));
  std::signal(SIGPIPE, SIG_IGN);
  // Each stage (store, Gloo) has the timeout; the whole rendezvous gets both and a margin.
  const auto limit_s = static_cast<unsigned>(2 * config.train.dist_timeout_s + 5);
  std::snprintf(g_rendezvous_message, sizeof g_rendezvous_message,
                "seqenc: error: rank %d: the rendezvous at %s:%d did not complete within %u s (a rank failed or never "
                "started)\n",
                o.rank, o.master_addr.c_str(), o.master_port, limit_s);
  std::signal(SIGALRM, on_rendezvous_alarm);
  alarm(limit_s);
  // c10d logs each failed bind or connect (glog in 1.13, c10's logger in 2.x); the error names the cause in one line.
  const int log_level = compat::torch_log_level();
  compat::set_torch_log_level(compat::torch_log_fatal);
  std::shared_ptr<ProcessGroup> group;
  try {
    group = std::make_shared<ProcessGroup>(o);
  } catch (...) {
    compat::set_torch_log_level(log_level);
    throw;
  }
  compat::set_torch_log_level(log_level);
  alarm(0);
  std::signal(SIGALRM, SIG_DFL);
  return Rank::of(std::move(group));
}

}  // namespace seqenc::app
