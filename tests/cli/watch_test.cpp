// dynmgrctl watch and the exit history, through the real binaries: a probe
// supervisor, workers really SIGKILLed, `watch` run as a process of its own
// (stopped with SIGSTOP to fall behind, interrupted with SIGINT), and `get` /
// `state --json` reading the history the registry keeps.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/ctl_support.hpp"
#include "shared/event_ring.hpp"

namespace dynmgr::testing {
namespace {

// `dynmgrctl -n NAME watch ARGS...` with stdout and stderr in a file.
class Watcher {
 public:
  Watcher(const std::string& instance, std::vector<std::string> args) {
    out_ = "/tmp/dynmgr-test.watch." + unique_instance("w") + ".out";
    std::vector<std::string> argv{bin_path("dynmgrctl"), "-n", instance, "watch"};
    argv.insert(argv.end(), args.begin(), args.end());
    const int fd = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    ::close(fd);
  }
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;
  ~Watcher() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::unlink(out_.c_str());
  }

  pid_t pid() const { return pid_; }
  std::vector<std::string> lines() const { return lines_of(read_file(out_)); }
  std::string output() const { return read_file(out_); }
  // The JSON events printed so far.
  std::vector<json::object> events() const {
    std::vector<json::object> out;
    for (const auto& l : lines()) {
      auto v = parse(l);
      if (v.is_object()) out.push_back(v.get_object());
    }
    return out;
  }
  // SIGINT (Ctrl-C), then its wait status.
  int interrupt() {
    ::kill(pid_, SIGINT);
    const int status = wait_child(pid_, std::chrono::milliseconds(10'000));
    pid_ = -1;
    return status;
  }

 private:
  std::string out_;
  pid_t pid_ = -1;
};

std::string str(const json::object& o, const char* key) {
  auto s = get_string(o, key);
  return s ? std::string(*s) : std::string();
}

std::vector<std::string> kinds(const std::vector<json::object>& events, const std::string& id) {
  std::vector<std::string> out;
  for (const auto& e : events) {
    if (str(e, "id") == id) out.push_back(str(e, "event"));
  }
  return out;
}

class Watch : public ::testing::Test {
 protected:
  void start(std::vector<std::string> flags = {}) {
    flags.insert(flags.end(), {"--backoff-base", "1", "--backoff-cap", "5"});
    daemon_ = std::make_unique<Daemon>("probe", std::move(flags), std::vector<std::string>{}, "wa");
    ASSERT_TRUE(daemon_->ok()) << daemon_->start_result().err;
  }
  // The seq the next event gets: a watcher started with --since it misses
  // nothing that happens after this call, however late it gets going.
  std::uint64_t next_seq() const {
    auto r = EventReader::open(daemon_->names());
    return r ? r->next_seq() : 0;
  }
  CommandResult put(const std::string& id) { return daemon_->ctl({"put", id, "--timeout", "0"}); }
  pid_t pid_of(const std::string& id) {
    auto r = daemon_->client().get(id);
    return r ? r->pid : 0;
  }
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(Watch, JsonShowsASigkillExitAndTheRestartThenCtrlCExitsZero) {
  start();
  Watcher w(daemon_->name(), {"--json", "--since", std::to_string(next_seq())});
  ASSERT_EQ(put("a").exit_code, 0);
  const pid_t first = pid_of("a");
  ASSERT_GT(first, 0);
  ::kill(first, SIGKILL);
  ASSERT_TRUE(wait_until([&] { return kinds(w.events(), "a").size() >= 7; })) << w.output();
  EXPECT_EQ(kinds(w.events(), "a"), (std::vector<std::string>{"put", "spawned", "ready", "exited",
                                                              "restarting", "spawned", "ready"}));
  for (const auto& e : w.events()) {
    if (str(e, "event") != "exited") continue;
    EXPECT_EQ(get_int(e, "pid").value_or(0), first);
    const auto* exit = get_field(e, "exit");
    ASSERT_TRUE(exit && exit->is_object());
    EXPECT_EQ(str(exit->get_object(), "kind"), "signaled");
    EXPECT_EQ(get_int(exit->get_object(), "signal").value_or(0), SIGKILL);
  }
  // Numbered without gaps.
  const auto ev = w.events();
  for (std::size_t i = 1; i < ev.size(); ++i) {
    EXPECT_EQ(get_int(ev[i], "seq").value_or(0), get_int(ev[i - 1], "seq").value_or(0) + 1);
  }
  const int status = w.interrupt();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(Watch, TextShowsOneLinePerEventAndAnIdFiltersTheOthers) {
  start();
  Watcher w(daemon_->name(), {"b", "--since", std::to_string(next_seq())});
  ASSERT_EQ(put("a").exit_code, 0);
  ASSERT_EQ(put("b").exit_code, 0);
  ASSERT_EQ(daemon_->ctl({"del", "b"}).exit_code, 0);
  ASSERT_TRUE(wait_until([&] {
    const auto l = w.lines();
    return !l.empty() && l.back().find(" b deleted (del)") != std::string::npos;
  })) << w.output();
  for (const auto& l : w.lines()) {
    EXPECT_NE(l.find(" b "), std::string::npos) << l;  // never a's
  }
  EXPECT_NE(w.output().find(" b put (new)"), std::string::npos) << w.output();
  EXPECT_NE(w.output().find(" b ready: pid "), std::string::npos) << w.output();
}

TEST_F(Watch, ASlowWatcherGetsOneMissedRecordThenGoesOn) {
  start({"--event-capacity", "16"});
  Watcher w(daemon_->name(), {"--json", "--since", std::to_string(next_seq())});
  ASSERT_EQ(put("first").exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return kinds(w.events(), "first").size() == 3; })) << w.output();
  ::kill(w.pid(), SIGSTOP);  // falls behind
  ASSERT_TRUE(wait_until([&] { return process_state(w.pid()) == 'T'; }));
  for (int i = 0; i < 6; ++i) {  // 6 x (put, spawned, ready, exited, deleted): 30 > 16
    const std::string id = "n" + std::to_string(i);
    ASSERT_EQ(put(id).exit_code, 0);
    ASSERT_EQ(daemon_->ctl({"del", id}).exit_code, 0);
  }
  ASSERT_EQ(put("last").exit_code, 0);
  ::kill(w.pid(), SIGCONT);
  ASSERT_TRUE(wait_until([&] { return kinds(w.events(), "last").size() == 3; })) << w.output();
  int missed_records = 0;
  std::int64_t missed = 0;
  for (const auto& e : w.events()) {
    if (str(e, "event") != "missed") continue;
    ++missed_records;
    missed = get_int(e, "count").value_or(0);
  }
  EXPECT_EQ(missed_records, 1) << w.output();
  EXPECT_GT(missed, 0) << w.output();
  // Everything after the gap is there: the last 16 events, in order.
  EXPECT_EQ(kinds(w.events(), "last"), (std::vector<std::string>{"put", "spawned", "ready"}));
}

TEST_F(Watch, FollowsTheInstanceAcrossASupervisorCrashAndItsAdoption) {
  start();
  ASSERT_EQ(put("a").exit_code, 0);
  const pid_t worker = pid_of("a");
  Watcher w(daemon_->name(), {"--json", "--since", "1"});
  ASSERT_TRUE(wait_until([&] { return kinds(w.events(), "a").size() == 3; })) << w.output();
  const auto before = w.events();
  ::kill(daemon_->pid(), SIGKILL);
  ASSERT_TRUE(wait_until([&] { return process_gone(daemon_->pid()); }));
  // The successor adopts the registry, the ring and its numbering.
  auto again = run_command(
      {bin_path("probe"), "-n", daemon_->name(), "--daemon", "--log-file", daemon_->log_path()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  ASSERT_TRUE(wait_until([&] { return kinds(w.events(), "a").size() == 4; })) << w.output();
  const auto after = w.events();
  EXPECT_EQ(kinds(after, "a").back(), "adopted");
  for (const auto& e : after) {
    if (str(e, "event") == "adopted") {
      EXPECT_EQ(get_int(e, "pid").value_or(0), worker);
    }
  }
  EXPECT_GT(get_int(after.back(), "seq").value_or(0), get_int(before.back(), "seq").value_or(0));
  for (const auto& e : after) EXPECT_NE(str(e, "event"), "missed") << w.output();
  EXPECT_EQ(daemon_->ctl({"stop"}).exit_code, 0);
  // A clean stop: the manager goes down and its workers are deleted; the
  // watcher shows it all, then waits for the next supervisor.
  ASSERT_TRUE(wait_until([&] {
    const auto k = kinds(w.events(), "a");
    return !k.empty() && k.back() == "deleted";
  })) << w.output();
  bool down = false;
  for (const auto& e : w.events()) down = down || str(e, "state") == "down";
  EXPECT_TRUE(down) << w.output();
  EXPECT_EQ(str(w.events().back(), "cause"), "shutdown");
  EXPECT_FALSE(process_gone(w.pid()));
}

TEST_F(Watch, WithoutASupervisorItFailsWithExit5AndABadIdWithExit2) {
  const std::string nobody = unique_instance("wn");
  auto r = ctl(nobody, {"watch"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_EQ(r.err,
            "dynmgrctl: watch: no supervisor running under '" + nobody + "' (no event ring)\n");
  r = ctl(nobody, {"watch", std::string("bad\nid")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = ctl(nobody, {"watch", "--since", "0"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(lines_of(r.err).size() == 1) << r.err;
}

// ---------------------------------------------------------------- exit history

TEST_F(Watch, GetAndStateShowTheLastTenExitsNewestFirst) {
  start();
  // Exits with code 3 at every perform: 12 exits and more, each restarted
  // after a short backoff (the history is read while it goes on).
  ASSERT_EQ(daemon_
                ->ctl({"put", "y", "--timeout", "20", "--max-restarts", "1000", "--payload",
                       R"({"on_perform": "exit3"})"})
                .exit_code,
            0);
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = daemon_->client().get("y");
        return r && r->restarts >= 12;
      },
      std::chrono::milliseconds(30'000)));
  auto got = daemon_->ctl({"get", "y", "--json"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  const auto v = parse(got.out);
  ASSERT_TRUE(v.is_object()) << got.out;
  const auto* exits = get_field(v.get_object(), "exits");
  ASSERT_TRUE(exits && exits->is_array()) << got.out;
  ASSERT_EQ(exits->get_array().size(), kExitHistory) << got.out;
  std::int64_t previous = INT64_MAX;
  for (const auto& x : exits->get_array()) {
    const auto& o = x.get_object();
    const auto at = get_int(o, "at_ms").value_or(0);
    EXPECT_LE(at, previous);
    previous = at;
    EXPECT_FALSE(str(o, "at").empty());
    const auto* exit = get_field(o, "exit");
    ASSERT_TRUE(exit && exit->is_object());
    EXPECT_EQ(get_int(exit->get_object(), "code").value_or(-1), 3) << got.out;
  }
  for (const auto& x : exits->get_array()) {
    EXPECT_TRUE(get_bool(x.get_object(), "restarted").value_or(false)) << got.out;
  }
  // state --json carries the same array; `get` prints one line per exit.
  auto state = daemon_->ctl({"state", "--json"});
  EXPECT_NE(state.out.find(R"("exits":[{"at":)"), std::string::npos) << state.out;
  auto text = daemon_->ctl({"get", "y"});
  std::size_t exit_lines = 0;
  for (const auto& l : lines_of(text.out)) {
    if (l.find("exited with code 3") != std::string::npos && l.find(", up ") != std::string::npos)
      ++exit_lines;
  }
  EXPECT_EQ(exit_lines, kExitHistory) << text.out;
}

}  // namespace
}  // namespace dynmgr::testing
