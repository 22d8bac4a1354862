#pragma once
// The supervisor's end of the worker template (README "Worker start";
// worker/template.hpp has the other end). One template process per
// supervisor, started at the first worker start; it forks each worker as the
// supervisor's child, so reaping, pidfds, PR_SET_PDEATHSIG and the registry's
// (pid, start time) work as for an exec'd worker.
//
// A template that cannot start, or that stops answering, is dropped; the
// caller then starts workers with spawn_process (posix_spawn + exec).
//
// It can also keep a spare: a child forked ahead of time that has taken the
// page faults of a new process and waits on a socket of its own; a restart
// hands it the worker's request and starts without a fork or those faults.

#include <sys/types.h>

#include <optional>
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

  // Asks for a spare if there is none, shown in `ps` as `shown`; does not
  // wait for it (its pid is read with the template's next answer). `broken`
  // as at spawn.
  Status keep_spare(const std::vector<std::string>& shown, bool& broken);
  // Hands a worker's request to the spare, as spawn would start it: the
  // spare's pid (it is the worker now; there is no spare until keep_spare),
  // or nullopt when there is none or it has died (reaped here).
  std::optional<SpawnedProcess> spawn_spare(const std::vector<std::string>& argv,
                                            const std::vector<std::string>& extra_env,
                                            const SpawnFds& fds);

  pid_t pid() const noexcept { return pid_; }
  // Closes its socket (it exits on EOF) and reaps it; SIGKILL if it is slow.
  // The spare, if any, is killed and reaped first.
  void stop() noexcept;

 private:
  WorkerTemplate(pid_t pid, int sock) noexcept : pid_(pid), sock_(sock) {}
  Result<SpawnedProcess> ask(const std::string& bytes, const std::vector<int>& from,
                             Deadline deadline, bool& broken);
  Result<SpawnedProcess> answer(Deadline deadline, bool& broken);
  // Reads the answer to a spare's request still unread: its pid.
  Status settle_spare(Deadline deadline, bool& broken);
  void drop_spare() noexcept;
  pid_t pid_ = 0;
  int sock_ = -1;
  pid_t spare_pid_ = 0;
  int spare_sock_ = -1;
  bool spare_pending_ = false;  // asked for, its pid not read yet
};

}  // namespace dynmgr
