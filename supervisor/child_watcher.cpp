#include "supervisor/child_watcher.hpp"

#include "shared/frame.hpp"
#include "shared/log.hpp"
#include "shared/queue.hpp"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

namespace dynmgr {
namespace {
constexpr std::uint64_t kSignalTag = ~std::uint64_t{0};
constexpr std::uint64_t kStopTag = ~std::uint64_t{0} - 1;
}  // namespace

ChildWatcher::ChildWatcher(Names names, const std::atomic<std::uint64_t>& control_generation)
    : names_(std::move(names)), control_generation_(control_generation) {}

ChildWatcher::~ChildWatcher() {
  stop();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (signal_fd_ >= 0) ::close(signal_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

Status ChildWatcher::start() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&set, s);
  signal_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ < 0) return errno_error("unable to create signalfd", errno);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return errno_error("unable to create epoll", errno);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) return errno_error("unable to create eventfd", errno);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kSignalTag;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, signal_fd_, &ev) != 0) {
    return errno_error("unable to watch signalfd", errno);
  }
  ev.data.u64 = kStopTag;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev) != 0) {
    return errno_error("unable to watch eventfd", errno);
  }
  thread_ = std::thread([this] { run(); });
  return {};
}

void ChildWatcher::stop() {
  if (!thread_.joinable()) return;
  const std::uint64_t one = 1;
  (void)::write(stop_fd_, &one, sizeof one);
  thread_.join();
}

Status ChildWatcher::add(int pidfd) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = static_cast<std::uint64_t>(pidfd);
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, pidfd, &ev) != 0) {
    return errno_error("unable to watch pidfd", errno);
  }
  return {};
}

ChildWatcher::Events ChildWatcher::drain() {
  std::lock_guard lock(mu_);
  Events out;
  std::swap(out, pending_);
  return out;
}

void ChildWatcher::wake() {
  // Our own handle on the control queue, reopened when the loop replaces it.
  auto& q = wake_queue_;
  auto& gen = wake_generation_;
  const std::uint64_t now_gen = control_generation_.load(std::memory_order_acquire);
  if (!q || q->dead() || gen != now_gen) {
    auto opened = Queue::open(names_.control(now_gen));
    if (!opened) {
      wake_lost_.store(true);
      return;
    }
    q.emplace(std::move(*opened));
    gen = now_gen;
  }
  // Never block here: a full queue means the loop is awake anyway. Priority 0
  // like every other message, so the wake stays behind what the dead worker sent.
  auto st = q->send(Frame{MessageKind::kWake, 0, {}}, Deadline::now());
  if (!st) wake_lost_.store(true);
}

void ChildWatcher::run() {
  epoll_event events[64];
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log_error("unable to wait for children: " + std::string(std::strerror(errno)));
      return;
    }
    bool any = false;
    for (int i = 0; i < n; ++i) {
      const std::uint64_t tag = events[i].data.u64;
      if (tag == kStopTag) return;
      if (tag == kSignalTag) {
        signalfd_siginfo si{};
        while (::read(signal_fd_, &si, sizeof si) == sizeof si) {
          std::lock_guard lock(mu_);
          pending_.signals.push_back(static_cast<int>(si.ssi_signo));
          any = true;
        }
        continue;
      }
      std::lock_guard lock(mu_);
      pending_.exited_pidfds.push_back(static_cast<int>(tag));
      any = true;
    }
    if (any) wake();
  }
}

}  // namespace dynmgr
