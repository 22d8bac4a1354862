#pragma once
// Test-only access to a RegistryWriter (defined in shared/registry.cpp, next to
// the slot layout it needs).

#include "shared/registry.hpp"

#include <cstdint>

namespace dynmgr {

struct RegistryTestHooks {
  // Starts an update of `slot` and never finishes it: its seqlock stays odd and
  // its data is garbage, as a writer killed mid-update leaves it.
  static void begin_update(RegistryWriter& w, std::uint32_t slot);
  // Overwrites the header's count of slots in use, as a damaged segment may.
  static void set_used(RegistryWriter& w, std::uint32_t used);
};

}  // namespace dynmgr
