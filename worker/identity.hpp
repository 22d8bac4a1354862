#pragma once
// The worker's drop to the spec's user and group (README "User and group").
//
// The supervisor resolves the spec's user/group (shared/run_as.hpp) and, when
// it runs as root, passes the ids in DYNMGR_WORKER_USER ("uid:gid"). The worker
// runtime calls drop_worker_identity once it has attached — the registry, its
// mailbox and the control queue are open, as the supervisor's user — and
// before the manager's init: the manager's init and callbacks, and every
// process they start (an exec worker's command), run as that user.
//
// The manager object itself is constructed before (app/run.cpp: factory()),
// with the supervisor's identity: a constructor should do no work.
//
// Threading: the loop thread, once; glibc applies the set*id calls to every
// thread of the process (the supervisor watch's too).

#include "shared/control_sender.hpp"
#include "shared/error.hpp"

namespace dynmgr {

// Reads and unsets DYNMGR_WORKER_USER (absent: nothing to do). Opens the
// control queue first (control.open()), then: the supplementary groups
// (initgroups of the uid's passwd name with gid; just gid when the uid has
// no passwd entry), setresgid, setresuid, and for a uid other than 0 checks
// that setuid(0) now fails. Errors: kFailed naming the step and errno; the
// caller reports it as the worker's start failure and exits non-zero.
Status drop_worker_identity(ControlSender& control);

}  // namespace dynmgr
