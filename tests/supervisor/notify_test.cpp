// systemd readiness through a real AF_UNIX datagram socket the test binds and
// names in NOTIFY_SOCKET, as systemd does for a Type=notify service: READY=1
// only once the registry says `up`, STATUS= at state changes, RELOADING=1 and
// READY=1 again around a re-exec (same pid), STOPPING=1 at stop; every
// datagram comes from the supervisor (SO_PASSCRED), and no worker has
// NOTIFY_SOCKET in its environment. Nothing sleeps: receives have deadlines.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>

#include "probe_harness.hpp"

namespace dynmgr::testing {
namespace {

struct Datagram {
  pid_t pid = 0;
  std::string text;
};

// A bound SOCK_DGRAM socket that records each sender's pid (SCM_CREDENTIALS).
// addr: an absolute path, or "@name" in the abstract namespace.
class NotifySocket {
 public:
  explicit NotifySocket(std::string addr) : addr_(std::move(addr)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, addr_.data(), addr_.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + addr_.size());
    if (addr_[0] == '@') {
      a.sun_path[0] = '\0';
    } else {
      ::unlink(addr_.c_str());
      ++len;
    }
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0;
  }
  ~NotifySocket() {
    ::close(fd_);
    if (addr_[0] == '/') ::unlink(addr_.c_str());
  }
  bool bound() const { return bound_; }
  const std::string& addr() const { return addr_; }

  // The next datagram, or nullopt after timeout (0: only what is queued).
  std::optional<Datagram> receive(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buf[4096];
    iovec iov{buf, sizeof buf};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    Datagram d;
    d.text.assign(buf, static_cast<std::size_t>(n));
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        d.pid = cred.pid;
      }
    }
    return d;
  }

  // Receives until a datagram containing `line` (a whole line); every
  // datagram received is appended to seen. nullopt at the deadline.
  std::optional<Datagram> until(const std::string& line, std::vector<Datagram>& seen,
                                std::chrono::milliseconds timeout = kWait) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto d = receive(left);
      if (!d) return std::nullopt;
      seen.push_back(*d);
      if (has_line(d->text, line)) return d;
    }
  }

  static bool has_line(const std::string& text, const std::string& line) {
    return ("\n" + text + "\n").find("\n" + line + "\n") != std::string::npos;
  }

 private:
  std::string addr_;
  int fd_ = -1;
  bool bound_ = false;
};

std::string environ_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (char& c : text) {
    if (c == '\0') c = '\n';
  }
  return text;
}

std::string texts(const std::vector<Datagram>& seen) {
  std::string out;
  for (const auto& d : seen) out += "[" + std::to_string(d.pid) + "] " + d.text + "\n---\n";
  return out;
}

class Notify : public ProbeTest {};

// A boot child whose init takes 300 ms keeps the manager `starting`: READY=1
// must wait for it, and come after the registry says `up`.
constexpr const char* kSlowChild =
    R"({"slow": {"payload": {"init": "sleep", "init_sleep_ms": 300}, "timeout": 0}})";

