#include "support/test_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "shared/cgroup.hpp"
#include "shared/shm_objects.hpp"
#include "support/worker_output.hpp"

extern char** environ;

namespace dynmgr::testing {
namespace {

// Every supervisor a test starts keeps its state database under one scratch
// root (its instance name is unique), never in /var/lib or the home directory.
const bool kStateRootSet = [] {
  const std::string root = "/tmp/dynmgr-test-state." + std::to_string(::getuid());
  ::setenv("DYNMGR_STATE_ROOT", root.c_str(), /*overwrite=*/0);
  return true;
}();

}  // namespace

std::string state_root() { return std::getenv("DYNMGR_STATE_ROOT"); }

void remove_state_dir(const std::string& instance) {
  std::error_code ec;
  std::filesystem::remove_all(state_root() + "/" + instance, ec);
}

std::string worker_log_dir(const std::string& instance) {
  return state_root() + "/" + instance + "/logs";
}

std::string worker_output(const std::string& instance) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(worker_log_dir(instance), ec)) {
    const std::string n = e.path().filename().string();
    if (!n.empty() && n[0] != '.' && n.find(".log") != std::string::npos) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::string out;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
      // "<27-byte time> <tag> <text>"
      const auto sp = line.find(' ', 28);
      out += (line.size() > 28 && sp != std::string::npos) ? line.substr(sp + 1) : line;
      out += '\n';
    }
  }
  return out;
}

std::string unique_instance(const std::string& stem) {
  static std::atomic<int> counter{0};
  return stem + std::to_string(::getpid()) + "x" + std::to_string(counter++);
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
                std::chrono::microseconds poll) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return cond();
    std::this_thread::sleep_for(
        poll);  // polling interval of a deadline wait, not a synchronisation
  }
}

pid_t fork_child(const std::function<int()>& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int rc = 1;
    try {
      rc = fn();
    } catch (...) {
      rc = 99;
    }
    ::_exit(rc);
  }
  return pid;
}

int wait_child(pid_t pid, std::chrono::milliseconds timeout) {
  int status = 0;
  const bool done = wait_until(
      [&] {
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        return r == pid || (r < 0 && errno == ECHILD);
      },
      timeout, std::chrono::microseconds(200));
  if (!done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  return status;
}

std::vector<std::string> shm_objects(const Names& names) {
  return list_shm_objects(names.prefix());
}

void remove_shm_objects(const Names& names) {
  for (const auto& n : shm_objects(names)) ::unlink(("/dev/shm/" + n).c_str());
  // A supervisor that was SIGKILLed and never followed leaves its cgroup
  // directory (README "Containment"): its leaves are killed and removed too.
  auto own = cgroup::own_directory();
  if (!own) return;
  const std::string dir = *own + "/dynmgr." + names.instance();
  if (::access(dir.c_str(), F_OK) != 0) return;
  for (const auto& leaf : cgroup::list_leaves(dir)) {
    (void)cgroup::kill_leaf_and_wait(dir + "/" + leaf, Deadline::after(Millis(5000)));
  }
  (void)cgroup::remove_instance(dir);
}

CommandResult run_command(const std::vector<std::string>& argv,
                          const std::vector<std::string>& extra_env,
                          std::chrono::milliseconds timeout) {
  CommandResult res;
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) return res;
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) env_store.emplace_back(*e);
  for (const auto& e : extra_env) env_store.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execve(cargv[0], cargv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? res.out : res.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return res;
}

char process_state(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return '?';
  char buf[512] = {};
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const char* close = std::strrchr(buf, ')');
  return (n > 0 && close != nullptr && close[1] == ' ') ? close[2] : '?';
}

std::string bin_path(const std::string& name) {
  const char* dir = std::getenv("DYNMGR_BIN_DIR");
  return std::string(dir != nullptr ? dir : "build/bin") + "/" + name;
}

}  // namespace dynmgr::testing
