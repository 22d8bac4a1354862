#include "supervisor/overrun_watch.hpp"

#include <cmath>

namespace dynmgr {

std::vector<TimeoutInfo> OverrunWatch::scan(Fleet& fleet, const RegistryWriter& reg,
                                            std::uint64_t now) {
  if (dirty_) {
    timed_.clear();
    for (const auto& [slot, e] : fleet.entries()) {
      if (e.rec.pid > 0 && e.rec.timeout_ms != 0) timed_.push_back(slot);
    }
    dirty_ = false;
  }
  std::vector<TimeoutInfo> out;
  for (const std::uint32_t slot : timed_) {
    Entry* e = fleet.find(slot);
    if (e == nullptr || e->rec.pid <= 0 || e->rec.timeout_ms == 0) continue;
    // One word per worker (the scan runs every 100 ms over the whole fleet).
    const std::uint64_t busy = reg.busy_since(slot);
    if (busy == 0 || busy == e->overrun_reported || now <= busy) continue;
    // lull * timeout rounded up to a whole ms; the epsilon keeps binary
    // floating-point noise (1.1 * 200 = 220.00000000000003) from adding one.
    const auto limit = static_cast<std::uint64_t>(
        std::ceil(e->rec.lull * static_cast<double>(e->rec.timeout_ms) - 1e-6));
    if (now - busy <= limit) continue;
    e->overrun_reported = busy;
    out.push_back(TimeoutInfo{e->id, e->rec.pid, now - busy, limit, e->rec.timeout_ms, e->rec.lull});
  }
  return out;
}

}  // namespace dynmgr
