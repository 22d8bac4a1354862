#include "shared/instance_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace dynmgr {

Result<InstanceLock> InstanceLock::acquire(const Names& names) {
  const std::string path = Names::shm_path(names.lock());
  // The holder unlinks the file at clean shutdown; a process that locked the old
  // inode would then hold a lock nobody else sees. So after locking, check the
  // path still names our inode, and start over if it does not.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return errno_error("unable to open lock " + path, errno);
    ::fchmod(fd, 0600);  // the umask may have narrowed it; never widen beyond 0600
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        return make_error(Errc::kAlreadyRunning,
                          "a supervisor is already running under '" + names.instance() + "'");
      }
      return errno_error("unable to lock " + path, err);
    }
    struct stat by_fd{};
    struct stat by_path{};
    if (::fstat(fd, &by_fd) == 0 && ::stat(path.c_str(), &by_path) == 0 &&
        by_fd.st_ino == by_path.st_ino && by_fd.st_dev == by_path.st_dev) {
      return InstanceLock(fd, path);
    }
    ::close(fd);
  }
  return make_error(Errc::kFailed, "unable to lock " + path + ": it keeps being replaced");
}

bool InstanceLock::held(const Names& names) {
  const std::string path = Names::shm_path(names.lock());
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  const bool busy = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return busy;
}

InstanceLock::InstanceLock(InstanceLock&& other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

InstanceLock& InstanceLock::operator=(InstanceLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

InstanceLock::~InstanceLock() {
  if (fd_ >= 0) ::close(fd_);
}

bool InstanceLock::intact() const {
  if (fd_ < 0) return false;
  struct stat by_fd{};
  struct stat by_path{};
  return ::fstat(fd_, &by_fd) == 0 && ::stat(path_.c_str(), &by_path) == 0 &&
         by_fd.st_ino == by_path.st_ino && by_fd.st_dev == by_path.st_dev;
}

void InstanceLock::release_and_remove() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());
  ::close(fd_);
  fd_ = -1;
}

}  // namespace dynmgr
