// dynmgrctl top through the real binaries: a probe supervisor with real
// workers, `top` drawn by ncurses inside a real terminal (tmux: send-keys,
// capture-pane, each server on its own -L socket and killed at the end
// whatever happened), and its plain-text frames when stdout is a pipe.
// Everything waits for what the screen shows, with generous deadlines (the
// ASan build is slow); nothing sleeps to synchronise.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "cli/ctl_support.hpp"

namespace dynmgr::testing {
namespace {

constexpr auto kScreenWait = std::chrono::milliseconds(30'000);

std::string tmux_binary() {
  for (const char* p : {"/usr/bin/tmux", "/usr/local/bin/tmux"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// A tmux server of its own (-L), one 160x50 window running `command`. The
// pane stays after its process exits (remain-on-exit), so its exit status can
// be read. The destructor kills the server.
class Tmux {
 public:
  explicit Tmux(const std::string& command) : socket_("dynmgr-" + unique_instance("tm")) {
    conf_ = "/tmp/" + socket_ + ".conf";
    std::ofstream(conf_) << "set -g remain-on-exit on\nset -g status off\n"
                            "set -g default-terminal screen\nset -g history-limit 0\n";
    started_ = tmux({"-f", conf_, "new-session", "-d", "-s", "top", "-x", "160", "-y", "50",
                     command});
  }
  Tmux(const Tmux&) = delete;
  Tmux& operator=(const Tmux&) = delete;
  ~Tmux() {
    (void)tmux({"kill-server"});
    ::unlink(conf_.c_str());
  }

  const CommandResult& started() const { return started_; }
  CommandResult tmux(std::vector<std::string> args) const {
    std::vector<std::string> argv{tmux_binary(), "-L", socket_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, {}, std::chrono::milliseconds(10'000));
  }
  std::string screen() const { return tmux({"capture-pane", "-p", "-t", "top"}).out; }
  void keys(std::vector<std::string> keys) const {
    std::vector<std::string> args{"send-keys", "-t", "top"};
    args.insert(args.end(), keys.begin(), keys.end());
    (void)tmux(args);
  }
  // Literal text (no key names).
  void type(const std::string& text) const { (void)tmux({"send-keys", "-t", "top", "-l", text}); }
  bool wait_screen(const std::function<bool(const std::string&)>& pred) const {
    return wait_until([&] { return pred(screen()); }, kScreenWait, std::chrono::milliseconds(50));
  }
  // The pid of the pane's shell.
  pid_t pane_pid() const {
    const auto out = tmux({"display-message", "-p", "-t", "top", "#{pane_pid}"}).out;
    return out.empty() ? 0 : static_cast<pid_t>(std::stol(out));
  }

 private:
  std::string socket_;
  std::string conf_;
  CommandResult started_;
};

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// The screen line of worker `id` split into words (id pid status restarts
// uptime cpu rss mailbox exit...), or empty when it is not shown.
std::vector<std::string> row_of(const std::string& screen, const std::string& id) {
  for (const auto& line : lines_of(screen)) {
    auto w = words(line);
    if (w.size() >= 4 && w[0] == id) return w;
  }
  return {};
}

bool shows(const std::string& screen, const std::string& id) { return !row_of(screen, id).empty(); }

class Top : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = std::make_unique<Daemon>(
        "probe", std::vector<std::string>{"--backoff-base", "1", "--backoff-cap", "5"},
        std::vector<std::string>{}, "tp");
    ASSERT_TRUE(daemon_->ok()) << daemon_->start_result().err;
  }
  void put(const std::string& id) {
    ASSERT_EQ(daemon_->ctl({"put", id, "--timeout", "0"}).exit_code, 0) << id;
  }
  pid_t pid_of(const std::string& id) {
    auto r = daemon_->client().get(id);
    return r ? r->pid : 0;
  }
  void TearDown() override { ::unlink(status_file_.c_str()); }
  // The pane runs `top` under sh, which then writes top's exit status to a
  // file (tmux 3.3 leaves #{pane_dead_status} empty for a 0, and a line
  // echoed just before the pane dies may never reach its screen).
  std::string top_command(const std::string& flags = "-d 0.2") const {
    return bin_path("dynmgrctl") + " -n " + daemon_->name() + " top " + flags + "; echo $? > " +
           status_file_;
  }
  // Waits for top to exit; true if its status was 0.
  bool exited_zero() const {
    std::string status;
    (void)wait_until(
        [&] {
          status = read_file(status_file_);
          return !status.empty();
        },
        kScreenWait, std::chrono::milliseconds(50));
    EXPECT_EQ(status, "0\n");
    return status == "0\n";
  }
  std::string status_file_ = "/tmp/dynmgr-test." + unique_instance("ts") + ".status";
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(Top, InTmuxShowsPutsRestartsFiltersDeletesAndQuitsWithZero) {
  if (tmux_binary().empty()) GTEST_SKIP() << "tmux is not installed";
  put("alpha");
  put("beta");
  put("gamma");
  Tmux t(top_command());
  ASSERT_EQ(t.started().exit_code, 0) << t.started().err;
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return shows(s, "alpha") && shows(s, "beta") && shows(s, "gamma");
  })) << t.screen();
  const std::string first = t.screen();
  EXPECT_NE(first.find("manager up"), std::string::npos) << first;
  EXPECT_NE(first.find("3 workers"), std::string::npos) << first;
  EXPECT_NE(first.find("RESTARTS"), std::string::npos) << first;

  // A worker put while top runs appears.
  put("newcomer");
  ASSERT_TRUE(t.wait_screen([](const std::string& s) { return shows(s, "newcomer"); }))
      << t.screen();

  // A SIGKILLed worker's restart count goes up on screen.
  ASSERT_EQ(row_of(t.screen(), "beta").at(3), "0") << t.screen();
  const pid_t victim = pid_of("beta");
  ASSERT_GT(victim, 0);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    const auto row = row_of(s, "beta");
    return row.size() > 3 && row[3] == "1";
  })) << t.screen();
  // And the event list at the bottom saw it.
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return s.find("beta exited: killed by SIGKILL") != std::string::npos;
  })) << t.screen();

  // The filter narrows the list; Esc clears it.
  t.type("/");
  t.type("new");
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return s.find("filter: new_") != std::string::npos;
  })) << t.screen();
  t.keys({"Enter"});
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return shows(s, "newcomer") && !shows(s, "alpha") && !shows(s, "beta") &&
           s.find("filter 'new': 1 shown") != std::string::npos;
  })) << t.screen();
  t.keys({"Escape"});
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return shows(s, "newcomer") && shows(s, "alpha") && shows(s, "beta");
  })) << t.screen();

  // d then n: nothing happens. The selection is gamma (filtered to it).
  t.type("/gamma");
  t.keys({"Enter"});
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return shows(s, "gamma") && !shows(s, "alpha");
  })) << t.screen();
  t.type("d");
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return s.find("delete worker 'gamma'? (y/n)") != std::string::npos;
  })) << t.screen();
  t.type("n");
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return s.find("del 'gamma': cancelled") != std::string::npos;
  })) << t.screen();
  EXPECT_GT(pid_of("gamma"), 0);
  // d then y: deleted, on screen and in the registry.
  t.type("d");
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return s.find("delete worker 'gamma'? (y/n)") != std::string::npos;
  })) << t.screen();
  t.type("y");
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return s.find("deleted 'gamma'") != std::string::npos && !shows(s, "gamma");
  })) << t.screen();
  EXPECT_FALSE(daemon_->client().get("gamma"));
  EXPECT_TRUE(daemon_->client().get("alpha"));

  // q quits, with exit status 0, and the screen is the shell's again.
  t.type("q");
  ASSERT_TRUE(exited_zero()) << t.screen();
  EXPECT_TRUE(t.wait_screen([](const std::string& s) {
    return s.find("RESTARTS") == std::string::npos;  // the shell's screen again
  })) << t.screen();
}

