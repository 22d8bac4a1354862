#pragma once
// The supervisor: the only writer of the registry, owner of every shared object
// of its instance, parent of every worker.
//
// One thread runs the event loop; its single input is the control queue
// (requests from clients, reports from workers, wake-ups from the ChildWatcher
// thread for signals and child exits), and its only waits are receives with a
// deadline taken from the timer set. No sleeps. Manager callbacks of the
// supervisor side (children_specs, handle_state_change, handle_timeout, pool)
// run on the loop thread.
//
// Life cycle: lock the instance (exclusive flock) -> remove the instance's stale
// objects -> create registry + control queue -> state `starting` -> start
// children_specs() -> `up` once all reported ready (or failed to start) ->
// serve -> on SIGTERM/SIGINT/stop: `down`, terminate every worker (terminate
// message, then SIGTERM to its process group after terminate_timeout, then
// SIGKILL after kill_timeout) -> remove every shared object -> exit 0.

#include <functional>
#include <memory>
#include <string>

#include "dynmgr/manager.hpp"
#include "shared/registry.hpp"
#include "supervisor/log_link.hpp"
#include "supervisor/restart_policy.hpp"
#include "supervisor/state_store.hpp"

namespace dynmgr {

// --containment (README "Containment"): what ends the processes a worker
// starts. kAuto: a cgroup v2 leaf per worker where one can be created, else
// the subreaper; kCgroup: a leaf or the supervisor does not start; kNone:
// only the process-group kill at the worker's reap.
enum class ContainmentWanted : std::uint8_t { kAuto, kCgroup, kSubreaper, kNone };

struct SupervisorOptions {
  std::string instance = "default";
  RegistryConfig registry;
  BackoffConfig backoff;
  std::uint32_t terminate_timeout_ms = 2000;  // terminate message -> SIGTERM
  std::uint32_t kill_timeout_ms = 3000;       // SIGTERM -> SIGKILL
  std::string worker_executable;              // empty: /proc/self/exe
  // Fork workers from a worker template process (README "Worker start");
  // false, or a template that fails: posix_spawn + exec for each worker.
  bool worker_template = true;
  // The command line, for `reexec` (SIGUSR2): the supervisor executes the file
  // at argv's executable path again with these arguments. Empty: no reexec.
  std::vector<std::string> argv;
  // The state database (README "Persistence"). Empty: volatile, nothing is
  // kept across a reboot. An absolute path.
  std::string state_dir;
  bool fresh = false;  // start from children_specs() only; the stored workers are dropped
  Durability durability = Durability::kBatch;
  std::uint32_t sync_interval_ms = 20;  // kBatch: the longest a change waits for its commit
  // Records in the event ring (`dynmgrctl watch`): 16..1048576, rounded up to
  // a power of two. A watcher more than this many events behind misses some.
  std::uint32_t event_capacity = 4096;
  // Serve Prometheus metrics over HTTP: "PORT", "HOST:PORT", "[IPv6]:PORT"
  // (default host 127.0.0.1). Empty: no HTTP server.
  std::string metrics_listen;
  // The token that enables the web dashboard's actions (restart, del), read
  // from --web-token-file by run_manager. Empty: the dashboard is read-only.
  std::string web_token;
  // Worker logs (README "Worker logs"): dir empty means workers inherit the
  // supervisor's stdout and stderr. An absolute path.
  LogConfig logs;
  ContainmentWanted containment = ContainmentWanted::kAuto;
  // Called once the manager is `up` for the first time (daemon readiness).
  std::function<void()> on_ready;
};

class Supervisor {
 public:
  Supervisor(Manager& manager, SupervisorOptions options);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Runs until stopped. Returns the process exit code (0 after a clean stop;
  // 1 if it could not start, with the reason logged).
  int run();

 private:
  class Loop;
  std::unique_ptr<Loop> loop_;
};

}  // namespace dynmgr
