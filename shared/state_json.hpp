#pragma once
// The instance as one JSON document: what `dynmgrctl state --json` prints and
// what the supervisor's web server answers at /api/state. One head and one
// worker encoding, so the two (and the tree and the stream) can never disagree.

#include <string>
#include <vector>

#include "dynmgr/worker_info.hpp"
#include "shared/json.hpp"

namespace dynmgr {

// {"enabled","ok","dir","error","pending","last_commit_ms"}: state --json and ping --json.
json::object persistence_json(const PersistenceStatus& p);
// `state --json`: {"name","manager","supervisor":{...},"adopted","persistence",
// "capacity","max_payload","workers":[...]} (workers as worker_to_json).
// The whole document in memory: for a large fleet use StateJsonWriter.
json::object state_json(const InstanceInfo& h, const std::string& instance,
                        const std::vector<WorkerInfo>& workers);

// The same document as text, a worker at a time, so that only one worker's
// object is ever in memory: the head is appended by the constructor, each
// add() appends one worker, finish() closes the document. The text equals
// to_json(state_json(h, instance, workers)) byte for byte. The caller owns
// `out` and may drain it between calls (write it out and clear it): the
// writer only appends. A document whose finish() was never called lacks its
// closing "]}" and is not valid JSON, so a cut stream cannot pass for a fleet.
class StateJsonWriter {
 public:
  StateJsonWriter(const InstanceInfo& h, const std::string& instance, std::string& out);
  void add(const WorkerInfo& r);
  void finish();

 private:
  std::string& out_;
  bool first_ = true;
};

}  // namespace dynmgr
