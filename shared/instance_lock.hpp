#pragma once
// The exclusive lock that makes a supervisor the only one for its instance name:
// flock(2) on /dev/shm/dynmgr.<uid>.<instance>.lock, mode 0600. The kernel drops
// it when the holder dies, however it dies, so there is no pid-file guessing.

#include "shared/error.hpp"
#include "shared/names.hpp"

#include <string>

namespace dynmgr {

class InstanceLock {
 public:
  // kAlreadyRunning if another process holds it.
  static Result<InstanceLock> acquire(const Names& names);
  // True if some process holds the lock right now (does not take it).
  static bool held(const Names& names);

  InstanceLock(InstanceLock&& other) noexcept;
  InstanceLock& operator=(InstanceLock&& other) noexcept;
  ~InstanceLock();
  // Does the lock file's name still name the file this lock holds? (False
  // once someone removed or replaced it: another supervisor could then start
  // under the name; the holder acquires a new one.)
  bool intact() const;
  // Unlinks the lock file, then releases the lock (clean shutdown only).
  void release_and_remove();

 private:
  InstanceLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

}  // namespace dynmgr
