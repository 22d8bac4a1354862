#pragma once
// Which of this instance's objects in /dev/shm were touched from outside
// (README "Tampered shared memory"): inotify on /dev/shm, read without waiting
// on the loop's shared-object check (Supervisor::Loop::check_shared_objects).
//
// Unlinks, renames away and truncations (IN_DELETE, IN_MOVED_FROM, IN_MODIFY:
// ftruncate raises it; stores through a mapping never do) of names under the
// instance's prefix are reported by name; the caller stat()s what it owns.
// Costs nothing while /dev/shm is quiet: one read(2) per check, no thread, no
// wake-up of its own. When the kernel dropped events (its queue overflowed),
// or inotify is unavailable, take() says `everything`: check every object.
//
// Threading: the loop thread only (the descriptor lives in its table).

#include <string>
#include <vector>

namespace dynmgr {

class ShmWatch {
 public:
  explicit ShmWatch(std::string prefix);
  ~ShmWatch();
  ShmWatch(const ShmWatch&) = delete;
  ShmWatch& operator=(const ShmWatch&) = delete;

  struct Changes {
    std::vector<std::string> names;  // object names (not paths), each once
    bool everything = false;         // events were lost, or there is no inotify
  };
  // What happened since the last call.
  Changes take();
  // Why there is no inotify ("" when there is one).
  const std::string& unavailable() const noexcept { return error_; }

 private:
  std::string prefix_;
  int fd_ = -1;
  std::string error_;
};

}  // namespace dynmgr
