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
// The pidfds live in the watcher thread's own descriptor table
// (unshare(CLONE_FILES) at its start), never in the loop thread's: every spawn
// copies the spawning thread's table into the child and closes it again at
// exec, so 10 000 pidfds there made each spawn cost O(workers) — a 10 000-worker
// put quadratic. The loop thread spawns with a table of a dozen descriptors and
// reaps by pid (waitid(P_PID), never a global waitpid(-1)); the pid of an
// unreaped child cannot be reused, so the pid is exact until the loop reaps it.
//
// Threading: watch()/drain() are called by the loop thread, the rest of the
// watcher runs on its own thread. The stop signals and SIGCHLD must be blocked
// in every thread before start() (the loop does so at its very beginning).

#include "shared/control_sender.hpp"
#include "shared/error.hpp"
#include "shared/names.hpp"

#include <sys/types.h>

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
    std::vector<pid_t> exited;       // children that exited (reap them)
    std::vector<pid_t> unwatchable;  // children no pidfd could be opened for
    std::vector<int> signals;        // signals received, in order
  };

  ChildWatcher(Names names, const std::atomic<std::uint64_t>& control_generation);
  ~ChildWatcher();
  ChildWatcher(const ChildWatcher&) = delete;
  ChildWatcher& operator=(const ChildWatcher&) = delete;

  Status start();
  void stop();
  // Watches a child of this process until it exits; reported once in
  // Events::exited (or in Events::unwatchable if it cannot be watched).
  void watch(pid_t pid);
  Events drain();
  bool take_wake_lost() { return wake_lost_.exchange(false); }

 private:
  void run();
  void take_requests();
  void wake();

  Names names_;
  int epoll_fd_ = -1;
  int signal_fd_ = -1;
  int stop_fd_ = -1;     // eventfd: end the thread
  int request_fd_ = -1;  // eventfd: requested_ has pids to watch
  std::thread thread_;
  std::mutex mu_;
  Events pending_;                // guarded by mu_
  std::vector<pid_t> requested_;  // guarded by mu_
  std::atomic<bool> wake_lost_{false};
  ControlSender wake_sender_;  // watcher thread only (its descriptor table)
};

}  // namespace dynmgr
