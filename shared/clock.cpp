#include "shared/clock.hpp"

#include <cstdio>
#include <ctime>

namespace dynmgr {

std::uint64_t wall_ms() noexcept {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

std::string utc_timestamp(std::uint64_t ms) {
  const auto secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[48];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned>(ms % 1000));
  return stamp;
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
