#include "shared/signal_guard.hpp"

#include <pthread.h>

namespace dynmgr {

SignalGuard::SignalGuard() noexcept {
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGHUP);
  sigaddset(&block, SIGQUIT);
  pthread_sigmask(SIG_BLOCK, &block, &old_);
}

SignalGuard::~SignalGuard() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

}  // namespace dynmgr
