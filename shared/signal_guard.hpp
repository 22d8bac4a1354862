#pragma once
// Blocks the stop signals (shared/stop_signals.hpp: SIGINT, SIGTERM, SIGHUP,
// SIGQUIT) for the lifetime of the guard.
// Queue operations hold one: a process killed by Ctrl-C inside
// message_queue::send would leave the queue's robust mutex owner-dead, and Boost
// then throws on every later operation. Pending signals are delivered when the
// guard is destroyed, between two operations.

#include <signal.h>

namespace dynmgr {

class SignalGuard {
 public:
  SignalGuard() noexcept;
  ~SignalGuard();
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

  // Blocks the guarded signals in the calling thread for good and makes every
  // later guard in this thread free (no syscalls). For threads that take those
  // signals synchronously instead (the supervisor's signalfd, the worker's
  // sigpending poll); threads created afterwards inherit the mask.
  static void block_for_thread() noexcept;
  // For a process that catches the guarded signals with a handler of its own
  // (a worker: the handler only sets a flag). A caught signal cannot kill the
  // process inside a queue operation, so every later guard in this thread is
  // free, and the signals stay deliverable (they cut a queue wait short).
  static void handled_for_thread() noexcept;
  // The guarded set: the stop signals (stop_signal_set()).
  static sigset_t guarded() noexcept;

 private:
  sigset_t old_;
  bool active_ = false;
};

}  // namespace dynmgr
