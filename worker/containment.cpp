#include "worker/containment.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "shared/cgroup.hpp"

namespace dynmgr {
namespace {

bool g_subreaper = false;  // set once, before any thread

// This process's children, from /proc/N/stat (this kernel has no
// /proc/PID/task/TID/children: CONFIG_PROC_CHILDREN is optional).
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  char path[64];
  char buf[512];
  while (const dirent* e = ::readdir(d)) {
    pid_t pid = 0;
    const char* n = e->d_name;
    const auto r = std::from_chars(n, n + std::strlen(n), pid);
    if (r.ec != std::errc() || *r.ptr != '\0' || pid <= 0) continue;
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    const ssize_t len = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (len <= 0) continue;
    buf[len] = '\0';
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const char* close_paren = std::strrchr(buf, ')');
    if (close_paren == nullptr) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2) continue;
    if (ppid == parent) out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

}  // namespace

Status enter_containment(const WorkerArgs& args) {
  const std::string& c = args.containment;
  if (c.rfind("cgroup:", 0) == 0) {
    // The worker enters its leaf itself, as its very first act, instead of
    // being spawned into it. Nothing escapes in between: until this returns
    // the worker has started no process, and no manager code or command runs
    // before it. The alternatives cost more: glibc's posix_spawn here has no
    // cgroup attribute (POSIX_SPAWN_SETCGROUP came with glibc 2.41), and
    // clone3(CLONE_INTO_CGROUP) would mean a fork of the supervisor (or a
    // hand-made vfork) instead of posix_spawn's vfork, plus code of ours
    // between fork and exec. The mkdir and the write are paid here, in the
    // worker, in parallel with others, not on the supervisor's loop.
    return cgroup::enter_leaf(c.substr(7), args.slot);
  }
  if (c == "subreaper") {
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
      return errno_error("unable to become a child subreaper", errno);
    }
    g_subreaper = true;
    return {};
  }
  if (c == "none") return {};
  return make_error(Errc::kInvalid, "unknown containment '" + c + "'");
}

void end_descendants() {
  if (!g_subreaper) return;
  for (;;) {
    siginfo_t si{};
    // No child at all (the common case: a manager that starts nothing): done
    // without reading /proc.
    if (::waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 && errno == ECHILD) return;
    // Kill the children; their children are re-parented to us as they die
    // (we are their subreaper) and are found on the next round, so every
    // descendant is reached, in whatever session or process group it is.
    const auto children = children_of(::getpid());
    for (pid_t pid : children) ::kill(pid, SIGKILL);
    // Wait only for what was killed: a child /proc does not show (no /proc
    // mounted) must not hang the exit; a zombie is reaped either way.
    si = siginfo_t{};
    const int how = children.empty() ? WEXITED | WNOHANG : WEXITED;
    int rc = 0;
    do {
      rc = ::waitid(P_ALL, 0, &si, how);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0 || (children.empty() && si.si_pid == 0)) return;
  }
}

}  // namespace dynmgr
