//===- FileLock.h - Advisory per-file locks (flock) ---------------*- C++ -*-===//
//
// Part of attnjit. The disk cache serializes compiles of one key across threads
// and processes with flock(2) on a lock file next to the entry. flock locks
// belong to an open file description, so two threads of one process that each
// open the lock file exclude each other just like two processes do, and the
// kernel drops the lock when its holder dies: a killed compiler never leaves a
// lock that blocks the next one. Lock files are never deleted (deleting one
// while another process waits on it would let two holders in at once).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_FILELOCK_H
#define ATTNJIT_RUNTIME_FILELOCK_H

#include <optional>
#include <string>

namespace attnjit {

/// An exclusive flock(2) on a file, released by the destructor or unlock().
class FileLock {
public:
  /// Creates `path` if needed and blocks until the exclusive lock is held.
  /// Returns nullopt (and sets *error) when the file cannot be opened or locked.
  static std::optional<FileLock> acquire(const std::string &path, std::string *error = nullptr);
  /// Like acquire() but does not wait: nullopt (error left empty) when another
  /// holder has it.
  static std::optional<FileLock> tryAcquire(const std::string &path, std::string *error = nullptr);

  FileLock(FileLock &&other) noexcept;
  FileLock &operator=(FileLock &&other) noexcept;
  FileLock(const FileLock &) = delete;
  FileLock &operator=(const FileLock &) = delete;
  ~FileLock();

  /// Releases the lock now; a no-op when it is not held.
  void unlock();
  bool held() const { return fd_ >= 0; }

private:
  explicit FileLock(int fd) : fd_(fd) {}
  static std::optional<FileLock> lockImpl(const std::string &path, bool wait, std::string *error);

  int fd_ = -1;
};

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_FILELOCK_H
