#pragma once
// What dynmgr::Client reports: one worker (WorkerInfo) and the instance
// (InstanceInfo). Both are copies read from the registry; they never change
// after they are returned.
//
// WorkerInfo is described once (BOOST_DESCRIBE_STRUCT) and every encoding is
// derived from the description: the `state --json` / `get --json` object, the
// `get` lines of dynmgrctl, the names of its enums. Member names are the JSON
// field names, and JSON field names are a public contract (fields may be added,
// never renamed), so never rename a described member.
//
// Adding a field: the member here and in the BOOST_DESCRIBE_STRUCT list; its
// shared-memory word (shared/registry.cpp: SlotHeader, read_slot, write, and a
// new kLayoutVersion); its tests.

#include <sys/types.h>

#include <boost/describe/class.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dynmgr/types.hpp"

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
  std::uint32_t within_ms = 0;
  bool pool = false;
  std::uint64_t started_ms = 0;  // wall ms the current pid was started
  // Written by the worker itself (single atomic words, outside the seqlock).
  std::uint64_t busy_since_ms = 0;    // wall ms a perform/call began, 0 when idle
  std::uint64_t last_perform_ms = 0;  // wall ms of the last finished perform
  std::uint32_t slot = 0;
  ExitInfo last_exit;
  std::vector<ExitRecord> exits;  // the last kExitHistory exits, newest first
  // The spec's manager-specific options: for dynmgrd's exec workers the
  // command (exec), env, cwd and response_timeout. {} when there are none.
  JsonText options = "{}";
  // The spec's resource limits (README "Resource limits and hangs").
  OnOverrun on_overrun = OnOverrun::kReport;
  std::uint64_t max_memory = 0;  // bytes; 0: no limit
  JsonText rlimits = "{}";       // {"nofile": 1024, ...}: the ones set
  // The spec's user and group as given (README "User and group"); "" unset.
  std::string user;
  std::string group;
  // Passivation (README "Passivation"): the spec's passivate_after (0: never)
  // and how many times this id has been passivated (a clean stop for
  // idleness; not a restart).
  std::uint32_t passivate_after_ms = 0;
  std::uint64_t passivations = 0;
};
BOOST_DESCRIBE_STRUCT(WorkerInfo, (),
                      (id, pid, status, restarts, payload, value, timeout_ms, lull, restart,
                       instant_perform, max_restarts, within_ms, pool, started_ms, busy_since_ms,
                       last_perform_ms, slot, last_exit, exits, options, on_overrun, max_memory,
                       rlimits, user, group, passivate_after_ms, passivations))

// "busy" when running with busy_since set, else the registry status.
std::string_view display_status(const WorkerInfo& r) noexcept;

// The supervisor's state database (README "Persistence"), as it last saw it.
struct PersistenceStatus {
  bool enabled = false;       // false: volatile (--no-state, or no state dir could be derived)
  bool ok = true;             // false: it could not be opened, or its last commit failed
  std::string dir;            // the state directory
  std::string error;          // why it is failing ("" when ok)
  std::uint64_t pending = 0;  // changes not yet committed
  std::uint64_t last_commit_ms = 0;  // wall ms of the last successful commit (0: none yet)
};

// The instance, from the registry's header.
struct InstanceInfo {
  ManagerState manager_state = ManagerState::kUnknown;
  pid_t supervisor_pid = 0;
  std::uint32_t capacity = 0;     // --max-workers
  std::uint32_t max_payload = 0;  // --max-payload
  std::uint32_t mailbox_depth = 0;
  std::uint32_t workers = 0;  // slots in use
  PoolStrategy pool_strategy = PoolStrategy::kNone;
  std::uint64_t created_ms = 0;             // wall ms the supervisor created the registry
  std::uint64_t dropped_frames = 0;         // malformed control frames dropped so far
  bool supervisor_alive = true;             // false between a supervisor's death and its successor
  std::uint32_t adopted = 0;                // workers the current supervisor adopted at its start
  std::uint32_t orphan_grace_ms = 0;        // how long workers outlive a dead supervisor
  std::uint64_t supervisor_started_ms = 0;  // wall ms the current supervisor took over
  PersistenceStatus persistence;
  // What ends the processes a worker starts (README "Containment"): "cgroup",
  // "subreaper" or "none".
  std::string containment;
};

}  // namespace dynmgr
