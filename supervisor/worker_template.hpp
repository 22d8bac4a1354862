#pragma once
// The supervisor's end of the worker template (README "Worker start";
// worker/template.hpp has the other end). One template process per
// supervisor, started at the first worker start; it forks each worker as the
// supervisor's child, so reaping, pidfds, PR_SET_PDEATHSIG and the registry's
// (pid, start time) work as for an exec'd worker.
//
// A template that cannot start, or that stops answering, is dropped; the
// caller then starts workers with spawn_process (posix_spawn + exec).

#include <sys/types.h>

#include <string>
#include <vector>

#include "shared/clock.hpp"
#include "shared/error.hpp"
#include "supervisor/spawner.hpp"

namespace dynmgr {

class WorkerTemplate {
 public:
  // Spawns `executable` in the template role and waits, until `deadline`, for
  // its hello: an error if it exits or stays silent (e.g. an executable of an
  // older release, or a kernel without PR_GET_TID_ADDRESS).
  static Result<WorkerTemplate> start(const std::string& executable, const std::string& instance,
                                      Deadline deadline);

  WorkerTemplate(WorkerTemplate&&) noexcept;
  WorkerTemplate& operator=(WorkerTemplate&&) noexcept;
  ~WorkerTemplate();  // stop()

  // Forks a worker with this argv (its argv[0] is the executable), extra
  // environment and descriptors, as spawn_process would start it. On an
  // error, `broken` tells a template that failed itself (stop() it and start
  // anew) from a fork the kernel refused (the errno; the template is sound).
  Result<SpawnedProcess> spawn(const std::vector<std::string>& argv,
                               const std::vector<std::string>& extra_env, const SpawnFds& fds,
                               Deadline deadline, bool& broken);

  pid_t pid() const noexcept { return pid_; }
  // Closes its socket (it exits on EOF) and reaps it; SIGKILL if it is slow.
  void stop() noexcept;

 private:
  WorkerTemplate(pid_t pid, int sock) noexcept : pid_(pid), sock_(sock) {}
  pid_t pid_ = 0;
  int sock_ = -1;
};

}  // namespace dynmgr
