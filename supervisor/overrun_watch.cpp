#include "supervisor/overrun_watch.hpp"

#include "shared/overrun.hpp"

namespace dynmgr {

namespace {
bool can_overrun(const Entry& e) { return e.rec.pid > 0 && e.rec.timeout_ms != 0; }
}  // namespace

void OverrunWatch::changed(const Entry& e) {
  if (can_overrun(e)) {
    timed_.insert(e.rec.slot);
  } else {
    timed_.erase(e.rec.slot);
  }
  if (e.rec.pid > 0) {
    live_.insert(e.rec.slot);
  } else {
    live_.erase(e.rec.slot);
  }
}

void OverrunWatch::refresh(const Fleet& fleet) {
  if (!dirty_) return;
  timed_.clear();
  live_.clear();
  for (const auto& [slot, e] : fleet.awake()) changed(e);
  dirty_ = false;
}

const std::set<std::uint32_t>& OverrunWatch::live(const Fleet& fleet) {
  refresh(fleet);
  return live_;
}

std::vector<TimeoutInfo> OverrunWatch::scan(Fleet& fleet, const RegistryWriter& reg,
                                            std::uint64_t now) {
  refresh(fleet);
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
