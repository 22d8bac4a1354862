#pragma once
// Helpers for tests that drive real supervisors through the real dynmgrctl
// binary (tests/cli, tests/examples): a daemon under a unique instance name that
// is stopped and cleaned up whatever the test did, a foreground supervisor whose
// stdout is captured, and a dynmgrctl runner.
//
// Everything waits on conditions with deadlines (wait_until); nothing sleeps to
// synchronise.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dynmgr/client.hpp"
#include "shared/json.hpp"
#include "support/test_support.hpp"
#include "support/worker_output.hpp"

namespace dynmgr::testing {

using namespace std::chrono_literals;

// dynmgrctl -n NAME args...
inline CommandResult ctl(const std::string& name, std::vector<std::string> args,
                         const std::vector<std::string>& env = {},
                         std::chrono::milliseconds timeout = 30s) {
  std::vector<std::string> argv{bin_path("dynmgrctl"), "-n", name};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, env, timeout);
}

// dynmgrctl args... (no -n: $DYNMGR_NAME or "default" decide)
inline CommandResult ctl_raw(std::vector<std::string> args,
                             const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv{bin_path("dynmgrctl")};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, env);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) out.push_back(line);
  return out;
}

// Parses JSON; a null value (and a failed expectation by the caller) otherwise.
inline json::value parse(const std::string& text) {
  auto v = parse_json(text, "test output");
  return v ? *v : json::value(nullptr);
}

// Replaces every "{KEY}" in text by its value.
inline std::string fill(std::string text,
                        const std::vector<std::pair<std::string, std::string>>& kv) {
  for (const auto& [k, v] : kv) {
    const std::string key = "{" + k + "}";
    for (auto pos = text.find(key); pos != std::string::npos;
         pos = text.find(key, pos + v.size())) {
      text.replace(pos, key.size(), v);
    }
  }
  return text;
}

// Fails the current test if a supervisor's or its workers' output (the log)
// holds a sanitizer report (the ASan+UBSan build).
inline void expect_no_sanitizer_report(const std::string& output, const std::string& whose) {
  for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                             "runtime error:", "WARNING: ThreadSanitizer"}) {
    const auto pos = output.find(marker);
    if (pos != std::string::npos) {
      ADD_FAILURE() << whose << " reported: " << output.substr(pos > 200 ? pos - 200 : 0, 3000);
      return;
    }
  }
}

// True once pid has exited. A zombie counts as gone: a daemon's parent is init,
// which may take a while (here about a second) to reap it.
inline bool process_gone(pid_t pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH)) return true;
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return true;
  return stat[paren + 2] == 'Z' || stat[paren + 2] == 'X';
}

// A supervisor started as `BINARY -n <unique> --daemon --log-file <tmp> FLAGS...`.
// The destructor stops it (dynmgrctl stop; SIGKILL as a last resort), removes
// its shared objects and its log.
class Daemon {
 public:
  Daemon(const std::string& binary, std::vector<std::string> flags = {},
         std::vector<std::string> env = {}, const std::string& stem = "c")
      : name_(unique_instance(stem)), names_(name_) {
    log_ = "/tmp/dynmgr-test." + name_ + ".log";
    std::vector<std::string> argv{bin_path(binary), "-n", name_, "--daemon", "--log-file", log_};
    argv.insert(argv.end(), flags.begin(), flags.end());
    start_ = run_command(argv, env, 30s);
    if (start_.exit_code == 0) {
      Client::Options o;
      o.instance = name_;
      if (auto c = Client::connect(o)) pid_ = c->header().supervisor_pid;
    }
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon() { stop(); }

  bool ok() const { return start_.exit_code == 0 && pid_ > 0; }
  const CommandResult& start_result() const { return start_; }
  const std::string& name() const { return name_; }
  const Names& names() const { return names_; }
  pid_t pid() const { return pid_; }
  // The daemon's log, then what its workers wrote (their log files).
  std::string log() const { return read_file(log_) + worker_output(name_); }
  const std::string& log_path() const { return log_; }

  CommandResult ctl(std::vector<std::string> args, const std::vector<std::string>& env = {}) const {
    return testing::ctl(name_, std::move(args), env);
  }

  Client client(Millis timeout = Millis(10'000)) const {
    Client::Options o;
    o.instance = name_;
    o.timeout = timeout;
    return Client::connect(o).value();
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    if (pid_ > 0 && !process_gone(pid_)) {
      (void)testing::ctl(name_, {"--wait", "15000", "stop"}, {}, 20s);
      if (!wait_until([&] { return process_gone(pid_); }, 10s)) ::kill(pid_, SIGKILL);
      (void)wait_until([&] { return process_gone(pid_); }, 5s);
    }
    remove_shm_objects(names_);
    const std::string text = log();
    remove_state_dir(name_);
    expect_no_sanitizer_report(text, "supervisor '" + name_ + "' (" + log_ + ")");
    ::unlink(log_.c_str());
  }

 private:
  std::string name_;
  Names names_;
  std::string log_;
  CommandResult start_;
  pid_t pid_ = 0;
  bool stopped_ = false;
};

// A supervisor run in the foreground (our child) with stdout and stderr appended
// to a file, as a user runs `counter -n demo` in a terminal.
class Foreground {
 public:
  Foreground(const std::string& binary, std::vector<std::string> flags,
             const std::string& stem = "f")
      : name_(unique_instance(stem)), names_(name_) {
    out_ = "/tmp/dynmgr-test." + name_ + ".out";
    std::vector<std::string> args{bin_path(binary), "-n", name_};
    args.insert(args.end(), flags.begin(), flags.end());
    const int fd = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fd);
  }
  Foreground(const Foreground&) = delete;
  Foreground& operator=(const Foreground&) = delete;
  ~Foreground() {
    if (pid_ > 0) {
      (void)testing::ctl(name_, {"stop"}, {}, 20s);
      (void)wait();
    }
    remove_shm_objects(names_);
    const std::string text = output();
    remove_state_dir(name_);
    expect_no_sanitizer_report(text, "supervisor '" + name_ + "'");
    ::unlink(out_.c_str());
  }

  const std::string& name() const { return name_; }
  // Its stdout and stderr, then what its workers wrote (their log files).
  std::string output() const { return read_file(out_) + worker_output(name_); }
  // True once the supervisor answers ping.
  bool wait_up(std::chrono::milliseconds timeout = 10s) const {
    return wait_until([&] { return testing::ctl(name_, {"ping"}).exit_code == 0; }, timeout, 5ms);
  }
  // Waits for the process to exit (SIGKILL after 20 s); returns its exit code.
  int wait() {
    if (pid_ <= 0) return exit_code_;
    const int status = wait_child(pid_, 20s);
    pid_ = 0;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_code_;
  }

 private:
  std::string name_;
  Names names_;
  std::string out_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

}  // namespace dynmgr::testing
