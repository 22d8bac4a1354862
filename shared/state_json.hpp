#pragma once
// The instance as one JSON document: what `dynmgrctl state --json` prints and
// what the supervisor's web server answers at /api/state. One function, so the
// two can never disagree.

#include <string>
#include <vector>

#include "dynmgr/worker_info.hpp"
#include "shared/json.hpp"

namespace dynmgr {

// {"enabled","ok","dir","error","pending","last_commit_ms"}: state --json and ping --json.
json::object persistence_json(const PersistenceStatus& p);
// `state --json`: {"name","manager","supervisor":{...},"adopted","persistence",
// "capacity","max_payload","workers":[...]} (workers as worker_to_json).
json::object state_json(const InstanceInfo& h, const std::string& instance,
                        const std::vector<WorkerInfo>& workers);

}  // namespace dynmgr
