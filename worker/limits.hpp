#pragma once
// The worker's resource limits (README "Resource limits"): the spec's rlimits,
// set in the worker process before the manager exists, so the manager's code
// and every process it starts (an exec worker's command) inherit them.
//
// The supervisor passes them in DYNMGR_WORKER_RLIMITS (the spec's "rlimits"
// JSON object); the variable is removed once applied.
//
// Threading: runs first in the worker role, before any thread.

#include "shared/child_spec.hpp"
#include "shared/error.hpp"

namespace dynmgr {

inline constexpr const char* kRlimitsEnv = "DYNMGR_WORKER_RLIMITS";

// setrlimit for each limit set: soft = hard = the value, except cpu, whose
// hard limit is one second above (SIGXCPU at the limit, SIGKILL a second
// later for a process that handles SIGXCPU). Errors: kFailed naming the limit
// and errno (raising a hard limit needs CAP_SYS_RESOURCE).
Status apply_rlimits(const Rlimits& limits);

// Reads kRlimitsEnv (absent: nothing to do), validates it as a spec's
// rlimits, applies it and unsets the variable.
Status apply_worker_rlimits();

}  // namespace dynmgr
