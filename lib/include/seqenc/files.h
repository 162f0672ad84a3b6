// Files that survive a kill at any moment and fail cleanly on a full disk: whole files are replaced atomically
// and durably, appends are one write(2), and a failed write throws WriteError naming the file and the cause
// (no space left, file too large, read-only file system).
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>

namespace seqenc {

// Replaces `path` through a temporary file beside it (`path`.tmp): write, fsync, rename over `path`, fsync of
// the directory. A kill at any moment leaves the old file or the new one (perhaps with a stale temporary,
// overwritten by the next write); a failure leaves the old file and removes the temporary.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path);  // WriteError if the temporary cannot be created
  ~AtomicFile();                                    // removes the temporary unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Writes all n bytes; false once any write failed (the cause is kept for commit()).
  bool write(const void* data, size_t n);
  // Records a failure that did not come from write() (e.g. a serializer's own error).
  void fail(const std::string& cause);
  // fsync, rename, fsync of the directory; WriteError naming the path and the first failure's cause.
  void commit();

 private:
  std::filesystem::path path_, tmp_;
  int fd_ = -1;
  std::string failure_;
  bool committed_ = false;
};

// write_file_atomic(path, content): AtomicFile in one call.
void write_file_atomic(const std::filesystem::path& path, const std::string& content);
// Appends `text` with one unbuffered write; WriteError on failure (a cut-short line may remain).
void append_to_file(const std::filesystem::path& path, const std::string& text);
// fsync of a file that exists; WriteError on failure.
void sync_file(const std::filesystem::path& path);
// Why `path` cannot be read as an input file ("no such file", "is a directory, not a file", "cannot read
// (Permission denied)"), or "" when it can. Every reader of users' files asks this first, so that a directory
// given as a file is one line naming it rather than a stream error naming nothing.
std::string input_problem(const std::filesystem::path& path);
// write(2) until all n bytes are out (EINTR retried); false, errno set, on failure. Allocates nothing.
bool write_all(int fd, const void* data, size_t n);
// The whole file; "" and why in *problem when it cannot be read.
std::string read_whole_file(const std::filesystem::path& path, std::string* problem);

// An advisory lock (flock) on a file, held while this object lives. The kernel releases it when the process
// ends, however it ends, so a killed process never leaves a stale lock.
class FileLock {
 public:
  FileLock() = default;
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  // Creates `path` if needed and takes the lock without waiting; on success the file holds this process's id.
  // Returns false (holder_pid set to the holder's id, or 0 if unknown) when another process holds it;
  // WriteError if the file cannot be created or locked.
  static bool try_lock(const std::filesystem::path& path, FileLock& lock, long& holder_pid);
  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace seqenc
