#pragma once
// The worker runtime: the process the supervisor starts for one id.
//
// Life cycle: attach to the registry slot named on the command line (checking
// its incarnation), open the slot's mailbox and the control queue, run
// Manager::init, report ready, then loop: wait on the mailbox until the next
// perform is due, handle call/cast/terminate messages as they come, perform on
// schedule. Every change of payload/value/interval goes to the supervisor (the
// only registry writer) over the control queue; the worker itself stores only
// its slot's busy_since_ms and last_perform_ms words.
//
// The worker outlives its supervisor: when the supervisor dies (watched through
// a pidfd by a small thread), it keeps serving calls and casts and waits up to
// the registry's orphan grace for a successor to adopt it; without one it stops
// cleanly (Manager::terminate("orphaned"), exit 0). It stops cleanly on a
// terminate message or SIGTERM (Manager::terminate, then exit 0). A callback
// that throws crashes the worker (exit 1).

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "dynmgr/manager.hpp"
#include "shared/error.hpp"
#include "shared/worker_args.hpp"

namespace dynmgr {

// What the runtime knows about the running worker, for managers that need more
// than (id, payload): the exec manager derives its response deadlines from it.
struct WorkerContext {
  std::string id;
  std::string instance;
  std::uint32_t timeout_ms = 0;  // current perform interval
  double lull = 1.1;
};
// Valid inside worker callbacks (init, perform, call, cast, terminate, idle).
const WorkerContext& current_worker_context();

// Makes `fd` (a pipe or socket the manager reads) wake the idle worker when it
// becomes readable: housekeeping, and so Manager::idle(), runs at once
// (O_ASYNC + SIGIO, caught by the runtime). Call from a worker callback.
Status wake_on_input(int fd);

// Thrown by a manager's perform(), call() or cast() when the one process it
// runs for the worker (the exec manager's command) ended under it, while the
// worker itself is sound, and by its init() when, called again for a restart
// in place, that process ends before it is ready; idle() says the same with
// report_child_ended() below. Once the worker has been ready, the runtime
// tells the supervisor (kWorkerCommandExited), whose restart policy decides:
// restart in place (the runtime calls init(id, payload) again in the same
// process and reports ready again) or end the worker as for any other throw.
// A call it cut short is answered with kCrashed first. Before the worker's
// first ready it is a throw like any other. what() is exit.reason.
struct ChildEnded : std::runtime_error {
  ChildEnded(ExitInfo e, std::uint64_t uptime)
      : std::runtime_error(e.reason), exit(std::move(e)), uptime_ms(uptime) {}
  ExitInfo exit;
  std::uint64_t uptime_ms = 0;  // how long that process ran
};

// Called from a manager's idle() in place of throwing ChildEnded: the same,
// without an exception (a static binary's first throw sorts its unwind
// tables, ~5 ms on the development VM, which would be most of a restart in
// place). idle() then returns normally; the runtime takes it from there.
void report_child_ended(ExitInfo exit, std::uint64_t uptime_ms);
// What report_child_ended() left, once (nullopt: nothing since the last take).
// The runtime takes it after every idle().
std::optional<ChildEnded> take_child_ended();

// Runs the worker; returns the process exit code.
int run_worker(Manager& manager, const WorkerArgs& args);

}  // namespace dynmgr
