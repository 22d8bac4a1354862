#pragma once
// Blocks SIGINT, SIGTERM, SIGHUP and SIGQUIT for the lifetime of the guard.
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

 private:
  sigset_t old_;
};

}  // namespace dynmgr
