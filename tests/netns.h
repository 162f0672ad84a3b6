#pragma once
// Several hosts on this machine, for the multi-host tests: a network namespace each (and its own host name), joined
// through veth pairs to a bridge in a namespace of its own, with link-local addresses (169.254.7.x) that exist only
// inside these namespaces, so nothing is sent anywhere else. Needs root; ok() is false where `ip netns add` is
// refused, and the tests then say they were skipped. Everything is removed when the object goes, failed test or not.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli.h"

namespace seqenc::test {

class VirtualHosts {
 public:
  explicit VirtualHosts(int hosts) : hosts_(hosts) {
    static int counter = 0;
    prefix_ = "seqenc" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_";
    ok_ = run("ip netns add " + hub()) && run("ip -n " + hub() + " link add br0 type bridge") &&
          run("ip -n " + hub() + " link set br0 up");
    for (int h = 0; ok_ && h < hosts_; ++h) ok_ = add_host(h);
  }
  ~VirtualHosts() {
    for (int h = 0; h < hosts_; ++h) kill_host(h);
    for (int h = 0; h < hosts_; ++h) run("ip netns del " + ns(h));
    run("ip netns del " + hub());
  }
  VirtualHosts(const VirtualHosts&) = delete;
  VirtualHosts& operator=(const VirtualHosts&) = delete;

  bool ok() const { return ok_; }
  std::string address(int host) const { return "169.254.7." + std::to_string(host + 1); }
  std::string ns(int host) const { return prefix_ + "h" + std::to_string(host); }

  // A shell command line that runs `command` on host `host`: in its network namespace, as host name hostN.
  std::string on_host(int host, const std::string& command) const {
    return "ip netns exec " + ns(host) + " unshare --uts sh -c 'hostname host" + std::to_string(host) + " && exec " +
           command + "'";
  }

  // The processes running on the host.
  std::vector<pid_t> pids(int host) const {
    std::istringstream text(slurp_command("ip netns pids " + ns(host)));
    std::vector<pid_t> out;
    for (long pid = 0; text >> pid;) out.push_back(static_cast<pid_t>(pid));
    return out;
  }

  // Every process of the host, killed as a power cut would: all frozen first, so that none sees another die (a
  // worker whose launcher died first gets SIGTERM from PR_SET_PDEATHSIG and would stop gracefully).
  void kill_host(int host) const {
    const auto all = pids(host);
    for (const pid_t pid : all) ::kill(pid, SIGSTOP);
    for (const pid_t pid : all) ::kill(pid, SIGKILL);
  }

  // The cable between the host and the bridge, pulled out (up = false) or put back.
  bool set_link(int host, bool up) const {
    return run("ip -n " + hub() + " link set p" + std::to_string(host) + (up ? " up" : " down"));
  }

 private:
  static bool run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

  static std::string slurp_command(const std::string& command) {
    std::string out;
    if (FILE* p = popen((command + " 2>/dev/null").c_str(), "r")) {
      char buf[256];
      while (fgets(buf, sizeof buf, p)) out += buf;
      pclose(p);
    }
    return out;
  }

  std::string hub() const { return prefix_ + "hub"; }

  bool add_host(int h) const {
    const auto p = "p" + std::to_string(h);
    return run("ip netns add " + ns(h)) &&
           run("ip -n " + hub() + " link add " + p + " type veth peer name eth0 netns " + ns(h)) &&
           run("ip -n " + hub() + " link set " + p + " master br0 up") &&
           run("ip -n " + ns(h) + " addr add " + address(h) + "/24 dev eth0") &&
           run("ip -n " + ns(h) + " link set eth0 up") && run("ip -n " + ns(h) + " link set lo up");
  }

  int hosts_;
  std::string prefix_;
  bool ok_ = false;
};

// A shell command started in the background, its stderr (and stdout) in a file.
struct Background {
  pid_t pid = -1;
  std::filesystem::path log;
  std::chrono::steady_clock::time_point ended;
};

inline Background start_background(const std::string& command, const std::filesystem::path& log) {
  std::fflush(nullptr);
  Background b{-1, log, {}};
  const std::string line = "exec " + command + " > " + log.string() + " 2>&1";
  b.pid = fork();
  if (b.pid == 0) {
    execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return b;
}

// Its exit status (128 + signal if killed), or -1 when it did not end within max_s (it is then killed).
inline int wait_background(Background& b, double max_s) {
  const auto start = std::chrono::steady_clock::now();
  int raw = 0;
  while (waitpid(b.pid, &raw, WNOHANG) == 0) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > max_s) {
      ::kill(b.pid, SIGKILL);
      waitpid(b.pid, &raw, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  b.ended = std::chrono::steady_clock::now();
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
}

}  // namespace seqenc::test
