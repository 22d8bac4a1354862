#include "dynmgrd_harness.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace dynmgr::testing {

std::string source_path(const std::string& relative) {
  return std::string(DYNMGR_SOURCE_DIR) + "/" + relative;
}
std::string script_path(const std::string& name) {
  return std::string(DYNMGR_WORKER_SCRIPTS) + "/" + name;
}
std::string probe_command_path() { return DYNMGR_EXEC_PROBE_COMMAND; }

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// State letter and parent of pid from /proc/PID/stat ('\0' when it does not exist).
std::pair<char, pid_t> stat_of(pid_t pid) {
  const std::string s = read_text("/proc/" + std::to_string(pid) + "/stat");
  const auto close =
      s.rfind(')');  // the command name may contain anything but ends at the last ')'
  if (close == std::string::npos || close + 4 >= s.size()) return {'\0', 0};
  std::istringstream rest(s.substr(close + 2));
  char state = '\0';
  long ppid = 0;
  rest >> state >> ppid;
  return {state, static_cast<pid_t>(ppid)};
}

std::vector<pid_t> all_pids() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && pid > 0) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

}  // namespace

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  for (pid_t p : all_pids()) {
    const auto [state, ppid] = stat_of(p);
    if (state != '\0' && ppid == pid) out.push_back(p);
  }
  return out;
}

bool process_dead(pid_t pid) {
  if (pid <= 0) return true;
  int status = 0;
  (void)::waitpid(pid, &status, WNOHANG);  // ours (adopted) once it is a zombie
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  const char state = stat_of(pid).first;
  return state == '\0' || state == 'Z' || state == 'X';
}

std::vector<int> fds_of(pid_t pid) {
  std::vector<int> out;
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    out.push_back(std::atoi(e->d_name));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

void reap_adopted() {
  int status = 0;
  while (::waitpid(-1, &status, WNOHANG) > 0) {
  }
}

json::value parse(const std::string& text) {
  auto v = parse_json(text, "test text");
  return v ? *v : json::value(nullptr);
}

std::string last_exit_reason(const WorkerInfo& r) {
  return r.last_exit.kind == ExitInfo::Kind::kNone ? std::string() : r.last_exit.reason;
}

DynmgrdTest::DynmgrdTest() : instance_(unique_instance("xw")), names_(instance_) {}

void DynmgrdTest::SetUp() {
  // The daemon and orphaned commands come to us: they can be seen dead and reaped.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0) << std::strerror(errno);
  std::string tmpl = "/tmp/dynmgr-test-" + instance_ + "-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
  dir_ = tmpl;
}

void DynmgrdTest::TearDown() {
  if (HasFailure()) std::cerr << "---- dynmgrd log of " << instance_ << ":\n" << log() << "----\n";
  client_.reset();
  if (sup_pid_ > 0 && !process_dead(sup_pid_)) {
    (void)ctl({"--wait", "15000", "stop"});
    if (!wait_until([&] { return process_dead(sup_pid_); }, kWait, 1ms)) {
      ADD_FAILURE() << "dynmgrd " << sup_pid_ << " did not stop; killing it";
      ::kill(sup_pid_, SIGKILL);
      (void)wait_until([&] { return process_dead(sup_pid_); }, 5s, 1ms);
    }
  }
  // Workers die with the supervisor and commands with their worker; whatever a
  // failed test left behind goes now, with its process group.
  for (pid_t pid : tracked_) {
    if (process_dead(pid)) continue;
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
  }
  for (pid_t pid : tracked_) (void)wait_until([&] { return process_dead(pid); }, 5s, 1ms);
  reap_adopted();
  remove_shm_objects(names_);
  remove_state_dir(instance_);
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

CommandResult DynmgrdTest::start_raw(std::vector<std::string> flags, std::vector<std::string> env) {
  std::vector<std::string> argv{
      bin_path("dynmgrd"), "-n", instance_,       "--daemon", "--log-file", path("dynmgrd.log"),
      "--backoff-base",    "20", "--backoff-cap", "200"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  CommandResult r = run_command(argv, env, kWait);
  if (r.exit_code == 0) {
    auto c = Client::connect(Client::Options{instance_, Millis(15'000)});
    if (c) {
      sup_pid_ = c->header().supervisor_pid;
      client_.emplace(std::move(*c));
    }
  }
  return r;
}

::testing::AssertionResult DynmgrdTest::start(std::vector<std::string> flags,
                                              std::vector<std::string> env) {
  const CommandResult r = start_raw(std::move(flags), std::move(env));
  if (r.exit_code != 0) {
    return ::testing::AssertionFailure()
           << "dynmgrd exited with " << r.exit_code << ": " << r.err << "\n"
           << log();
  }
  if (sup_pid_ <= 0) return ::testing::AssertionFailure() << "no registry after dynmgrd --daemon";
  return ::testing::AssertionSuccess();
}

CommandResult DynmgrdTest::ctl(std::vector<std::string> args) const {
  std::vector<std::string> argv{bin_path("dynmgrctl"), "-n", instance_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, {}, kWait + 10s);
}

std::optional<WorkerInfo> DynmgrdTest::record(const std::string& id) {
  if (!client_) {
    auto c = Client::connect(Client::Options{instance_, Millis(15'000)});
    if (!c) return std::nullopt;
    client_.emplace(std::move(*c));
  }
  auto r = client_->get(id);
  if (!r) return std::nullopt;
  return std::move(*r);
}

std::optional<WorkerInfo> DynmgrdTest::wait_record(
    const std::string& id, const std::function<bool(const WorkerInfo&)>& pred,
    std::chrono::milliseconds timeout) {
  std::optional<WorkerInfo> last;
  (void)wait_until(
      [&] {
        auto r = record(id);
        if (r) last = std::move(r);
        return r.has_value() && pred(*last);
      },
      timeout, 2ms);
  return last;
}

json::value DynmgrdTest::payload(const std::string& id) {
  auto r = record(id);
  return r ? parse(r->payload) : json::value(nullptr);
}

pid_t DynmgrdTest::worker_pid(const std::string& id) {
  auto r = wait_record(
      id, [](const WorkerInfo& s) { return s.status == WorkerStatus::kRunning && s.pid > 0; });
  if (!r || r->status != WorkerStatus::kRunning || r->pid <= 0) return 0;
  track(r->pid);
  return r->pid;
}

pid_t DynmgrdTest::command_of(pid_t worker) {
  pid_t cmd = 0;
  (void)wait_until(
      [&] {
        const auto kids = children_of(worker);
        cmd = kids.size() == 1 ? kids.front() : 0;
        return cmd > 0;
      },
      kWait, 2ms);
  if (cmd > 0) track(cmd);
  return cmd;
}

void DynmgrdTest::track(pid_t pid) {
  if (pid > 0 && std::find(tracked_.begin(), tracked_.end(), pid) == tracked_.end()) {
    tracked_.push_back(pid);
  }
}

std::string DynmgrdTest::log() const { return read_text(path("dynmgrd.log")); }

}  // namespace dynmgr::testing
