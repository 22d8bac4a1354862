#pragma once
// The worker's side of containment (README "Containment"): everything a worker
// starts, whatever it does with sessions and process groups, ends with it.
//
//   cgroup:DIR  the worker creates its leaf DIR/<slot>.<pid> and moves itself
//               there; the supervisor kills the whole leaf when it reaps the
//               worker (shared/cgroup.hpp).
//   subreaper   the worker is PR_SET_CHILD_SUBREAPER: orphaned descendants are
//               re-parented to it, and end_descendants() kills and reaps them
//               all at its exit.
//   none        nothing (the supervisor's process-group kill only).
//
// Threading: enter_containment runs first in the worker role, before the
// manager is constructed and before any thread; end_descendants runs last.

#include "shared/error.hpp"
#include "shared/worker_args.hpp"

namespace dynmgr {

Status enter_containment(const WorkerArgs& args);

// Subreaper mode: SIGKILL every descendant still alive and reap them, until
// this process has no child left. No-op in the other modes. Blocks until each
// killed child is reaped (a child in uninterruptible sleep delays it).
void end_descendants();

}  // namespace dynmgr
