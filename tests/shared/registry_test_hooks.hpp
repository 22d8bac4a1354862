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
  // write(r) as a writer killed part way leaves it: while it composed the
  // change in the journal (the slot untouched, the journal incomplete), or
  // half way through copying the complete journal into the slot (torn).
  static Status die_in_journal(RegistryWriter& w, const SlotRecord& r);
  static Status die_in_slot(RegistryWriter& w, const SlotRecord& r);
  // Overwrites the header's count of slots in use, as a damaged segment may.
  static void set_used(RegistryWriter& w, std::uint32_t used);
};

}  // namespace dynmgr
