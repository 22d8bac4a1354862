#pragma once
// A worker's specification (Tarearbol's child spec), validated up front: every
// error names the field and the value.

#include "dynmgr/error.hpp"
#include "dynmgr/json.hpp"
#include "dynmgr/types.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dynmgr {

// Resource limits set in the worker process before any manager code runs
// (setrlimit, soft = hard), so an exec worker's command inherits them.
// Unset (nullopt) keeps what the supervisor has.
struct Rlimits {
  std::optional<std::uint64_t> nofile;  // RLIMIT_NOFILE: open descriptors (16..1048576)
  std::optional<std::uint64_t> as;      // RLIMIT_AS: bytes of address space (> 0)
  std::optional<std::uint64_t> cpu;     // RLIMIT_CPU: seconds of CPU (> 0; SIGXCPU, then SIGKILL)
  std::optional<std::uint64_t> core;    // RLIMIT_CORE: bytes of a core file (0: none)
  bool empty() const noexcept { return !nofile && !as && !cpu && !core; }
  bool operator==(const Rlimits&) const = default;
  // {"nofile": 1024, ...}, only the set ones.
  json::object to_json() const;
};

// Longest user or group name a spec may give (useradd's limit; the registry
// keeps this many bytes of each).
inline constexpr std::size_t kMaxIdentityName = 32;

struct ChildSpec {
  json::value payload = nullptr;        // initial payload
  std::uint32_t timeout_ms = 1000;      // between performs; 0 = never perform
  double lull = 1.1;                    // overrun when a perform/call takes > lull * timeout
  bool instant_perform = false;         // perform right after init, not after one timeout
  RestartType restart = RestartType::kPermanent;
  std::uint32_t max_restarts = 5;       // intensity: at most this many restarts ...
  std::uint32_t within_ms = 30'000;     // ... within this window (ms), else `failed`
  json::object options;                 // manager-specific (exec manager: command, env, cwd)
  OnOverrun on_overrun = OnOverrun::kReport;  // kill: an overrun perform/call kills the worker
  std::uint64_t max_memory = 0;         // bytes of RSS; above it the worker is restarted (0: none)
  Rlimits rlimits;
  // Passivation (README "Passivation"): after this many ms with no call, cast
  // or perform the worker is stopped (terminate("passivate")) and its slot
  // turns `passive`: no process, no mailbox, payload and value kept. The next
  // call or cast, or its next perform when timeout > 0, starts it again from
  // its last committed payload. 0: never.
  std::uint32_t passivate_after_ms = 0;
  // The identity the worker process runs as (README "User and group"): a
  // name or a decimal id, "" for unset. user alone: that user, its primary
  // group and its supplementary groups; group alone: the supervisor's user
  // with that group. Set only by a supervisor running as root (else refused
  // unless it is the supervisor's own identity); dropped in the worker before
  // the manager's init.
  std::string user;
  std::string group;

  // Errors: kInvalid naming the field and its value (lull outside 1..1000,
  // timeout or passivate_after over 2^31-1, max_restarts without a positive within_ms, an
  // rlimit out of its range, a user or group that is empty, longer than
  // kMaxIdentityName bytes or holds a character outside [A-Za-z0-9._-]).
  // Names are not looked up here (shared/run_as.hpp does, in the supervisor).
  Status validate() const;
  // The children-file / put-request form: timeout, within (no _ms), ...
  json::object to_json() const;
  // Fields absent from v keep their defaults. Errors: kInvalid for a value
  // that is not an object, an unknown field, a field of the wrong type or
  // range, or a spec validate() refuses.
  static Result<ChildSpec> from_json(const json::value& v);
};

}  // namespace dynmgr
