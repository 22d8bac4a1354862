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
  // The civil date by <chrono>'s calendar, not gmtime_r: glibc's reads
  // /etc/localtime on a process's first call (its first log line), though UTC
  // needs no time zone.
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds(ms)};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> hms{t - day};
  char stamp[48];
  std::snprintf(stamp, sizeof stamp, "%04d-%02u-%02uT%02d:%02d:%02d.%03uZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
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
