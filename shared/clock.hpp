#pragma once
// Time sources. Deadlines are always on the monotonic clock so a wall-clock jump
// can neither stretch nor cut a timeout; wall time is only for display.

#include <chrono>
#include <cstdint>
#include <string>

#include "dynmgr/types.hpp"  // Millis

namespace dynmgr {

using MonoClock = std::chrono::steady_clock;

// Milliseconds since the Unix epoch (display and registry timestamps only).
std::uint64_t wall_ms() noexcept;
// "2026-11-30T07:17:21.591Z": RFC 3339 UTC with milliseconds.
std::string utc_timestamp(std::uint64_t wall_ms);
// Milliseconds on the monotonic clock.
std::uint64_t mono_ms() noexcept;

// A point on the monotonic clock after which an operation gives up.
class Deadline {
 public:
  static Deadline after(Millis d) noexcept { return Deadline(MonoClock::now() + d); }
  static Deadline never() noexcept { return Deadline(MonoClock::time_point::max()); }
  static Deadline now() noexcept { return Deadline(MonoClock::now()); }

  static Deadline earliest(Deadline a, Deadline b) noexcept { return a.at_ < b.at_ ? a : b; }

  bool expired() const noexcept { return MonoClock::now() >= at_; }
  bool is_never() const noexcept { return at_ == MonoClock::time_point::max(); }
  // Remaining time, clamped to [0, cap].
  MonoClock::duration remaining(MonoClock::duration cap) const noexcept;
  MonoClock::time_point at() const noexcept { return at_; }

 private:
  explicit Deadline(MonoClock::time_point at) : at_(at) {}
  MonoClock::time_point at_;
};

}  // namespace dynmgr
