#pragma once
// What the reliability tests share: starting the program in the background, a run directory's exact contents, two
// runs' parameters compared, and a scratch tmpfs where the machine lets the tests mount one.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "cli.h"
#include "seqenc/train/run.h"

namespace seqenc::test {

// Starts seqenc with these arguments (stdout and stderr to `log`), without waiting.
inline pid_t spawn_seqenc(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::fflush(nullptr);  // or the child flushes a copy of this process's buffered output
  const pid_t pid = fork();
  if (pid == 0) {
    (void)!freopen(log.c_str(), "a", stderr);
    (void)!freopen("/dev/null", "w", stdout);
    std::vector<char*> argv{const_cast<char*>(SEQENC_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(SEQENC_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

// Exit status as a shell reports it: the code, or 128 + the signal.
inline int wait_status(pid_t pid) {
  int raw = 0;
  waitpid(pid, &raw, 0);
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
}

// Every file under dir (relative path -> bytes); empty if dir does not exist.
inline std::map<std::string, std::string> dir_contents(const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  if (!std::filesystem::exists(dir)) return files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    const auto name = std::filesystem::relative(e.path(), dir).string();
    files[name] = e.is_regular_file() ? slurp(e.path()) : std::string("<dir>");
  }
  return files;
}

// Both runs' parameters (last and best checkpoints) are identical, bit for bit.
inline void check_same_parameters(const std::filesystem::path& a, const std::filesystem::path& b) {
  for (auto kind : {CheckpointKind::last, CheckpointKind::best}) {
    auto ra = load_run(a.string(), kind), rb = load_run(b.string(), kind);
    CHECK(ra.state.step == rb.state.step);
    const auto pa = ra.model->named_parameters(), pb = rb.model->named_parameters();
    REQUIRE(pa.size() == pb.size());
    for (const auto& p : pa) {
      INFO(name_of(kind) << " checkpoint, " << p.key());
      CHECK(torch::equal(p.value(), pb[p.key()]));
    }
  }
}

// Lines of stderr that are the program's error line.
inline std::vector<std::string> error_lines(const std::string& err) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < err.size()) {
    const size_t end = err.find('\n', start);
    const auto line = err.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (line.rfind("seqenc: error:", 0) == 0) lines.push_back(line);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

// A tmpfs of `size` (e.g. "256k") mounted on dir while this lives, where mounting is allowed (root here);
// mounted() is false elsewhere and the tests that need one say they were skipped.
class ScratchTmpfs {
 public:
  ScratchTmpfs(std::filesystem::path dir, const std::string& size) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    mounted_ =
        std::system(("mount -t tmpfs -o size=" + size + " seqenc-test " + dir_.string() + " 2>/dev/null").c_str()) == 0;
  }
  ~ScratchTmpfs() {
    if (mounted_) (void)!std::system(("umount " + dir_.string()).c_str());
    std::filesystem::remove_all(dir_);
  }
  bool mounted() const { return mounted_; }
  // mount -o remount with these options (e.g. "ro", "rw,size=8m").
  bool remount(const std::string& options) const {
    return std::system(("mount -o remount," + options + " " + dir_.string() + " 2>/dev/null").c_str()) == 0;
  }

 private:
  std::filesystem::path dir_;
  bool mounted_ = false;
};

}  // namespace seqenc::test
