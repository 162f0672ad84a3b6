#include "seqenc/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "seqenc/error.h"

namespace seqenc {

namespace fs = std::filesystem;

bool write_all(int fd, const void* data, size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = EIO;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

namespace {

std::string cause(int error) { return std::strerror(error); }

[[noreturn]] void cannot_write(const fs::path& path, const std::string& why) {
  throw WriteError("cannot write " + path.string() + ": " + why);
}

// fsync of a directory, so that a rename in it is durable. Some file systems cannot (EINVAL): nothing to do.
void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  const int rc = ::fsync(fd), error = errno;
  ::close(fd);
  if (rc != 0 && error != EINVAL && error != EROFS) cannot_write(dir, cause(error));
}

}  // namespace

AtomicFile::AtomicFile(fs::path path) : path_(std::move(path)), tmp_(path_.string() + ".tmp") {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) cannot_write(path_, cause(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

bool AtomicFile::write(const void* data, size_t n) {
  if (!failure_.empty()) return false;
  if (!write_all(fd_, data, n)) failure_ = cause(errno);
  return failure_.empty();
}

void AtomicFile::fail(const std::string& why) {
  if (failure_.empty()) failure_ = why.empty() ? "unknown error" : why;
}

void AtomicFile::commit() {
  if (failure_.empty() && ::fsync(fd_) != 0) failure_ = cause(errno);
  const int rc = ::close(fd_);
  if (failure_.empty() && rc != 0) failure_ = cause(errno);
  fd_ = -1;
  if (failure_.empty() && ::rename(tmp_.c_str(), path_.c_str()) != 0) failure_ = cause(errno);
  if (!failure_.empty()) cannot_write(path_, failure_ + " (the previous file, if any, is unchanged)");
  committed_ = true;
  sync_directory(path_.parent_path());
}

void write_file_atomic(const fs::path& path, const std::string& content) {
  AtomicFile out(path);
  out.write(content.data(), content.size());
  out.commit();
}

void append_to_file(const fs::path& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) cannot_write(path, cause(errno));
  const bool ok = write_all(fd, text.data(), text.size());
  const int error = errno;
  ::close(fd);
  if (!ok) cannot_write(path, cause(error));
}

void sync_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // nothing written yet
  const int rc = ::fsync(fd), error = errno;
  ::close(fd);
  if (rc != 0) cannot_write(path, cause(error));
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

bool FileLock::try_lock(const fs::path& path, FileLock& lock, long& holder_pid) {
  holder_pid = 0;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) cannot_write(path, cause(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    if (error == EWOULDBLOCK) {
      char buf[32] = {};
      if (::pread(fd, buf, sizeof buf - 1, 0) > 0) holder_pid = std::strtol(buf, nullptr, 10);
    }
    ::close(fd);
    if (error == EWOULDBLOCK) return false;
    throw WriteError("cannot lock " + path.string() + ": " + cause(error));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int error = errno;
    ::close(fd);
    cannot_write(path, cause(error));
  }
  lock = FileLock();
  lock.fd_ = fd;
  return true;
}

std::string input_problem(const std::filesystem::path& path) {
  std::error_code error;
  const auto status = fs::status(path, error);
  if (error || !fs::exists(status)) return "no such file";
  if (fs::is_directory(status)) return "is a directory, not a file";
  if (::access(path.c_str(), R_OK) != 0) return "cannot read (" + cause(errno) + ")";
  return "";
}

std::string read_whole_file(const std::filesystem::path& path, std::string* problem) {
  if (auto why = input_problem(path); !why.empty()) {
    *problem = why;
    return "";
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *problem = std::strerror(errno);
    return "";
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) *problem = "read error";
  return bytes;
}

}  // namespace seqenc
