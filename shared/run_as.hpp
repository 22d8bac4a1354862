#pragma once
// The identity a worker runs as: its spec's user and group resolved to ids
// (README "User and group"), and the rules that follow from a worker that is
// not the supervisor's user.
//
// Resolution uses the system's user and group databases (getpwnam_r,
// getgrnam_r: /etc/passwd, or whatever NSS says); a decimal id is taken as
// the id itself. It runs in the supervisor when a spec arrives (put, the
// children file, reload: check_run_as) and when the spec is applied to a slot
// (the ids then kept in the registry, for every restart of that worker).
//
// The drop itself happens in the worker (worker/identity.hpp); the supervisor
// passes the resolved ids in kRunAsEnv.

#include <sys/types.h>

#include <optional>
#include <string>

#include "shared/child_spec.hpp"
#include "shared/error.hpp"

namespace dynmgr {

// "uid:gid", set by the supervisor in a worker's environment, read and unset
// by the worker.
inline constexpr const char* kRunAsEnv = "DYNMGR_WORKER_USER";

struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
  bool operator==(const RunAs&) const = default;
};

// nullopt when the spec sets neither user nor group. user alone: its uid and
// primary gid; group alone: the supervisor's effective uid with that gid.
// Errors: kInvalid "unknown user 'x'" / "unknown group 'x'"; a numeric user
// with no passwd entry needs a group (kInvalid saying so); kSystem when the
// databases cannot be read.
Result<std::optional<RunAs>> resolve_run_as(const ChildSpec& spec);

// resolve_run_as, then refuses (kInvalid, one line) an identity other than
// the supervisor's own when the supervisor is not root: only root can start
// a process as another user or group.
Result<std::optional<RunAs>> check_run_as(const ChildSpec& spec);

// The rule for shared objects a worker can no longer open (README "User and
// group"): the registry and the control queue are the supervisor's (0600),
// opened by the worker while it still has the supervisor's identity. A worker
// whose uid is not the supervisor's cannot reopen them, so when the
// supervisor replaces either (recreation after tampering, or a control queue
// a successor could not use), such a worker is restarted instead of being
// told to reopen (SIGURG). Its mailbox is given to it (chown) and is
// recreated as for any worker (Queue::give_to). `uid` is the worker's
// (nullopt: none set).
bool restart_to_reopen_shared(std::optional<uid_t> uid) noexcept;

// A static dynmgr binary (the default build) cannot load NSS modules: glibc
// would dlopen them beside its static copy (libnss_systemd, listed after
// "files" in Debian's nsswitch.conf, crashed the supervisor on an unknown
// name). There, users and groups come from /etc/passwd and /etc/group only
// ("files", built into glibc); a dynamically linked build follows
// nsswitch.conf. Called before every lookup; the first call decides.
void use_only_files_when_static() noexcept;

}  // namespace dynmgr
