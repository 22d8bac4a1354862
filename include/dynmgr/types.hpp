#pragma once
// The public vocabulary: manager and worker states, restart types, how a
// worker ended, pool strategies, durations.
//
// Every enum is described (BOOST_DESCRIBE_ENUM): its names are derived from
// the enumerators (kSpawnFailed is "spawn_failed"), so a new enumerator needs
// no other edit to be named, parsed and bounded.

#include <boost/describe/enum.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dynmgr/error.hpp"

namespace dynmgr {

using Millis = std::chrono::milliseconds;

// The manager's life cycle (Tarearbol: :starting, :up, :down).
enum class ManagerState : std::uint32_t { kUnknown = 0, kStarting = 1, kUp = 2, kDown = 3 };
BOOST_DESCRIBE_ENUM(ManagerState, kUnknown, kStarting, kUp, kDown)

// A worker's status as published in the registry.
enum class WorkerStatus : std::uint32_t {
  kFree = 0,        // slot unused
  kStarting = 1,    // spawned, init not finished
  kRunning = 2,     // idle or performing (busy is busy_since_ms != 0)
  kRestarting = 3,  // exited; waiting for its backoff delay before respawn
  kStopping = 4,    // terminate requested (del / replace / shutdown)
  kFailed = 5,      // over its restart intensity: not restarted until put again
  kHalted = 6,      // perform returned halt (transient: removed once reaped)
  kExited = 7,      // exited and not restarted by policy (temporary, transient normal exit)
  kPassive = 8,     // no process, payload and value kept: a call, cast or due perform starts it
  kPassivating = 9, // idle for passivate_after: terminate("passivate") sent, ending
};
// Adding a status: the enumerator here and in this list; its name, its parse and
// the bound the registry checks slots against follow from it.
BOOST_DESCRIBE_ENUM(WorkerStatus, kFree, kStarting, kRunning, kRestarting, kStopping, kFailed,
                    kHalted, kExited, kPassive, kPassivating)

// OTP's restart types.
enum class RestartType : std::uint32_t { kPermanent = 0, kTransient = 1, kTemporary = 2 };
BOOST_DESCRIBE_ENUM(RestartType, kPermanent, kTransient, kTemporary)

// What the supervisor does when a perform or call overruns lull x timeout:
// report it (handle_timeout, the event ring) or, systemd WatchdogSec style,
// also kill the worker and let its restart policy decide (exit kind "overrun").
enum class OnOverrun : std::uint32_t { kReport = 0, kKill = 1 };
BOOST_DESCRIBE_ENUM(OnOverrun, kReport, kKill)

// Pool pickup strategies (Tarearbol.Pool): how call_any/cast_any choose a worker.
enum class PoolStrategy : std::uint32_t { kNone = 0, kHashring = 1, kRandom = 2, kStream = 3 };
BOOST_DESCRIBE_ENUM(PoolStrategy, kNone, kHashring, kRandom, kStream)

// Names; a value that is no enumerator is "unknown" (RestartType: "permanent").
std::string_view to_string(ManagerState s) noexcept;
std::string_view to_string(WorkerStatus s) noexcept;
std::string_view to_string(RestartType r) noexcept;
std::string_view to_string(PoolStrategy s) noexcept;
std::string_view to_string(OnOverrun o) noexcept;
// Parses. nullopt / kInvalid (naming the expected values) for anything else.
std::optional<ManagerState> parse_manager_state(std::string_view s) noexcept;
std::optional<WorkerStatus> parse_worker_status(std::string_view s) noexcept;
Result<RestartType> parse_restart_type(std::string_view s);
// "report" or "kill".
Result<OnOverrun> parse_on_overrun(std::string_view s);
// "hashring", "random" or "stream" ("none" is not a strategy one can choose).
Result<PoolStrategy> parse_pool_strategy(std::string_view s);

// How a worker's last incarnation ended.
struct ExitInfo {
  // kUnknown: the process ended while it was not this supervisor's child (it
  // was adopted after a supervisor crash, or died while no supervisor ran):
  // only its parent could read its status, and that parent is gone.
  enum class Kind : std::int32_t {
    kNone = 0,
    kExited = 1,
    kSignaled = 2,
    kSpawnFailed = 3,
    kUnknown = 4,
    kOverrun = 5,    // killed by the supervisor: a perform/call overran lull x timeout (on_overrun kill)
    kMaxMemory = 6,  // killed by the supervisor: its memory went over the spec's max_memory
  };
  Kind kind = Kind::kNone;
  int code = 0;        // exit code, or signal number for kSignaled, or errno for kSpawnFailed
  std::string reason;  // human readable, e.g. "killed by SIGKILL"

  bool abnormal() const noexcept { return !(kind == Kind::kExited && code == 0); }
  static ExitInfo from_wait_status(int status);
  std::string describe() const;
};
BOOST_DESCRIBE_ENUM(ExitInfo::Kind, kNone, kExited, kSignaled, kSpawnFailed, kUnknown, kOverrun,
                    kMaxMemory)

// One entry of a worker's exit history (the registry keeps the last
// kExitHistory; `get` and `state --json` show them, newest first).
struct ExitRecord {
  std::uint64_t at_ms = 0;      // wall ms the supervisor saw the exit
  std::uint64_t uptime_ms = 0;  // how long that process had run (0: unknown)
  ExitInfo exit;
  bool restarted = false;           // the restart policy started it again
  std::uint64_t restart_in_ms = 0;  // after this backoff delay (when restarted)
  bool operator==(const ExitRecord& o) const {
    return at_ms == o.at_ms && uptime_ms == o.uptime_ms && exit.kind == o.exit.kind &&
           exit.code == o.exit.code && exit.reason == o.exit.reason && restarted == o.restarted &&
           restart_in_ms == o.restart_in_ms;
  }
};
inline constexpr std::size_t kExitHistory = 10;

std::string_view to_string(ExitInfo::Kind k) noexcept;  // "exited", "spawn_failed", ...
std::optional<ExitInfo::Kind> parse_exit_kind(std::string_view s) noexcept;

// Ids: 1..255 bytes, no control characters (they end up in terminal tables).
inline constexpr std::size_t kMaxIdLength = 255;
// Errors: kInvalid naming the rule broken (empty, too long, control character).
Status validate_id(std::string_view id);

}  // namespace dynmgr