TEST_F(Notify, ReadyOnlyOnceUpThenReloadingAroundReexecThenStopping) {
  NotifySocket sock("/tmp/dynmgr-notify-" + instance_ + ".sock");
  ASSERT_TRUE(sock.bound()) << std::strerror(errno);
  ASSERT_TRUE(start(ProbeStart{}
                        .with_flags({"--no-state"})
                        .with_children(kSlowChild)
                        .with_env({"NOTIFY_SOCKET=" + sock.addr()})
                        .without_waiting()));
  const pid_t sup = supervisor_pid();
  std::vector<Datagram> seen;
  auto ready = sock.until("READY=1", seen);
  ASSERT_TRUE(ready) << texts(seen) << supervisor_output();
  // The registry was `up` before READY=1 was sent, and the slow init is done.
  auto c = Client::connect(Client::Options{instance_, Millis(15'000)});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->header().manager_state, ManagerState::kUp);
  EXPECT_EQ(log("init").size(), 1u);
  EXPECT_TRUE(NotifySocket::has_line(ready->text, "STATUS=up, 1 worker")) << ready->text;
  ASSERT_GE(seen.size(), 2u) << texts(seen);
  EXPECT_EQ(seen.front().text, "STATUS=starting");

  // The worker never sees the socket (its environment is otherwise ours).
  auto w = c->get("slow");
  ASSERT_TRUE(w) << w.error().message;
  track(w->pid);
  const std::string env = environ_of(w->pid);
  EXPECT_NE(env.find("DYNMGR_WORKER_ID=slow"), std::string::npos) << env;
  EXPECT_EQ(env.find("NOTIFY_SOCKET"), std::string::npos) << env;

  // reexec: RELOADING=1 from the old image, READY=1 from the new one, same pid.
  auto r = c->reexec();
  ASSERT_TRUE(r) << r.error().message;
  auto reloading = sock.until("RELOADING=1", seen);
  ASSERT_TRUE(reloading) << texts(seen);
  EXPECT_NE(reloading->text.find("MONOTONIC_USEC="), std::string::npos) << reloading->text;
  auto again = sock.until("READY=1", seen);
  ASSERT_TRUE(again) << texts(seen);
  EXPECT_TRUE(NotifySocket::has_line(again->text, "STATUS=up, 1 worker (1 adopted)"))
      << again->text;
  // The adopted worker still has no socket in its environment.
  EXPECT_EQ(environ_of(w->pid).find("NOTIFY_SOCKET"), std::string::npos);

  // stop: STOPPING=1, then the process ends.
  ASSERT_TRUE(c->stop());
  auto stopping = sock.until("STOPPING=1", seen);
  ASSERT_TRUE(stopping) << texts(seen);
  EXPECT_TRUE(NotifySocket::has_line(stopping->text, "STATUS=stopping, 1 worker"))
      << stopping->text;
  ASSERT_TRUE(wait_supervisor_exit());
  while (auto d = sock.receive(std::chrono::milliseconds(0))) seen.push_back(*d);

  // Every datagram came from the supervisor's pid: none from a worker.
  for (const auto& d : seen) EXPECT_EQ(d.pid, sup) << texts(seen);
  std::size_t readies = 0;
  for (const auto& d : seen) readies += NotifySocket::has_line(d.text, "READY=1") ? 1 : 0;
  EXPECT_EQ(readies, 2u) << texts(seen);
}

TEST_F(Notify, AbstractSocket) {
  NotifySocket sock("@dynmgr-notify-" + instance_);
  ASSERT_TRUE(sock.bound()) << std::strerror(errno);
  ASSERT_TRUE(
      start(ProbeStart{}.with_flags({"--no-state"}).with_env({"NOTIFY_SOCKET=" + sock.addr()})));
  std::vector<Datagram> seen;
  auto ready = sock.until("READY=1", seen);
  ASSERT_TRUE(ready) << texts(seen) << supervisor_output();
  EXPECT_TRUE(NotifySocket::has_line(ready->text, "STATUS=up, 0 workers")) << ready->text;
  EXPECT_EQ(ready->pid, supervisor_pid());
}

// A socket nobody listens on is logged, never fatal: the supervisor serves.
TEST_F(Notify, AnUnreachableSocketIsLoggedAndIgnored) {
  ASSERT_TRUE(start(ProbeStart{}
                        .with_flags({"--no-state"})
                        .with_env({"NOTIFY_SOCKET=/nonexistent/dynmgr-notify.sock"})));
  EXPECT_TRUE(client().ping());
  EXPECT_NE(supervisor_output().find("unable to notify systemd: send to NOTIFY_SOCKET "
                                     "/nonexistent/dynmgr-notify.sock: No such file or directory"),
            std::string::npos)
      << supervisor_output();
}

}  // namespace
}  // namespace dynmgr::testing
