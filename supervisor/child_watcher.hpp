#pragma once
// The supervisor's signal and child-exit funnel.
//
// The supervisor's event loop has a single input, the control queue, so that
// everything a worker sent before dying is processed before its death: the
// watcher thread waits (epoll) on a signalfd and on one pidfd per worker, records
// what fired, and then sends a kWake frame into the control queue. The loop
// handles the recorded events when that frame arrives — after every message the
// dead worker had queued. If the wake frame cannot be sent (queue full or
// dead), wake_lost() is set and the loop polls it after every receive slice.
//
// Threading: add()/drain() are called by the loop thread, the rest of the
// watcher runs on its own thread. SIGTERM/SIGINT/SIGHUP/SIGCHLD must be blocked
// in every thread before start() (the loop does so at its very beginning).

#include "shared/error.hpp"
#include "shared/names.hpp"
#include "shared/queue.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace dynmgr {

class ChildWatcher {
 public:
  struct Events {
    std::vector<int> exited_pidfds;  // pidfds that became readable (process exited)
    std::vector<int> signals;        // signals received, in order
  };

  ChildWatcher(Names names, const std::atomic<std::uint64_t>& control_generation);
  ~ChildWatcher();
  ChildWatcher(const ChildWatcher&) = delete;
  ChildWatcher& operator=(const ChildWatcher&) = delete;

  Status start();
  void stop();
  // Watches pidfd (one-shot: it reports once, then the caller reaps and closes).
  Status add(int pidfd);
  Events drain();
  bool take_wake_lost() { return wake_lost_.exchange(false); }

 private:
  void run();
  void wake();

  Names names_;
  const std::atomic<std::uint64_t>& control_generation_;
  int epoll_fd_ = -1;
  int signal_fd_ = -1;
  int stop_fd_ = -1;  // eventfd to end the thread
  std::thread thread_;
  std::mutex mu_;
  Events pending_;  // guarded by mu_
  std::atomic<bool> wake_lost_{false};
  std::optional<Queue> wake_queue_;  // watcher thread only
  std::uint64_t wake_generation_ = 0;
};

}  // namespace dynmgr
