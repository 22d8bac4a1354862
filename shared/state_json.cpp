#include "shared/state_json.hpp"

#include <boost/json/monotonic_resource.hpp>

#include "shared/worker_info.hpp"

namespace dynmgr {

json::object persistence_json(const PersistenceStatus& p) {
  json::object o;
  o["enabled"] = p.enabled;
  o["ok"] = p.ok;
  o["dir"] = p.dir;
  o["error"] = p.error;
  o["pending"] = p.pending;
  o["last_commit_ms"] = p.last_commit_ms;
  return o;
}

namespace {

// Every member of the document but "workers", in order: the tree and the
// stream both start from it.
json::object state_head_json(const InstanceInfo& h, const std::string& instance,
                             const json::storage_ptr& sp) {
  json::object o(sp);
  o["name"] = instance;
  o["manager"] = std::string(to_string(h.manager_state));
  json::object sup(sp);
  sup["pid"] = h.supervisor_pid;
  sup["running"] = h.supervisor_alive;
  sup["started_ms"] = h.supervisor_started_ms;
  sup["orphan_grace_ms"] = h.orphan_grace_ms;
  o["supervisor"] = std::move(sup);
  o["adopted"] = h.adopted;
  o["persistence"] = json::value(persistence_json(h.persistence), sp);
  o["capacity"] = h.capacity;
  o["max_payload"] = h.max_payload;
  return o;
}

}  // namespace

json::object state_json(const InstanceInfo& h, const std::string& instance,
                        const std::vector<WorkerInfo>& workers) {
  // The whole document from one arena (it travels with the returned object):
  // no malloc/free per JSON node, and no copy when the array moves in.
  json::storage_ptr sp = json::make_shared_resource<json::monotonic_resource>();
  json::object o = state_head_json(h, instance, sp);
  json::array arr(sp);
  arr.reserve(workers.size());
  for (const auto& r : workers) arr.push_back(worker_to_json(r, sp));
  o["workers"] = std::move(arr);
  return o;
}

StateJsonWriter::StateJsonWriter(const InstanceInfo& h, const std::string& instance,
                                 std::string& out)
    : out_(out) {
  // The head is never empty, so its text ends in "...}" and the array opens
  // where that brace was: the members come out in state_json()'s order.
  std::string head = to_json(json::value(state_head_json(h, instance, {})));
  head.pop_back();
  out_ += head;
  out_ += ",\"workers\":[";
}

void StateJsonWriter::add(const WorkerInfo& r) {
  // Written member by member (append_worker_json), into the stream: no
  // memory that grows with the fleet, and no object made per worker.
  if (!first_) out_ += ',';
  first_ = false;
  append_worker_json(r, out_);
}

void StateJsonWriter::finish() { out_ += "]}"; }

}  // namespace dynmgr
