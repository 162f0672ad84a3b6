#pragma once
// Runs the seqenc program as a user would, capturing exit status and output.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace seqenc::test {

struct CommandResult {
  int status = -1;
  std::string out, err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline CommandResult run_seqenc(const std::string& args) {
  static int counter = 0;
  const auto base = std::filesystem::temp_directory_path() /
                    ("seqenc_cli_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  const std::string command = std::string("cd " SEQENC_SOURCE_DIR " && " SEQENC_BINARY " ") + args + " > " +
                              base.string() + ".out 2> " + base.string() + ".err";
  CommandResult r;
  const int raw = std::system(command.c_str());
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  r.out = slurp(base.string() + ".out");
  r.err = slurp(base.string() + ".err");
  std::filesystem::remove(base.string() + ".out");
  std::filesystem::remove(base.string() + ".err");
  return r;
}

}  // namespace seqenc::test
