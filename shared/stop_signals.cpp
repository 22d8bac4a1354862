#include "shared/stop_signals.hpp"

namespace dynmgr {

sigset_t stop_signal_set() noexcept {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kStopSignals) sigaddset(&set, sig);
  return set;
}

}  // namespace dynmgr
