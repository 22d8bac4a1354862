#pragma once
// Encodings of the worker record, each derived from WorkerInfo's description
// (dynmgr/worker_info.hpp): the `state --json` / `get --json` object and the
// `get` lines of dynmgrctl.

#include <string>
#include <string_view>
#include <vector>

#include "dynmgr/worker_info.hpp"
#include "shared/error.hpp"
#include "shared/json.hpp"

namespace dynmgr {

// The `state --json` worker object: every described member under its name, in
// order. sp: where the object's memory comes from (a monotonic resource for
// bulk output).
json::object worker_to_json(const WorkerInfo& r, json::storage_ptr sp = {});
// The same object as text, appended to `out`: exactly to_json(worker_to_json(r)),
// written member by member without building the object (`state --json` of a
// million ids spent most of its time making and searching objects).
void append_worker_json(const WorkerInfo& r, std::string& out);
// The inverse. kInvalid when id, slot or status is missing, or a field has the
// wrong type; absent fields keep their defaults.
Result<WorkerInfo> worker_from_json(const json::object& o);

// An exit as JSON: null for none, else {"kind", <code under its kind's name:
// "code", "signal" or "errno">, "reason"}.
json::value exit_to_json(const ExitInfo& e, const json::storage_ptr& sp = {});

// Every described member as display text ("-" for no last exit), in order: the
// lines of `dynmgrctl get`.
struct WorkerField {
  std::string_view name;
  std::string text;
};
std::vector<WorkerField> worker_fields(const WorkerInfo& r);

}  // namespace dynmgr
