//===- FileLock.cpp - Advisory per-file locks (flock) ---------------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/FileLock.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace attnjit {

std::optional<FileLock> FileLock::lockImpl(const std::string &path, bool wait,
                                           std::string *error) {
  int fd;
  do {
    // O_NOFOLLOW: a symbolic link planted at the lock's path must not make
    // us create or open a file elsewhere; O_NONBLOCK: a FIFO there must not
    // block the open (flock still waits: LOCK_NB decides that).
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0666);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (error)
      *error = "cannot open lock file " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK && !wait)
      return std::nullopt;
    if (error)
      *error = "cannot lock " + path + ": " + std::strerror(err);
    return std::nullopt;
  }
  return FileLock(fd);
}

std::optional<FileLock> FileLock::acquire(const std::string &path, std::string *error) {
  return lockImpl(path, /*wait=*/true, error);
}

std::optional<FileLock> FileLock::tryAcquire(const std::string &path, std::string *error) {
  return lockImpl(path, /*wait=*/false, error);
}

FileLock::FileLock(FileLock &&other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

FileLock &FileLock::operator=(FileLock &&other) noexcept {
  if (this != &other) {
    unlock();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() { unlock(); }

void FileLock::unlock() {
  if (fd_ < 0)
    return;
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
  fd_ = -1;
}

} // namespace attnjit
