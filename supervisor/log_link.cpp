#include "supervisor/log_link.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "shared/clock.hpp"
#include "shared/log.hpp"
#include "shared/log_files.hpp"
#include "supervisor/spawner.hpp"

namespace dynmgr {
namespace {

constexpr std::uint64_t kRetryAfterMs = 10'000;
constexpr int kHighFd = 10;  // above the descriptors a spawn dup2s onto

int fd_above(int fd) {
  if (fd < 0 || fd >= kHighFd) return fd;
  const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, kHighFd);
  ::close(fd);
  return high;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

Result<sockaddr_un> address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) {
    return Error{Errc::kInvalid, "socket path " + path + " is too long (over " +
                                     std::to_string(sizeof a.sun_path - 1) + " bytes)"};
  }
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

}  // namespace

WorkerStdio::~WorkerStdio() {
  if (out_ >= 0) ::close(out_);
  if (err_ >= 0) ::close(err_);
}

LogLink::LogLink(LogConfig config, std::string executable)
    : config_(std::move(config)), executable_(std::move(executable)) {}

LogLink::~LogLink() { disconnect(); }

void LogLink::disconnect() { close_fd(sock_); }

Status LogLink::connect() {
  if (sock_ >= 0) return {};
  std::error_code ec;
  // Created 0700 (worker output is nobody else's business); one that exists
  // keeps its mode.
  if (std::filesystem::create_directories(config_.dir, ec)) ::chmod(config_.dir.c_str(), 0700);
  if (ec)
    return Error{Errc::kFailed, "unable to create log dir " + config_.dir + ": " + ec.message()};
  auto addr = address(config_.dir + "/" + logfiles::kSocketName);
  if (!addr) return addr.error();
  int s = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return errno_error("unable to create a socket", errno);
  if (::connect(s, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) == 0) {
    sock_ = fd_above(s);
    return {};
  }
  ::close(s);
  return start_collector();
}

Status LogLink::start_collector() {
  const std::string lock_path = config_.dir + "/" + logfiles::kLockName;
  const std::string sock_path = config_.dir + "/" + logfiles::kSocketName;
  auto addr = address(sock_path);
  if (!addr) return addr.error();
  int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0) return errno_error("unable to open " + lock_path, errno);
  if (::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ::close(lock);
    // Held, but nobody listens: a collector is on its way out (it unlinks its
    // socket, then exits). The next spawn tries again.
    return errno_error("a log collector holds " + lock_path + " but does not answer", e);
  }
  lock = fd_above(lock);
  ::unlink(sock_path.c_str());
  int listener = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (listener < 0) {
    const int e = errno;
    ::close(lock);
    return errno_error("unable to create a socket", e);
  }
  listener = fd_above(listener);
  if (::bind(listener, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0 ||
      ::listen(listener, 64) != 0) {
    const int e = errno;
    ::close(listener);
    ::close(lock);
    return errno_error("unable to listen on " + sock_path, e);
  }
  ::chmod(sock_path.c_str(), 0600);
  int s = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s >= 0 && ::connect(s, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    ::close(s);
    s = -1;
  }
  if (s < 0) {
    const int e = errno;
    ::close(listener);
    ::close(lock);
    return errno_error("unable to connect to " + sock_path, e);
  }
  SpawnFds fds;
  fds.dup = {{lock, 3}, {listener, 4}};
  fds.new_session = true;
  auto sp =
      spawn_process(executable_, {executable_, logfiles::kCollectorRoleFlag, config_.dir}, {}, fds);
  ::close(listener);
  ::close(lock);
  if (!sp) {
    ::close(s);
    return sp.error();
  }
  // Not ours to reap: it outlives us on purpose. Its exit status is collected
  // by whoever reaps our orphans, or by us on any reap-by-pid of a stale entry.
  log_info("started the log collector (pid " + std::to_string(sp->pid) + ") for " + config_.dir);
  sock_ = fd_above(s);
  return {};
}

Status LogLink::send(const std::string& id, int out_read, int err_read) {
  const std::string text =
      "R " + std::to_string(config_.max_bytes) + " " + std::to_string(config_.keep) + " " + id;
  iovec iov{const_cast<char*>(text.data()), text.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 2)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * 2);
  const int fds[2] = {out_read, err_read};
  std::memcpy(CMSG_DATA(c), fds, sizeof fds);
  // Never blocks the loop: a collector that lets its socket fill up is treated
  // as unreachable.
  if (::sendmsg(sock_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
    return errno_error("unable to reach the log collector", errno);
  }
  return {};
}

std::optional<WorkerStdio> LogLink::open_for(const std::string& id) {
  if (!enabled()) return std::nullopt;
  if (sock_ < 0 && retry_after_mono_ != 0 && mono_ms() < retry_after_mono_) return std::nullopt;
  // One retry: the collector we knew may have exited (a clean stop of its
  // last worker) between two spawns; then we start the next one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto st = connect(); !st) {
      retry_after_mono_ = mono_ms() + kRetryAfterMs;
      log_error("worker logs unavailable (worker '" + id +
                "' writes to the supervisor's output): " + st.error().message);
      return std::nullopt;
    }
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
      log_error("unable to create a pipe for worker '" + id + "': " + std::strerror(errno));
      return std::nullopt;
    }
    if (::pipe2(err, O_CLOEXEC) != 0) {
      log_error("unable to create a pipe for worker '" + id + "': " + std::strerror(errno));
      ::close(out[0]);
      ::close(out[1]);
      return std::nullopt;
    }
    const auto sent = send(id, out[0], err[0]);
    ::close(out[0]);
    ::close(err[0]);
    if (sent) return WorkerStdio(fd_above(out[1]), fd_above(err[1]));
    ::close(out[1]);
    ::close(err[1]);
    disconnect();
    if (attempt == 1) {
      retry_after_mono_ = mono_ms() + kRetryAfterMs;
      log_error("worker logs unavailable (worker '" + id +
                "' writes to the supervisor's output): " + sent.error().message);
    }
  }
  return std::nullopt;
}

}  // namespace dynmgr
