#include "supervisor/shm_watch.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_set>

namespace dynmgr {

ShmWatch::ShmWatch(std::string prefix) : prefix_(std::move(prefix)) {
  fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) {
    error_ = std::string("inotify: ") + std::strerror(errno);
    return;
  }
  if (::inotify_add_watch(fd_, "/dev/shm", IN_DELETE | IN_MOVED_FROM | IN_MODIFY) < 0) {
    error_ = std::string("inotify on /dev/shm: ") + std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
  }
}

ShmWatch::~ShmWatch() {
  if (fd_ >= 0) ::close(fd_);
}

ShmWatch::Changes ShmWatch::take() {
  Changes c;
  if (fd_ < 0) {
    c.everything = true;
    return c;
  }
  alignas(inotify_event) char buf[16384];
  // Each name once, in the order first seen: a second's worth of events can be
  // thousands (every mailbox a mass del removes), so no linear search per event.
  std::unordered_set<std::string> seen;
  for (;;) {
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: nothing more
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      if (ev->mask & IN_Q_OVERFLOW) {
        c.everything = true;
        continue;
      }
      if (ev->len == 0) continue;
      const std::string name(ev->name, ::strnlen(ev->name, ev->len));
      if (name.rfind(prefix_, 0) != 0) continue;
      if (seen.insert(name).second) c.names.push_back(name);
    }
  }
  return c;
}

}  // namespace dynmgr
