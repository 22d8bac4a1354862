#pragma once
// The overrun check (Tarearbol's lost handle_timeout, made real): a perform or
// call busy for longer than lull x timeout is reported once per busy period.
//
// Only workers with a process and a timeout can overrun; their slots are
// listed once and the list is rebuilt only after a change that can affect it
// (a spawn, an exit, a new interval), so an idle fleet costs one atomic load
// per timed worker per scan and nothing for the rest.
//
// Threading: loop thread only.

#include "dynmgr/manager.hpp"
#include "shared/registry.hpp"
#include "supervisor/fleet.hpp"

#include <cstdint>
#include <vector>

namespace dynmgr {

class OverrunWatch {
 public:
  // Something that decides which slots can overrun has changed.
  void changed() noexcept { dirty_ = true; }
  // The workers busy past their limit at now_wall_ms, not reported before.
  std::vector<TimeoutInfo> scan(Fleet& fleet, const RegistryWriter& reg, std::uint64_t now_wall_ms);

 private:
  std::vector<std::uint32_t> timed_;
  bool dirty_ = true;
};

}  // namespace dynmgr
