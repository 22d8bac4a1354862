#pragma once
// The instance's shared objects in /dev/shm, as the supervisor sees them at
// start, at stop and every few seconds: stale ones left by a supervisor that
// died, and reply queues whose client is gone.

#include "shared/names.hpp"

#include <string>
#include <vector>

namespace dynmgr {

// Removes every object under the instance's prefix but its lock (the caller
// holds the lock: anything else there was left by a supervisor that died).
void remove_stale_objects(const Names& names);

// Removes the reply queues whose owner (pid + start time in the name) is no
// longer alive; returns their names.
std::vector<std::string> remove_dead_reply_queues(const Names& names);

}  // namespace dynmgr
