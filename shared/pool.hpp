#pragma once
// Pool pickup strategies (Tarearbol.Pool): how call/cast without an id choose a
// worker. "Free" means not busy in the registry (busy_since == 0, running).

#include "shared/error.hpp"
#include "shared/registry.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace dynmgr {

// PoolStrategy, its to_string and parse_pool_strategy: dynmgr/types.hpp.

// Picks the slot for `message` among the pool members in `workers` (any order).
//  hashring: stable for the same message (rendezvous hashing over worker ids),
//            whether or not the chosen worker is busy or passive;
//  random:   uniformly among free workers (seed drives the choice);
//  stream:   the first free worker in slot order.
// With no free worker, random and stream choose among the passive members
// (README "Passivation": the call or cast starts the chosen one again).
// kNoFreeWorker when no worker qualifies; kNotPool for kNone.
Result<std::uint32_t> pick_worker(PoolStrategy strategy, const std::vector<SlotRecord>& workers,
                                  std::string_view message, std::uint64_t seed);

}  // namespace dynmgr
