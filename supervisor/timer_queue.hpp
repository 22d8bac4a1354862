#pragma once
// The loop's timers: what is due when, on the monotonic clock. A worker's
// timer carries the slot's incarnation and the life cycle's token, so one that
// outlived its reason (the worker exited, the slot was reused) is recognised
// as stale by the machine, never acted on.
//
// Threading: loop thread only.

#include "shared/clock.hpp"

#include <cstdint>
#include <map>
#include <vector>

namespace dynmgr {

struct Timer {
  enum class Kind : std::uint8_t {
    kStage,
    kBackoff,
    kPerformDue,  // a passive worker's next perform (lifecycle kPerformDue)
    kActivate,    // messages wait in a passive worker's mailbox (lifecycle kActivate)
    kOverrunScan,
    kReplyScan,
    kLeafRetry,
    kMemoryScan,
    kShmCheck,
  };
  Kind kind = Kind::kOverrunScan;
  std::uint32_t slot = 0;
  std::uint64_t incarnation = 0;
  std::uint64_t token = 0;
};

class TimerQueue {
 public:
  void arm(std::uint64_t after_ms, const Timer& t) { due_.emplace(mono_ms() + after_ms, t); }
  // When the earliest timer is due (never if none).
  Deadline next() const {
    if (due_.empty()) return Deadline::never();
    const std::uint64_t now = mono_ms();
    const std::uint64_t at = due_.begin()->first;
    return Deadline::after(Millis(at > now ? at - now : 0));
  }
  // Removes and returns the timers due now, earliest first.
  std::vector<Timer> take_due() {
    std::vector<Timer> out;
    const std::uint64_t now = mono_ms();
    while (!due_.empty() && due_.begin()->first <= now) {
      out.push_back(due_.begin()->second);
      due_.erase(due_.begin());
    }
    return out;
  }

 private:
  std::multimap<std::uint64_t, Timer> due_;
};

}  // namespace dynmgr