// r then y restarts the selected worker (Client::restart_worker): a new pid,
// the same id; r then n does nothing.
TEST_F(Top, InTmuxRestartsTheSelectedWorkerAfterYes) {
  if (tmux_binary().empty()) GTEST_SKIP() << "tmux is not installed";
  put("alpha");
  put("beta");
  const pid_t before = pid_of("beta");
  ASSERT_GT(before, 0);
  Tmux t(top_command());
  ASSERT_EQ(t.started().exit_code, 0) << t.started().err;
  ASSERT_TRUE(t.wait_screen([](const std::string& s) { return shows(s, "beta"); })) << t.screen();
  t.keys({"Down"});  // alpha, then beta (by id)
  t.type("r");
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return s.find("restart worker 'beta'? (y/n)") != std::string::npos;
  })) << t.screen();
  t.type("n");
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return s.find("restart 'beta': cancelled") != std::string::npos;
  })) << t.screen();
  EXPECT_EQ(pid_of("beta"), before);
  t.type("r");
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return s.find("restart worker 'beta'? (y/n)") != std::string::npos;
  })) << t.screen();
  t.type("y");
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return s.find("restarted 'beta'") != std::string::npos;
  })) << t.screen();
  ASSERT_TRUE(wait_until([&] {
    const pid_t now = pid_of("beta");
    return now > 0 && now != before;
  }, kScreenWait));
  t.type("q");
  ASSERT_TRUE(exited_zero()) << t.screen();
}

