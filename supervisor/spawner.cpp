#include "supervisor/spawner.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

extern char** environ;

namespace dynmgr {

Result<std::string> self_executable() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return errno_error("unable to resolve /proc/self/exe", errno);
  return std::string(buf, static_cast<std::size_t>(n));
}

Result<SpawnedProcess> spawn_process(const std::string& path, const std::vector<std::string>& argv,
                                     const std::vector<std::string>& extra_env,
                                     const SpawnFds& fds) {
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  std::vector<char*> cenv;
  for (char** e = environ; *e != nullptr; ++e) {
    // systemd's readiness socket is the supervisor's alone: a worker that
    // notified (an exec worker's command linking libsystemd would) could
    // tell systemd the service is ready, reloading or stopping.
    if (std::strncmp(*e, "NOTIFY_SOCKET=", 14) == 0) continue;
    bool overridden = false;
    for (const auto& x : extra_env) {
      const auto eq = x.find('=');
      if (eq != std::string::npos && std::strncmp(*e, x.c_str(), eq + 1) == 0) overridden = true;
    }
    if (!overridden) cenv.push_back(*e);
  }
  for (const auto& x : extra_env) cenv.push_back(const_cast<char*>(x.c_str()));
  cenv.push_back(nullptr);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty;
  sigemptyset(&empty);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM, SIGXFSZ}) {
    sigaddset(&defaults, s);
  }
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (fds.new_session) {
    flags |= POSIX_SPAWN_SETSID;
  } else {
    posix_spawnattr_setpgroup(&attr, 0);  // its own process group: stop/kill reach its children
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(&attr, flags);
  // Ours are all close-on-exec, but the supervisor may have inherited open
  // descriptors from whoever started it: none of them reaches a worker.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // Callers pass descriptors numbered above every `to` (see spawn_fd_above),
  // so no dup2 overwrites a later one's source.
  for (const auto& [from, to] : fds.dup) posix_spawn_file_actions_adddup2(&actions, from, to);
  int first_closed = 3;
  for (const auto& [from, to] : fds.dup) first_closed = std::max(first_closed, to + 1);
  posix_spawn_file_actions_addclosefrom_np(&actions, first_closed);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, path.c_str(), &actions, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return errno_error("unable to spawn " + path, rc);
  return SpawnedProcess{pid};
}

}  // namespace dynmgr
