#include "supervisor/child_watcher.hpp"

#include "shared/frame.hpp"
#include "shared/log.hpp"
#include "shared/stop_signals.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <optional>

namespace dynmgr {
namespace {
constexpr std::uint64_t kSignalTag = ~std::uint64_t{0};
constexpr std::uint64_t kStopTag = ~std::uint64_t{0} - 1;
constexpr std::uint64_t kRequestTag = ~std::uint64_t{0} - 2;
// Other tags: (pid << 32) | pidfd.
std::uint64_t child_tag(pid_t pid, int pidfd) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(pid)) << 32) |
         static_cast<std::uint32_t>(pidfd);
}
}  // namespace

ChildWatcher::ChildWatcher(Names names, const std::atomic<std::uint64_t>& control_generation)
    : names_(std::move(names)),
      wake_sender_(names_, [&control_generation] {
        return control_generation.load(std::memory_order_acquire);
      }) {}

ChildWatcher::~ChildWatcher() {
  stop();
  for (int fd : {epoll_fd_, signal_fd_, stop_fd_, request_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

Status ChildWatcher::start() {
  sigset_t set = stop_signal_set();
  sigaddset(&set, SIGUSR2);  // re-execute (Supervisor: reexec)
  signal_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ < 0) return errno_error("unable to create signalfd", errno);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return errno_error("unable to create epoll", errno);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) return errno_error("unable to create eventfd", errno);
  request_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (request_fd_ < 0) return errno_error("unable to create eventfd", errno);
  for (auto [fd, tag] : {std::pair{signal_fd_, kSignalTag}, std::pair{stop_fd_, kStopTag},
                         std::pair{request_fd_, kRequestTag}}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      return errno_error("unable to watch the watcher's descriptors", errno);
    }
  }
  // The thread takes its own descriptor table before it opens anything.
  std::promise<Status> ready;
  auto started = ready.get_future();
  thread_ = std::thread([this, &ready] {
    if (::unshare(CLONE_FILES) != 0) {
      ready.set_value(errno_error("unable to give the child watcher its own descriptor table", errno));
      return;
    }
    ready.set_value(Status{});
    run();
  });
  Status st = started.get();
  if (!st) thread_.join();
  return st;
}

void ChildWatcher::stop() {
  if (!thread_.joinable()) return;
  const std::uint64_t one = 1;
  (void)::write(stop_fd_, &one, sizeof one);
  thread_.join();
}

void ChildWatcher::watch(pid_t pid) {
  {
    std::lock_guard lock(mu_);
    requested_.push_back(pid);
  }
  const std::uint64_t one = 1;
  (void)::write(request_fd_, &one, sizeof one);
}

ChildWatcher::Events ChildWatcher::drain() {
  std::lock_guard lock(mu_);
  Events out;
  std::swap(out, pending_);
  return out;
}

void ChildWatcher::wake() {
  // Our own handle on the control queue, reopened when the loop replaces it.
  // One attempt, never blocking: a full queue means the loop is awake anyway,
  // and a lost wake is polled for. Priority 0 like every other message, so the
  // wake stays behind what the dead worker sent.
  if (!wake_sender_.try_send(Frame{MessageKind::kWake, 0, {}}, Deadline::now())) {
    wake_lost_.store(true);
  }
}

// Opens a pidfd for every requested pid (in this thread's table); pids that
// cannot be watched are reported as unwatchable.
void ChildWatcher::take_requests() {
  std::uint64_t count = 0;
  (void)::read(request_fd_, &count, sizeof count);
  std::vector<pid_t> pids;
  {
    std::lock_guard lock(mu_);
    std::swap(pids, requested_);
  }
  std::vector<pid_t> failed;
  for (pid_t pid : pids) {
    // An exited but unreaped child still has its pid: the pidfd opens and is
    // readable at once.
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = child_tag(pid, pidfd);
    if (pidfd < 0 || ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, pidfd, &ev) != 0) {
      log_error("unable to watch worker pid " + std::to_string(pid) + ": " + std::strerror(errno));
      if (pidfd >= 0) ::close(pidfd);
      failed.push_back(pid);
    }
  }
  if (failed.empty()) return;
  {
    std::lock_guard lock(mu_);
    pending_.unwatchable.insert(pending_.unwatchable.end(), failed.begin(), failed.end());
  }
  wake();
}

void ChildWatcher::run() {
  epoll_event events[64];
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log_error("unable to wait for children: " + std::string(std::strerror(errno)));
      break;
    }
    bool any = false;
    bool stop = false;
    for (int i = 0; i < n; ++i) {
      const std::uint64_t tag = events[i].data.u64;
      if (tag == kStopTag) {
        stop = true;
        continue;
      }
      if (tag == kRequestTag) {
        take_requests();
        continue;
      }
      if (tag == kSignalTag) {
        signalfd_siginfo si{};
        while (::read(signal_fd_, &si, sizeof si) == sizeof si) {
          std::lock_guard lock(mu_);
          pending_.signals.push_back(static_cast<int>(si.ssi_signo));
          any = true;
        }
        continue;
      }
      // The child exited: its pidfd has served (closing it also drops it from
      // the epoll set); the loop reaps by pid.
      ::close(static_cast<int>(tag & 0xffffffffU));
      std::lock_guard lock(mu_);
      pending_.exited.push_back(static_cast<pid_t>(tag >> 32));
      any = true;
    }
    if (stop) break;
    if (any) wake();
  }
  // Close the queue handle here, in the table it was opened in.
  wake_sender_.close();
}

}  // namespace dynmgr