TEST_F(Top, InTmuxSortsScrollsAndExitsZeroOnSigterm) {
  if (tmux_binary().empty()) GTEST_SKIP() << "tmux is not installed";
  // More workers than the 50-line window shows rows for.
  for (int i = 0; i < 60; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "w%02d", i);
    put(id);
  }
  Tmux t(top_command());
  ASSERT_EQ(t.started().exit_code, 0) << t.started().err;
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return shows(s, "w00") && s.find("60 workers") != std::string::npos;
  })) << t.screen();
  EXPECT_FALSE(shows(t.screen(), "w59")) << t.screen();
  t.keys({"End"});
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return shows(s, "w59") && !shows(s, "w00");
  })) << t.screen();
  t.keys({"Home"});
  ASSERT_TRUE(t.wait_screen([](const std::string& s) { return shows(s, "w00"); })) << t.screen();
  // i inverts the order: w59 first.
  t.type("i");
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return shows(s, "w59") && !shows(s, "w00") && s.find("sort: ID desc") != std::string::npos;
  })) << t.screen();
  // > moves the sort column on to PID.
  t.type(">");
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return s.find("sort: PID desc") != std::string::npos;
  })) << t.screen();
  // SIGTERM: the terminal is restored and the exit status is 0. top is the
  // only child of the pane's shell.
  const pid_t shell = t.pane_pid();
  ASSERT_GT(shell, 0);
  const std::string children = read_file("/proc/" + std::to_string(shell) + "/task/" +
                                         std::to_string(shell) + "/children");
  ASSERT_FALSE(words(children).empty()) << "no child of the pane's shell " << shell;
  const pid_t top_pid = static_cast<pid_t>(std::stol(words(children).front()));
  ASSERT_EQ(::kill(top_pid, SIGTERM), 0);
  ASSERT_TRUE(exited_zero()) << t.screen();
  EXPECT_TRUE(t.wait_screen([](const std::string& s) {
    return s.find("RESTARTS") == std::string::npos;  // the shell's screen again
  })) << t.screen();
}

TEST_F(Top, InTmuxShowsNoSupervisorWhenItGoesAndKeepsRunning) {
  if (tmux_binary().empty()) GTEST_SKIP() << "tmux is not installed";
  put("alpha");
  Tmux t(top_command());
  ASSERT_EQ(t.started().exit_code, 0) << t.started().err;
  ASSERT_TRUE(t.wait_screen([](const std::string& s) { return shows(s, "alpha"); }))
      << t.screen();
  daemon_->stop();
  ASSERT_TRUE(t.wait_screen([](const std::string& s) {
    return s.find("no supervisor running") != std::string::npos;
  })) << t.screen();
  EXPECT_EQ(read_file(status_file_), "");  // still running
  t.type("q");
  ASSERT_TRUE(exited_zero()) << t.screen();
}

TEST_F(Top, PlainFrameWhenStdoutIsAPipe) {
  put("alpha");
  put("beta");
  const auto r = daemon_->ctl({"top", "-n", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("instance " + daemon_->name() + ": manager up"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 workers: 2 running"), std::string::npos) << r.out;
  const auto alpha = row_of(r.out, "alpha");
  ASSERT_FALSE(alpha.empty()) << r.out;
  EXPECT_EQ(alpha[1], std::to_string(pid_of("alpha")));
  EXPECT_EQ(alpha[2], "running");
  EXPECT_FALSE(row_of(r.out, "beta").empty()) << r.out;
  // No escape sequences in plain text, and no line wider than $COLUMNS.
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
  const auto narrow = daemon_->ctl({"top", "-n", "1"}, {"COLUMNS=40"});
  ASSERT_EQ(narrow.exit_code, 0) << narrow.err;
  for (const auto& line : lines_of(narrow.out)) EXPECT_LE(line.size(), 40u) << line;
}

TEST_F(Top, PlainFramesCountedByDashN) {
  put("alpha");
  const auto r = daemon_->ctl({"top", "-n", "3", "-d", "0.1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::size_t frames = 0;
  for (const auto& line : lines_of(r.out)) {
    if (line.rfind("instance ", 0) == 0) ++frames;
  }
  EXPECT_EQ(frames, 3u) << r.out;
}

TEST(TopErrors, NoSupervisorExitsFiveAndUsageErrorsTwo) {
  const std::string name = unique_instance("tn");
  const auto none = ctl(name, {"top", "-n", "1"});
  EXPECT_EQ(none.exit_code, 5);
  EXPECT_EQ(none.err, "dynmgrctl: top: no supervisor running under '" + name + "'\n");
  EXPECT_EQ(none.out, "");
  for (const char* bad : {"0", "-1", "abc", "0.01", "4000"}) {
    const auto r = ctl(name, {"top", "-d", bad});
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
  }
  EXPECT_EQ(ctl(name, {"top", "-n", "0"}).exit_code, 2);
  EXPECT_EQ(ctl(name, {"top", "extra"}).exit_code, 2);
}

}  // namespace
}  // namespace dynmgr::testing
