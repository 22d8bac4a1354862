#include "probe_harness.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "shared/process_identity.hpp"
#include "support/worker_output.hpp"

extern char** environ;

namespace dynmgr::testing {

void reap_adopted(pid_t keep) {
  // Only adopted orphans and our supervisor are our children; the supervisor is
  // reaped by pid in wait_supervisor_exit, so reap others by scanning /proc for
  // zombies whose parent we are.
  const pid_t self = ::getpid();
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return;
  std::vector<pid_t> zombies;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    std::ifstream in("/proc/" + std::string(e->d_name) + "/stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    const auto rp = line.rfind(')');
    if (rp == std::string::npos) continue;
    std::istringstream rest(line.substr(rp + 2));
    char state = 0;
    long ppid = 0;
    rest >> state >> ppid;
    if (state == 'Z' && ppid == self && pid != keep) zombies.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  for (pid_t z : zombies) (void)::waitpid(z, nullptr, WNOHANG);
}

std::uint64_t mono_now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000 +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1'000'000;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

json::value parse(const std::string& text) {
  auto v = parse_json(text, "registry text");
  return v ? *v : json::value(nullptr);
}

json::value P(std::string_view text) {
  auto v = parse_json(text, "test literal");
  EXPECT_TRUE(v) << text;
  return v ? *v : json::value(nullptr);
}

std::int64_t int_field(const std::string& json_text, const char* key) {
  const json::value v = parse(json_text);
  if (!v.is_object()) return -1;
  return get_int(v.get_object(), key).value_or(-1);
}

ChildSpec spec(json::value payload, std::uint32_t timeout_ms) {
  ChildSpec s;
  s.payload = std::move(payload);
  s.timeout_ms = timeout_ms;
  return s;
}

ProbeTest::ProbeTest() : instance_(unique_instance("pt")), names_(instance_) {}

void ProbeTest::SetUp() {
  // Orphaned workers come to us, so a test can reap them and see them gone.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0) << std::strerror(errno);
  std::string tmpl = "/tmp/dynmgr-test-" + instance_ + "-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
  dir_ = tmpl;
}

::testing::AssertionResult ProbeTest::start(const ProbeStart& s) {
  if (sup_pid_ > 0) return ::testing::AssertionFailure() << "already started";
  std::vector<std::string> args = {s.binary.empty() ? bin_path("probe") : s.binary, "-n",
                                   instance_};
  for (const auto& f : s.flags) args.push_back(f);
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  for (const char* name : {"terminate", "state", "timeout", "perform", "init"}) {
    std::string var = std::string("PROBE_") + name + "_LOG";
    for (auto& c : var) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    env.push_back(var + "=" + log_path(name));
  }
  if (!s.children.empty()) env.push_back("PROBE_CHILDREN=" + s.children);
  for (const auto& e : s.env) env.push_back(e);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  std::vector<char*> cenv;
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  const std::string out = log_path("supervisor");
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0)
    return ::testing::AssertionFailure() << "open " << out << ": " << std::strerror(errno);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fd);
    return ::testing::AssertionFailure() << "fork: " << std::strerror(errno);
  }
  if (pid == 0) {
    // DANGER: between fork and exec only async-signal-safe calls.
    ::setpgid(0, 0);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::execve(cargs[0], cargs.data(), cenv.data());
    ::_exit(127);
  }
  ::close(fd);
  ::setpgid(pid, pid);  // either side may win the race; both ask for the same
  sup_pid_ = pid;
  sup_reaped_ = false;
  if (!s.wait_up) return ::testing::AssertionSuccess();
  std::optional<int> early_exit;
  const bool up = wait_until(
      [&] {
        int status = 0;
        if (::waitpid(sup_pid_, &status, WNOHANG) == sup_pid_) {
          sup_reaped_ = true;
          early_exit = status;
          return true;
        }
        if (!client_) {
          auto c = Client::connect(Client::Options{instance_, Millis(15'000)});
          if (!c) return false;
          client_.emplace(std::move(*c));
        }
        return client_->header().manager_state == ManagerState::kUp;
      },
      kWait, 1ms);
  if (early_exit) {
    return ::testing::AssertionFailure()
           << "supervisor '" << instance_ << "' exited during start (wait status " << *early_exit
           << "; " << args[0] << "):\n"
           << supervisor_output();
  }
  if (!up) {
    return ::testing::AssertionFailure() << "supervisor '" << instance_ << "' did not come up:\n"
                                         << supervisor_output();
  }
  if (auto snap = client_->state()) {
    for (const auto& r : *snap) track(r.pid);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult ProbeTest::take_over(const ProbeStart& s) {
  if (sup_pid_ > 0 && !sup_reaped_)
    return ::testing::AssertionFailure() << "the supervisor still runs";
  sup_pid_ = -1;
  if (auto r = start(s.without_waiting()); !r) return r;
  const bool up = wait_until(
      [&] {
        if (!client_) {
          auto c = Client::connect(Client::Options{instance_, Millis(15'000)});
          if (!c) return false;
          client_.emplace(std::move(*c));
        }
        const InstanceInfo h = client_->header();
        return h.supervisor_pid == sup_pid_ && h.supervisor_alive &&
               h.manager_state == ManagerState::kUp;
      },
      kWait, 1ms);
  if (!up) {
    return ::testing::AssertionFailure()
           << "successor of '" << instance_ << "' did not take over:\n"
           << supervisor_output();
  }
  return ::testing::AssertionSuccess();
}

std::optional<int> ProbeTest::wait_supervisor_exit(std::chrono::milliseconds timeout) {
  int status = 0;
  const bool done = wait_until(
      [&] {
        const pid_t r = ::waitpid(sup_pid_, &status, WNOHANG);
        return r == sup_pid_;
      },
      timeout, 1ms);
  if (!done) return std::nullopt;
  sup_reaped_ = true;
  return status;
}

Result<WorkerInfo> ProbeTest::put(const std::string& id, const ChildSpec& s) {
  auto r = client_->put(id, s);
  if (r) track(r->pid);
  return r;
}

Result<WorkerInfo> ProbeTest::get(const std::string& id) {
  auto r = client_->get(id);
  if (r) track(r->pid);
  return r;
}

std::optional<WorkerInfo> ProbeTest::wait_record(const std::string& id,
                                                 const std::function<bool(const WorkerInfo&)>& pred,
                                                 std::chrono::milliseconds timeout) {
  std::optional<WorkerInfo> last;
  const bool ok = wait_until(
      [&] {
        auto r = get(id);
        if (!r) return false;
        last = *r;
        return pred(*r);
      },
      timeout, 1ms);
  if (!ok) {
    ADD_FAILURE() << "worker '" << id << "' never reached the expected state; last seen: "
                  << (last
                          ? std::string(to_string(last->status)) + " pid " +
                                std::to_string(last->pid) + " restarts " +
                                std::to_string(last->restarts) + " payload " + last->payload +
                                " value " + last->value + " last_exit " + last->last_exit.describe()
                          : std::string("absent"));
    return std::nullopt;
  }
  return last;
}

bool ProbeTest::wait_absent(const std::string& id, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        auto r = client_->get(id);
        return !r && r.error().code == Errc::kNotFound;
      },
      timeout, 1ms);
}

std::vector<std::string> ProbeTest::log_lines(const std::string& name,
                                              const std::string& prefix) const {
  std::vector<std::string> out;
  for (auto& l : log(name)) {
    if (l.rfind(prefix, 0) == 0) out.push_back(l);
  }
  return out;
}

bool ProbeTest::wait_log_line(const std::string& name, const std::string& line,
                              std::chrono::milliseconds timeout) const {
  return wait_until(
      [&] {
        for (const auto& l : log(name)) {
          if (l == line) return true;
        }
        return false;
      },
      timeout, 1ms);
}

std::string ProbeTest::supervisor_output() const {
  std::ifstream in(log_path("supervisor"));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string workers = worker_output(instance_);
  if (!workers.empty()) ss << "---- worker logs\n" << workers;
  return ss.str();
}

bool ProbeTest::process_gone(pid_t pid) {
  if (pid <= 0) return true;
  if (pid == sup_pid_) {
    if (!sup_reaped_) (void)wait_supervisor_exit(0ms);
    return sup_reaped_;
  }
  (void)::waitpid(pid, nullptr, WNOHANG);  // ours (adopted): reap the zombie
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

bool ProbeTest::group_gone(pid_t pgid) {
  if (pgid <= 0) return true;
  if (::kill(-pgid, 0) != 0 && errno == ESRCH) return true;
  reap_adopted(sup_reaped_ ? 0 : sup_pid_);  // what is left may be our zombies
  return ::kill(-pgid, 0) != 0 && errno == ESRCH;
}

void ProbeTest::track(pid_t pid, std::uint64_t start_time) {
  if (pid <= 0) return;
  if (start_time == 0) start_time = process_start_time(pid).value_or(0);
  if (start_time == 0) return;  // already gone
  for (const auto& t : tracked_) {
    if (t.pid == pid && t.start_time == start_time) return;
  }
  tracked_.push_back({pid, start_time});
}

void ProbeTest::TearDown() {
  if (client_) {
    if (auto snap = client_->state()) {
      for (const auto& r : *snap) track(r.pid);
    }
  }
  bool stopped_here = false;
  if (sup_pid_ > 0 && !sup_reaped_) {
    ::kill(sup_pid_, SIGTERM);
    if (auto status = wait_supervisor_exit(15s)) {
      stopped_here = WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
      EXPECT_TRUE(stopped_here) << "supervisor's wait status after SIGTERM: " << *status;
    } else {
      ADD_FAILURE() << "supervisor did not stop on SIGTERM; killing its process group";
      ::kill(-sup_pid_, SIGKILL);
      ::kill(sup_pid_, SIGKILL);
      (void)wait_supervisor_exit(5s);
    }
  }
  // Last resort for workers: their own process groups (pgid == pid), but only
  // while the very process we saw (pid + start time) is alive: pids are reused.
  reap_adopted(0);
  for (const auto& t : tracked_) {
    if (process_alive(t.pid, t.start_time)) {
      ADD_FAILURE() << "process " << t.pid << " outlived its supervisor; killing its group";
      ::kill(-t.pid, SIGKILL);
      ::kill(t.pid, SIGKILL);
    }
  }
  wait_until(
      [&] {
        reap_adopted(0);
        for (const auto& t : tracked_) {
          if (process_alive(t.pid, t.start_time)) return false;
        }
        return true;
      },
      5s, 1ms);
  reap_adopted(0);
  client_.reset();
  const std::string out = supervisor_output();  // before its worker logs go
  remove_state_dir(instance_);
  if (stopped_here) {
    // A clean stop leaves no shared object behind (our reply queue went with
    // the client).
    const auto left = shm_objects(names_);
    EXPECT_TRUE(left.empty()) << "left in /dev/shm after a clean stop: "
                              << ::testing::PrintToString(left);
  }
  // Sanitizer reports of the supervisor or a worker land in its output (workers
  // inherit it, or their log files hold them), not in ours: look for them.
  for (const char* marker :
       {"AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:"}) {
    EXPECT_EQ(out.find(marker), std::string::npos) << "sanitizer report (" << marker << ")";
  }
  if (HasFailure()) {
    std::cout << "---- supervisor output (" << instance_ << ")\n" << out << "---- end\n";
    for (const char* n : {"state", "terminate", "timeout", "init"}) {
      const auto lines = log(n);
      if (lines.empty()) continue;
      std::cout << "---- " << n << ".log\n";
      for (const auto& l : lines) std::cout << l << '\n';
    }
  }
  remove_shm_objects(names_);
  if (!dir_.empty()) {
    // Tests keep a state directory (and its logs/) in it too.
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

}  // namespace dynmgr::testing
