#pragma once
// The overrun check (Tarearbol's lost handle_timeout, made real): a perform or
// call busy for longer than lull x timeout is reported once per busy period.
//
// Only workers with a process and a timeout can overrun; their slots are
// listed, and a change that can affect one (a spawn, an exit, a new interval)
// updates its place in the list, so an idle fleet costs one atomic load per
// timed worker per scan and nothing for the rest (passive ids included).
//
// Threading: loop thread only.

#include "dynmgr/manager.hpp"
#include "shared/registry.hpp"
#include "supervisor/fleet.hpp"

#include <cstdint>
#include <set>
#include <vector>

namespace dynmgr {

class OverrunWatch {
 public:
  // Something that decides which slots can overrun has changed for many
  // slots at once (adoption, a recreated registry): the list is rebuilt from
  // the whole fleet at the next scan.
  void changed() noexcept { dirty_ = true; }
  // ... for this one worker (a spawn, an exit, a new interval, a publish):
  // its place in the list is updated now, not the whole list (a put into a
  // fleet of a million ids must not cost a walk over all of them).
  void changed(const Entry& e);
  void forget(std::uint32_t slot) {
    timed_.erase(slot);
    live_.erase(slot);
  }
  // The workers busy past their limit at now_wall_ms, not reported before.
  std::vector<TimeoutInfo> scan(Fleet& fleet, const RegistryWriter& reg, std::uint64_t now_wall_ms);
  // The slots whose worker has a process (the memory scan's walk: live
  // workers only, however many passive ids there are).
  const std::set<std::uint32_t>& live(const Fleet& fleet);

 private:
  void refresh(const Fleet& fleet);
  std::set<std::uint32_t> timed_;
  std::set<std::uint32_t> live_;
  bool dirty_ = true;
};

}  // namespace dynmgr
