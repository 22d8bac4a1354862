#pragma once
// Test helpers: unique instance names, condition waits with deadlines (never a
// bare sleep to synchronise), forked helper processes, /dev/shm inspection.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "shared/names.hpp"

namespace dynmgr::testing {

// $DYNMGR_STATE_ROOT: where the supervisors tests start keep their state
// databases (<root>/<instance>); set for every test process to a scratch dir.
std::string state_root();
// Removes <state root>/<instance> (a test's supervisor leaves its database there).
void remove_state_dir(const std::string& instance);
// A name unique to this test process and call ("t<pid>x<n>"), so ctest -j never collides.
std::string unique_instance(const std::string& stem = "t");

// Polls cond every `poll` until it is true or `timeout` passes; returns cond's last value.
bool wait_until(const std::function<bool()>& cond,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(10000),
                std::chrono::microseconds poll = std::chrono::microseconds(500));

// Forks; the child runs fn and _exits with its return value. Returns the child's pid.
pid_t fork_child(const std::function<int()>& fn);
// Waits for pid (blocking up to timeout, then SIGKILLs it). Returns the wait status.
int wait_child(pid_t pid, std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));

// The scheduler state of pid from /proc/<pid>/stat ('S' asleep, 'T' stopped,
// 'R' running), '?' if unknown.
char process_state(pid_t pid);

// Names of /dev/shm entries starting with the instance's prefix.
std::vector<std::string> shm_objects(const Names& names);
// Removes every /dev/shm entry of the instance (test cleanup).
void remove_shm_objects(const Names& names);

// Runs argv, captures stdout and stderr; returns the exit code (or 128+signal).
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult run_command(const std::vector<std::string>& argv,
                          const std::vector<std::string>& extra_env = {},
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));

// Path of a built binary: $DYNMGR_BIN_DIR/name.
std::string bin_path(const std::string& name);

}  // namespace dynmgr::testing
