#include "supervisor/worker_template.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "shared/template_wire.hpp"
#include "shared/worker_args.hpp"

namespace dynmgr {
namespace {

namespace wire = template_wire;

// Waits until `sock` is readable; false at the deadline.
bool readable(int sock, Deadline deadline) {
  for (;;) {
    pollfd p{sock, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline.remaining(std::chrono::hours(1)));
    const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

// Room in the template's argument area for a worker's command line
// (worker/template.cpp writes it there): an instance name and a cgroup path
// fit many times over.
const std::string kPadding(512, ' ');
// And in its environment area, for a worker's additions (DYNMGR_WORKER_ID,
// options up to --max-payload, limits, identity).
const std::string kEnvRoom(16384, ' ');

}  // namespace

Result<WorkerTemplate> WorkerTemplate::start(const std::string& executable,
                                             const std::string& instance, Deadline deadline) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return errno_error("unable to create the worker template's socket", errno);
  }
  SpawnFds fds;
  fds.dup = {{sv[1], kTemplateSocketFd}};
  auto sp = spawn_process(
      executable, {executable, kTemplateRoleFlag, instance, std::to_string(::getpid()), kPadding},
      {std::string(kTemplateRoomEnv) + "=" + kEnvRoom}, fds);
  ::close(sv[1]);
  if (!sp) {
    ::close(sv[0]);
    return sp.error();
  }
  WorkerTemplate t(sp->pid, sv[0]);
  char buf[64];
  ssize_t n = -1;
  if (readable(t.sock_, deadline)) n = ::recv(t.sock_, buf, sizeof buf, 0);
  if (n != static_cast<ssize_t>(wire::kHello.size()) ||
      std::string_view(buf, static_cast<std::size_t>(n)) != wire::kHello) {
    return make_error(Errc::kFailed, n == 0 ? "the worker template exited at its start"
                                            : "the worker template did not answer");
  }
  return t;
}

WorkerTemplate::WorkerTemplate(WorkerTemplate&& o) noexcept
    : pid_(std::exchange(o.pid_, 0)), sock_(std::exchange(o.sock_, -1)) {}

WorkerTemplate& WorkerTemplate::operator=(WorkerTemplate&& o) noexcept {
  if (this != &o) {
    stop();
    pid_ = std::exchange(o.pid_, 0);
    sock_ = std::exchange(o.sock_, -1);
  }
  return *this;
}

WorkerTemplate::~WorkerTemplate() { stop(); }

void WorkerTemplate::stop() noexcept {
  if (sock_ >= 0) ::close(std::exchange(sock_, -1));
  if (pid_ <= 0) return;
  const pid_t pid = std::exchange(pid_, 0);
  // It leaves on EOF at once; a template stuck (stopped, say) is killed.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    if (!readable(pidfd, Deadline::after(std::chrono::milliseconds(500)))) ::kill(pid, SIGKILL);
    ::close(pidfd);
  } else {
    ::kill(pid, SIGKILL);
  }
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

Result<SpawnedProcess> WorkerTemplate::spawn(const std::vector<std::string>& argv,
                                             const std::vector<std::string>& extra_env,
                                             const SpawnFds& fds, Deadline deadline, bool& broken) {
  broken = true;
  if (sock_ < 0) return make_error(Errc::kFailed, "the worker template is stopped");
  wire::SpawnRequest req;
  req.new_session = fds.new_session;
  req.argv = argv;
  req.env = extra_env;
  std::vector<int> from;
  for (const auto& [f, to] : fds.dup) {
    from.push_back(f);
    req.to.push_back(to);
  }
  auto bytes = wire::encode(req);
  if (!bytes) {
    broken = false;
    return make_error(Errc::kInvalid, "the worker's command line is too large for the template");
  }
  iovec iov{bytes->data(), bytes->size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * wire::kMaxFds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!from.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * from.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * from.size());
    std::memcpy(CMSG_DATA(c), from.data(), sizeof(int) * from.size());
  }
  // The socket is empty between requests (one at a time): a send never waits
  // long; a template that died shows as EPIPE here or EOF below.
  if (::sendmsg(sock_, &msg, MSG_NOSIGNAL) < 0) {
    return errno_error("unable to reach the worker template", errno);
  }
  if (!readable(sock_, deadline)) {
    return make_error(Errc::kTimeout, "the worker template did not answer in time");
  }
  char buf[64];
  const ssize_t n = ::recv(sock_, buf, sizeof buf, 0);
  if (n <= 0) return make_error(Errc::kFailed, "the worker template exited");
  auto r = wire::decode_reply(std::string_view(buf, static_cast<std::size_t>(n)));
  if (!r) return make_error(Errc::kFailed, "the worker template answered nonsense");
  broken = false;
  if (r->error != 0) return errno_error("unable to fork a worker from the template", r->error);
  return SpawnedProcess{r->pid};
}

}  // namespace dynmgr
