#include "supervisor/overrun_watch.hpp"

#include "shared/overrun.hpp"

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
    const std::uint64_t limit = overrun_limit_ms(e->rec.lull, e->rec.timeout_ms);
    if (now - busy <= limit) continue;
    e->overrun_reported = busy;
    out.push_back(TimeoutInfo{e->id, e->rec.pid, now - busy, limit, e->rec.timeout_ms, e->rec.lull});
  }
  return out;
}

}  // namespace dynmgr
