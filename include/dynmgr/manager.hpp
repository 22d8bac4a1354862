#pragma once
// dynmgr::Manager — the C++ form of Tarearbol's DynamicManager behaviour.
//
// A manager is one class; the application is one binary:
//
//   int main(int argc, char** argv) { return dynmgr::run<MyManager>(argc, argv); }
//
// Started normally that binary is the supervisor. Each worker is the same
// binary started again in worker role (posix_spawn), so the worker-side callbacks
// (init, perform, call, cast, terminate) run in a fresh, single-threaded process
// per id, and the supervisor-side ones (children_specs, handle_state_change,
// handle_timeout, pool) run in the supervisor. A manager object is constructed
// in both roles; do not keep state in it that one role expects from the other.
//
// Throwing from a worker callback crashes that worker (it exits with code 1 and
// the restart policy applies); the exception's what() becomes the reason shown
// in the registry's last_exit. A call that throws first replies with the error.

#include "dynmgr/child_spec.hpp"
#include "dynmgr/error.hpp"
#include "dynmgr/json.hpp"
#include "dynmgr/types.hpp"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace dynmgr {

// What a worker callback returns (Tarearbol's {:ok, x}, {:replace, p}, ...).
class Response {
 public:
  enum class Kind { kOk, kReplace, kReplaceId, kTimeout, kHalt };

  // Store `result` as the worker's value; payload unchanged. A call replies result.
  static Response ok(json::value result = nullptr);
  // Payload (and value) := payload. A call replies payload.
  static Response replace(json::value payload);
  // This worker is replaced by a worker under new_id with payload (same spec).
  static Response replace(std::string new_id, json::value payload);
  // Store result; from now on perform every `ms` milliseconds.
  static Response timeout(std::uint32_t ms, json::value result = nullptr);
  // The worker is done: removed from the registry, not restarted.
  static Response halt();

  // For a call answered with replace(p): reply `reply` instead of p (the exec
  // manager's {"reply": X, "replace": P}).
  Response& with_reply(json::value reply) {
    reply_ = std::move(reply);
    return *this;
  }

  Kind kind() const noexcept { return kind_; }
  const std::optional<json::value>& reply() const noexcept { return reply_; }
  const json::value& value() const noexcept { return value_; }
  const std::string& new_id() const noexcept { return new_id_; }
  std::uint32_t timeout_ms() const noexcept { return timeout_ms_; }

 private:
  Kind kind_ = Kind::kOk;
  json::value value_;
  std::string new_id_;
  std::uint32_t timeout_ms_ = 0;
  std::optional<json::value> reply_;
};

// The worker's view of itself, passed to call/cast/terminate ({id, payload}).
struct WorkerState {
  std::string id;
  json::value payload;
};

// Passed to handle_timeout when a perform or call overran lull * timeout.
struct TimeoutInfo {
  std::string id;
  pid_t pid = 0;
  std::uint64_t busy_ms = 0;   // how long it has been busy so far
  std::uint64_t limit_ms = 0;  // lull * timeout
  std::uint32_t timeout_ms = 0;
  double lull = 0;
};

enum class StateChangeAnswer { kOk, kRestart };

// A pool (Tarearbol.Pool): `size` identical workers with timeout 0, addressed
// without an id by call_any/cast_any through the pickup strategy.
struct PoolSpec {
  std::uint32_t size = 2;
  json::value payload = nullptr;  // initial payload of every member (then init())
  PoolStrategy strategy = PoolStrategy::kStream;
  std::string id_prefix = "pool-";  // members are <prefix>1 .. <prefix>size
  // Members idle this long are passivated (README "Passivation"); call_any /
  // cast_any start a passive one when no member is free. 0: never.
  std::uint32_t passivate_after_ms = 0;
};

class Manager {
 public:
  virtual ~Manager() = default;

  // ---- supervisor side
  // Initial workers, started at boot (state `starting` until all are up).
  virtual std::map<std::string, ChildSpec> children_specs() { return {}; }
  // `dynmgrctl reload [FILE]`: the children the manager wants now. `file` is
  // FILE as the client gave it (absolute), or "" for the manager's own source.
  // The supervisor compares the answer with the children it last applied and
  // starts, stops and replaces only what changed; an error changes nothing.
  // The base one answers children_specs() for "" and refuses a file
  // (kInvalid); a manager that reads a children file overrides it.
  virtual Result<std::map<std::string, ChildSpec>> reload_children(const std::string& file);
  // Called on every manager state change; kRestart restarts the manager
  // (back to children_specs()), as Tarearbol's :restart does.
  virtual StateChangeAnswer handle_state_change(ManagerState state);
  // A perform or call has been running longer than lull * timeout.
  virtual void handle_timeout(const TimeoutInfo& info);
  // Declares a pool; nullopt (the default) for an ordinary manager.
  virtual std::optional<PoolSpec> pool() const { return std::nullopt; }
  // Checks (and may complete) a spec before put or boot starts it. An error
  // (usually kInvalid) is the put's reply, code and message as returned (the
  // exec manager requires a command); a throw is kFailed "check_spec threw: ...".
  // The base one refuses the exec options (exec, env, cwd, response_timeout):
  // a manager that uses them overrides it.
  virtual Status check_spec(const std::string& id, ChildSpec& spec);

  // ---- worker side
  // Runs in the worker before its first perform; returns the payload to start with.
  virtual json::value init(const std::string& id, const json::value& payload);
  // Called every `timeout` ms.
  virtual Response perform(const std::string& id, const json::value& payload) = 0;
  // Synchronous message: the caller gets the response's value as its reply.
  virtual Response call(const json::value& message, const WorkerState& state);
  // Asynchronous message: the caller only learns it was accepted.
  virtual Response cast(const json::value& message, const WorkerState& state);
  // Called before the worker stops (del, shutdown, replace, halt).
  virtual void terminate(std::string_view reason, const WorkerState& state);
  // Housekeeping for an idle worker: called about every idle_interval(), at
  // once when a child process of the worker exits (SIGCHLD), and when a
  // descriptor the worker watches becomes readable (the exec manager's
  // command output). Throwing from it crashes the worker like any callback.
  //
  // A manager that does not override idle() (or whose override calls
  // Manager::idle()) costs nothing while idle: its workers sleep until a
  // message, a signal or their next perform, and never wake to call it. The
  // runtime finds this out from the first call, made after init() and before
  // the worker reports ready.
  virtual void idle(const WorkerState& state);
  // How often idle() runs while the worker is idle (default 5000 ms).
  // kOnEventsOnly: never on a timer, only on the events above.
  virtual Millis idle_interval() const { return Millis(5000); }
  static constexpr Millis kOnEventsOnly = Millis::max();

  // True once the base idle() has run: the runtime then stops waking the
  // worker for housekeeping.
  bool idle_is_default() const noexcept { return idle_is_default_; }

 private:
  bool idle_is_default_ = false;
};

}  // namespace dynmgr
