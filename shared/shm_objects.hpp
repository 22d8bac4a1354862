#pragma once
// The shared objects an instance has in /dev/shm, found by name.
//
// For the supervisor's sweeps: at start (it holds the instance lock, so every
// object under its prefix is stale), at shutdown and every few seconds (reply
// queues whose client died without removing them). Both read the directory
// once; nothing here removes anything — the caller decides and unlinks.

#include "shared/names.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynmgr {

// Names (not paths) of the objects in /dev/shm whose name starts with
// `prefix`, in directory order. Empty if there are none or /dev/shm cannot be
// read.
std::vector<std::string> list_shm_objects(std::string_view prefix);

// The size of the object `name` in /dev/shm (a stat(2)); 0 if it is absent.
std::uint64_t shm_object_bytes(const std::string& name);

// This instance's reply queues, and their companion objects (".bell"), whose
// owner is not alive: the pid + start time in the name (Names::parse_reply)
// is no running process. A name under the reply prefix that does not parse
// is counted as dead too (no live client made it).
std::vector<std::string> dead_reply_queues(const Names& names);

}  // namespace dynmgr
