#include "sweep_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include <fmt/core.h>

#include "exit_codes.h"
#include "process.h"
#include "seqenc/error.h"
#include "seqenc/strings.h"

extern char** environ;

namespace seqenc::app {

namespace {

std::vector<std::string> run_args(const RunLaunch& launch, int nproc, int max_restarts) {
  std::vector<std::string> a{"seqenc", "train", "--config", launch.config};
  for (const auto& o : launch.overrides) a.insert(a.end(), {"--set", o});
  a.insert(a.end(), {"--run-dir", launch.dir.string()});
  if (launch.resume) a.push_back("--resume");
  if (nproc > 1) a.insert(a.end(), {"--nproc", std::to_string(nproc)});
  if (max_restarts > 0) a.insert(a.end(), {"--max-restarts", std::to_string(max_restarts)});
  return a;
}

// The run's error line from its output ("seqenc: error: ..." last), else what its status says.
std::string error_of(const std::filesystem::path& log, int status) {
  std::ifstream in(log);
  std::string line, error;
  const std::string prefix = "seqenc: error: ";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) error = line.substr(prefix.size());
  }
  if (!error.empty()) return error;
  if (WIFEXITED(status)) return fmt::format("exited with status {} (see {})", WEXITSTATUS(status), log.string());
  return fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
}

}  // namespace

void ProcessLauncher::start(const RunLaunch& launch) {
  std::filesystem::create_directories(launch.dir);
  const auto log = launch.dir / "console.log";
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw WriteError(log.string() + ": cannot open (" + std::strerror(errno) + ")");
  auto strings = run_args(launch, nproc_, max_restarts_);
  std::vector<char*> argv;
  for (auto& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t sweep = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {  // after fork, only async-signal-safe calls
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != sweep) _exit(kExitFailure);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    execve("/proc/self/exe", argv.data(), environ);
    _exit(127);
  }
  ::close(fd);
  running_[pid] = {launch.index, log};
}

RunEnd ProcessLauncher::wait() {
  while (!running_.empty()) {
    const auto cause = stop_requested();
    if (!cause.empty() && !forwarded_) {
      for (const auto& [pid, run] : running_) kill(pid, cause == "Ctrl-C" ? SIGINT : SIGTERM);
      forwarded_ = true;
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    const auto it = pid > 0 ? running_.find(pid) : running_.end();
    if (it == running_.end()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    RunEnd end;
    end.index = it->second.index;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : exit_code_for_signal(WTERMSIG(status));
    end.ok = code == kExitOk;
    end.interrupted = code == exit_code_for_signal(SIGINT) || code == exit_code_for_signal(SIGTERM);
    if (!end.ok && !end.interrupted) end.error = error_of(it->second.log, status);
    running_.erase(it);
    return end;
  }
  throw std::logic_error("ProcessLauncher::wait: no run is running");
}

}  // namespace seqenc::app
