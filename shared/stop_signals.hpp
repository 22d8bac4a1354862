#pragma once
// The stop signals: the signals that ask a dynmgr process to stop cleanly.
//
// One list for every place that treats them alike: SignalGuard blocks them
// around queue operations, a worker catches them with a flag handler, the
// supervisor's child watcher reads them from its signalfd and the supervisor
// begins its shutdown on any of them.

#include <signal.h>

#include <array>

namespace dynmgr {

inline constexpr std::array<int, 4> kStopSignals{SIGINT, SIGTERM, SIGHUP, SIGQUIT};

// True if sig is one of kStopSignals.
constexpr bool is_stop_signal(int sig) noexcept {
  for (int s : kStopSignals) {
    if (s == sig) return true;
  }
  return false;
}

// kStopSignals as a signal set (for sigprocmask, signalfd).
sigset_t stop_signal_set() noexcept;

}  // namespace dynmgr
