#include "shared/clock.hpp"

namespace dynmgr {

std::uint64_t wall_ms() noexcept {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

std::uint64_t mono_ms() noexcept {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

MonoClock::duration Deadline::remaining(MonoClock::duration cap) const noexcept {
  const auto now = MonoClock::now();
  if (now >= at_) return MonoClock::duration::zero();
  if (at_ - now < cap) return at_ - now;
  return cap;
}

}  // namespace dynmgr
