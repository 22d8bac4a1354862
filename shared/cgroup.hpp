#pragma once
// cgroup v2 leaves that contain a worker and everything it starts (README
// "Containment"). The supervisor chooses a directory for its instance,
//   <cgroup2 mount><its own cgroup>/dynmgr.<instance>/
// and each worker creates and enters its leaf `<slot>.<pid>` there as its very
// first act (worker/containment.cpp says why the worker and not the spawner).
// A leaf is named by what the registry records (slot, pid), so a supervisor
// that adopts a worker finds its leaf without being told.
//
// No internal-process rule: the instance directory and its leaves enable no
// controllers, so processes may live in the leaves whatever the supervisor's
// own cgroup delegates; the supervisor itself stays where it was started.
//
// Every function is a plain syscall sequence; errors are values. Not
// async-signal-safe (std::string): never call between fork and exec.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "shared/clock.hpp"
#include "shared/error.hpp"

namespace dynmgr::cgroup {

// The directory of this process's cgroup in the cgroup2 hierarchy: the
// cgroup2 mount from /proc/self/mountinfo joined with the `0::` line of
// /proc/self/cgroup. kNotFound when no cgroup2 is mounted.
Result<std::string> own_directory();

// Whether the cgroup2 mount has the `favordynmods` option: without it, moving
// a process into a cgroup (a worker entering its leaf) waits for an RCU grace
// period when no move happened in the last one (README "Containment"). From
// /proc/self/mountinfo; mountinfo_favors_dynamic_moves parses one such text.
bool favors_dynamic_moves();
bool mountinfo_favors_dynamic_moves(const std::string& mountinfo);

// Creates (or reuses) `<own>/dynmgr.<instance>` and proves a leaf can be made
// and entered there: mkdir of a probe leaf, write access to its cgroup.procs
// and to the source's. Returns the instance directory. The reason is one line
// (EACCES, EROFS, no cgroup2, ...).
Result<std::string> prepare_instance(const std::string& instance);

std::string leaf_path(const std::string& instance_dir, std::uint32_t slot, pid_t pid);

// Worker side: mkdir <instance_dir>/<slot>.<getpid()> (an existing one is
// reused) and move the calling process into it.
Status enter_leaf(const std::string& instance_dir, std::uint32_t slot);

// Kills every process in a leaf (cgroup.kill, kernel >= 5.14; else SIGKILL to
// each pid of cgroup.procs) and removes it. true: the leaf is gone (or never
// was); false: its processes are still dying (EBUSY), call again.
Result<bool> kill_leaf(const std::string& leaf);

// kill_leaf, then waits (poll on cgroup.events, a condition, not a sleep)
// until the leaf is empty and removed, or the deadline passes (false).
bool kill_leaf_and_wait(const std::string& leaf, Deadline deadline);

// The leaves under an instance directory (names only: "<slot>.<pid>").
std::vector<std::string> list_leaves(const std::string& instance_dir);

// Parses "<slot>.<pid>"; false for anything else.
bool parse_leaf_name(const std::string& name, std::uint32_t& slot, pid_t& pid);

// rmdir of the instance directory (after its leaves are gone).
Status remove_instance(const std::string& instance_dir);

}  // namespace dynmgr::cgroup
