#include "shared/service_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace dynmgr {

ServiceNotifier ServiceNotifier::from_environment() {
  const char* s = std::getenv("NOTIFY_SOCKET");
  return s != nullptr ? ServiceNotifier(s) : ServiceNotifier();
}

Status ServiceNotifier::notify(std::string_view state) const {
  if (!active()) return {};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if ((socket_[0] != '/' && socket_[0] != '@') || socket_.size() < 2) {
    return make_error(Errc::kInvalid, "NOTIFY_SOCKET '" + socket_ +
                                          "' is neither an absolute path nor an @abstract name");
  }
  // An abstract address has no terminating NUL: its length is the name's.
  // A path keeps room for its NUL (sun_path is zeroed).
  if (socket_.size() >= sizeof(addr.sun_path)) {
    return make_error(Errc::kInvalid, "NOTIFY_SOCKET '" + socket_ + "' is too long");
  }
  std::memcpy(addr.sun_path, socket_.data(), socket_.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size());
  if (socket_[0] == '@') {
    addr.sun_path[0] = '\0';
  } else {
    ++len;
  }
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_error("socket(AF_UNIX, SOCK_DGRAM)", errno);
  // systemd reads its socket at once (and makes its buffer large), so a send
  // does not wait; should its queue ever be full, a bounded wait, never a
  // stalled supervisor loop.
  const timeval limit{0, 100'000};
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  iovec iov{const_cast<char*>(state.data()), state.size()};
  msghdr msg{};
  msg.msg_name = &addr;
  msg.msg_namelen = len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  const int err = errno;
  ::close(fd);
  if (n < 0) return errno_error("send to NOTIFY_SOCKET " + socket_, err);
  return {};
}

std::string notify_status_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n') c = ' ';
  }
  return out;
}

}  // namespace dynmgr
