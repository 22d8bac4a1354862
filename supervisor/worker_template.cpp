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
    : pid_(std::exchange(o.pid_, 0)),
      sock_(std::exchange(o.sock_, -1)),
      spare_pid_(std::exchange(o.spare_pid_, 0)),
      spare_sock_(std::exchange(o.spare_sock_, -1)),
      spare_pending_(std::exchange(o.spare_pending_, false)) {}

WorkerTemplate& WorkerTemplate::operator=(WorkerTemplate&& o) noexcept {
  if (this != &o) {
    stop();
    pid_ = std::exchange(o.pid_, 0);
    sock_ = std::exchange(o.sock_, -1);
    spare_pid_ = std::exchange(o.spare_pid_, 0);
    spare_sock_ = std::exchange(o.spare_sock_, -1);
    spare_pending_ = std::exchange(o.spare_pending_, false);
  }
  return *this;
}

WorkerTemplate::~WorkerTemplate() { stop(); }

void WorkerTemplate::stop() noexcept {
  drop_spare();
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

namespace {

// Sends one request with `from` as its descriptors: 0, or the errno.
int send_request(int sock, const std::string& bytes, const std::vector<int>& from) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
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
  return ::sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? errno : 0;
}

// The request for a worker with this argv, environment and descriptors.
std::optional<std::string> request_for(const std::vector<std::string>& argv,
                                       const std::vector<std::string>& extra_env,
                                       const SpawnFds& fds, std::vector<int>& from) {
  wire::SpawnRequest req;
  req.new_session = fds.new_session;
  req.argv = argv;
  req.env = extra_env;
  for (const auto& [f, to] : fds.dup) {
    from.push_back(f);
    req.to.push_back(to);
  }
  return wire::encode(req);
}

}  // namespace

// Reads the template's answer to the request sent last: the pid it forked.
Result<SpawnedProcess> WorkerTemplate::answer(Deadline deadline, bool& broken) {
  broken = true;
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

// Sends `bytes` to the template and reads its answer: the pid it forked.
Result<SpawnedProcess> WorkerTemplate::ask(const std::string& bytes, const std::vector<int>& from,
                                           Deadline deadline, bool& broken) {
  broken = true;
  if (sock_ < 0) return make_error(Errc::kFailed, "the worker template is stopped");
  // Answers come in order: a spare's still on its way is read first.
  if (auto st = settle_spare(deadline, broken); !st && broken) return st.error();
  broken = true;
  // The socket is empty between requests (one at a time): a send never waits;
  // a template that died shows as EPIPE here or EOF below.
  if (const int err = send_request(sock_, bytes, from); err != 0) {
    return errno_error("unable to reach the worker template", err);
  }
  return answer(deadline, broken);
}

Result<SpawnedProcess> WorkerTemplate::spawn(const std::vector<std::string>& argv,
                                             const std::vector<std::string>& extra_env,
                                             const SpawnFds& fds, Deadline deadline, bool& broken) {
  std::vector<int> from;
  auto bytes = request_for(argv, extra_env, fds, from);
  if (!bytes) {
    broken = false;
    return make_error(Errc::kInvalid, "the worker's command line is too large for the template");
  }
  return ask(*bytes, from, deadline, broken);
}

Status WorkerTemplate::keep_spare(const std::vector<std::string>& shown, bool& broken) {
  broken = false;
  if (spare_pid_ > 0 || spare_pending_) return {};
  if (sock_ < 0) return make_error(Errc::kFailed, "the worker template is stopped");
  wire::SpawnRequest req;
  req.spare = true;
  req.argv = shown;
  req.to = {kTemplateSocketFd};
  auto bytes = wire::encode(req);
  if (!bytes) return make_error(Errc::kInvalid, "a spare's command line is too large");
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return errno_error("unable to create a spare's socket", errno);
  }
  const int err = send_request(sock_, *bytes, {sv[1]});
  ::close(sv[1]);
  if (err != 0) {
    ::close(sv[0]);
    broken = true;
    return errno_error("unable to reach the worker template", err);
  }
  // Its answer is read when the template is next needed: the fork and the
  // spare's warm-up go on while the supervisor does.
  spare_pending_ = true;
  spare_sock_ = sv[0];
  return {};
}

Status WorkerTemplate::settle_spare(Deadline deadline, bool& broken) {
  broken = false;
  if (!spare_pending_) return {};
  spare_pending_ = false;
  auto sp = answer(deadline, broken);
  if (!sp) {
    ::close(std::exchange(spare_sock_, -1));
    return sp.error();
  }
  spare_pid_ = sp->pid;
  return {};
}

std::optional<SpawnedProcess> WorkerTemplate::spawn_spare(const std::vector<std::string>& argv,
                                                          const std::vector<std::string>& extra_env,
                                                          const SpawnFds& fds) {
  bool broken = false;
  if (auto st = settle_spare(Deadline::after(std::chrono::seconds(5)), broken); !st) {
    return std::nullopt;  // spawn finds a broken template so
  }
  if (spare_pid_ <= 0) return std::nullopt;
  std::vector<int> from;
  auto bytes = request_for(argv, extra_env, fds, from);
  if (!bytes) return std::nullopt;  // spawn says why
  // Its socket is empty until now: the send only fails if it is gone.
  if (send_request(spare_sock_, *bytes, from) != 0) {
    drop_spare();
    return std::nullopt;
  }
  const pid_t pid = std::exchange(spare_pid_, 0);
  ::close(std::exchange(spare_sock_, -1));
  return SpawnedProcess{pid};
}

void WorkerTemplate::drop_spare() noexcept {
  if (spare_pending_ && sock_ >= 0) {
    // Its pid first, to reap it: the template answers at once or not at all.
    bool broken = false;
    (void)settle_spare(Deadline::after(std::chrono::milliseconds(500)), broken);
  }
  spare_pending_ = false;
  if (spare_sock_ >= 0) ::close(std::exchange(spare_sock_, -1));
  if (spare_pid_ <= 0) return;
  const pid_t pid = std::exchange(spare_pid_, 0);
  ::kill(pid, SIGKILL);  // it has nothing of anyone's: no need to ask
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace dynmgr
