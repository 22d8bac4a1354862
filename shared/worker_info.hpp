#pragma once
// The worker record, described once. Every encoding is derived from the
// description below: the `state --json` / `get --json` object
// (protocol::record_to_json / record_from_json), the `get` lines of dynmgrctl,
// and the names of its enums. Member names are the JSON field names, and JSON
// field names are a public contract (fields may be added, never renamed), so
// never rename a described member.
//
// Adding a field: the member here and in the BOOST_DESCRIBE_STRUCT list; its
// shared-memory word in registry.cpp (SlotHeader, read_slot, write, and a new
// kLayoutVersion); its tests.

#include "shared/error.hpp"
#include "shared/json.hpp"
#include "shared/types.hpp"

#include <sys/types.h>

#include <boost/describe/class.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynmgr {

// JSON text as stored in the registry (a payload or a value). Encoded as the
// JSON value it holds, not as a string.
struct JsonText : std::string {
  using std::string::string;
  using std::string::operator=;
  JsonText(const std::string& s) : std::string(s) {}  // NOLINT: implicit on purpose
  JsonText(std::string&& s) noexcept : std::string(std::move(s)) {}
};

// One worker, as every reader sees it. Member order is the JSON field order.
struct WorkerInfo {
  std::string id;
  pid_t pid = 0;
  // Encoded as the display status: "busy" when running with busy_since_ms set.
  WorkerStatus status = WorkerStatus::kFree;
  std::uint32_t restarts = 0;
  JsonText payload = "null";
  JsonText value = "null";
  std::uint32_t timeout_ms = 1000;
  double lull = 1.1;
  RestartType restart = RestartType::kPermanent;
  bool instant_perform = false;
  std::uint32_t max_restarts = 0;
  union {  // restart_window_ms: the old name, until supervisor.cpp says within_ms
    std::uint32_t within_ms = 0;
    std::uint32_t restart_window_ms;
  };
  union {  // pool_member: the old name, until supervisor.cpp says pool
    bool pool = false;
    bool pool_member;
  };
  std::uint64_t started_ms = 0;       // wall ms the current pid was started
  // Worker-owned words (not covered by the seqlock; each is a single atomic word).
  std::uint64_t busy_since_ms = 0;    // wall ms a perform/call began, 0 when idle
  std::uint64_t last_perform_ms = 0;  // wall ms of the last finished perform
  std::uint32_t slot = 0;
  ExitInfo last_exit;
};
BOOST_DESCRIBE_STRUCT(WorkerInfo, (),
                      (id, pid, status, restarts, payload, value, timeout_ms, lull, restart,
                       instant_perform, max_restarts, within_ms, pool, started_ms, busy_since_ms,
                       last_perform_ms, slot, last_exit))

// "busy" when running with busy_since set, else the registry status.
std::string_view display_status(const WorkerInfo& r) noexcept;

// The `state --json` worker object: every described member under its name, in
// order. sp: where the object's memory comes from (a monotonic resource for
// bulk output).
json::object worker_to_json(const WorkerInfo& r, json::storage_ptr sp = {});
// The inverse. kInvalid when id, slot or status is missing, or a field has the
// wrong type; absent fields keep their defaults.
Result<WorkerInfo> worker_from_json(const json::object& o);

// Every described member as display text ("-" for no last exit), in order: the
// lines of `dynmgrctl get`.
struct WorkerField {
  std::string_view name;
  std::string text;
};
std::vector<WorkerField> worker_fields(const WorkerInfo& r);

}  // namespace dynmgr
