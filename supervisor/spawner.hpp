#pragma once
// Starts worker processes: posix_spawn of the application's own binary in worker
// role, in a new process group, with default signal dispositions and an empty
// signal mask. posix_spawn (vfork-based in glibc) measured faster than
// fork+exec here (DESIGN.md §8) and runs no user code between fork and exec.
// Every descriptor of ours is close-on-exec, so the child inherits none of them.
//
// The caller watches the child (ChildWatcher: a pidfd in its own descriptor
// table) and reaps it by pid — never a global waitpid(-1).

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "shared/error.hpp"

namespace dynmgr {

struct SpawnedProcess {
  pid_t pid = 0;
};

// Descriptors the child gets: each `from` (ours, close-on-exec) becomes its
// `to`; everything else from 3 up is closed. new_session: setsid instead of a
// new process group (the log collector, which belongs to no terminal).
struct SpawnFds {
  std::vector<std::pair<int, int>> dup;  // {from, to}
  bool new_session = false;
};

// argv[0] is the path. env entries are "K=V" and are added to the environment,
// which is ours without NOTIFY_SOCKET (systemd hears from the supervisor only).
Result<SpawnedProcess> spawn_process(const std::string& path, const std::vector<std::string>& argv,
                                     const std::vector<std::string>& extra_env,
                                     const SpawnFds& fds = {});

// Absolute path of the running executable (/proc/self/exe).
Result<std::string> self_executable();

}  // namespace dynmgr
