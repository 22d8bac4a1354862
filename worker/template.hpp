#pragma once
// The worker template role (README "Worker start"). The supervisor starts one
// process of the worker executable in this role; it has paid once for what
// every exec of a worker pays again (the exec of a large static binary, libc's
// and libstdc++'s start, the program's static constructors) and forks each
// worker on request, with CLONE_PARENT: the worker is the supervisor's child,
// exactly as if the supervisor had spawned it, and its pages stay shared with
// the template until written.
//
// Before the fork the template is single-threaded and holds no lock, so the
// child needs only what glibc's own fork does for such a process: its thread
// id in the thread descriptor (CLONE_CHILD_SETTID on the address the kernel
// reports, PR_GET_TID_ADDRESS) and its robust-futex list registered again.
// Where the kernel does not report that address the template refuses to start
// and the supervisor execs every worker, as before.

#include <functional>

namespace dynmgr {

// What the forked child runs: the worker role's main on the request's argv.
using WorkerRoleMain = std::function<int(int argc, char** argv)>;

// argv is the template's own (kTemplateRoleFlag ...). Returns when the
// supervisor closes the socket (exit code 0), or on a broken socket (1).
// Each forked worker leaves through std::exit with worker_main's result.
int run_worker_template(int argc, char** argv, const WorkerRoleMain& worker_main);

}  // namespace dynmgr
