// The exec worker's start-up handshake (README "Exec workers", issue 11
// defect 8): `put` answers only once the command is ready, that is once it
// printed {"ready":true}, or once it has stayed alive for ready_timeout ms
// without a word. A command that exits first fails the put with its exit
// status and its last stderr lines, and the put leaves nothing registered
// (issue 11 item 17). A restart goes through the same handshake.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "dynmgrd_harness.hpp"

namespace dynmgr::testing {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

class ReadyHandshake : public DynmgrdTest {
 protected:
  // A put run in a child process, so the test can look at the worker while
  // the put still waits. Its output goes to files under the test's directory.
  pid_t put_async(const std::vector<std::string>& args) {
    const std::string out = path("put.out");
    const std::string err = path("put.err");
    return fork_child([this, args, out, err] {
      const auto r = ctl(args);
      std::ofstream(out) << r.out;
      std::ofstream(err) << r.err;
      return r.exit_code;
    });
  }
  std::string put_out() const { return read(path("put.out")); }
  std::string put_err() const { return read(path("put.err")); }
  static std::string read(const std::string& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // The wait status of the async put once it has exited; nullopt while it runs.
  static std::optional<int> finished(pid_t pid) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    return std::nullopt;
  }
  void expect_not_registered(const std::string& id) {
    const auto g = ctl({"get", id});
    EXPECT_EQ(g.exit_code, 3) << g.out << g.err;
    EXPECT_TRUE(contains(g.err, "no such worker '" + id + "'")) << g.err;
  }
};

// The defect: `put` said running (exit 0), then the worker crash-looped.
TEST_F(ReadyHandshake, CommandExitingAtOnceFailsThePutWithItsStatusAndStderr) {
  ASSERT_TRUE(start());
  const auto r = ctl({"put", "x", "--timeout", "0", "--exec", "sh", "-c",
                      "echo 'first line' >&2; echo 'config missing: /etc/x.conf' >&2; "
                      "echo 'giving up' >&2; echo 'bye' >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("dynmgrctl: put 'x': worker 'x' exited during start: init threw: "
                        "command exited with code 3 before it was ready; stderr: "
                        "config missing: /etc/x.conf | giving up | bye",
                        0),
            0u)
      << r.err;
  EXPECT_FALSE(contains(r.err, "first line")) << r.err;                 // the last 3 lines only
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;  // one line
  expect_not_registered("x");
  const auto s = ctl({"state"});
  EXPECT_FALSE(contains(s.out, "\nx ")) << s.out;
  // The command's stderr still reaches the worker's log, as before.
  EXPECT_TRUE(wait_until(
      [&] {
        return contains(ctl({"logs", "x"}).out, "config missing");
      },
      kWait))
      << ctl({"logs", "x"}).out;
  // And the supervisor is fine: the same id can be put again.
  const auto again =
      ctl({"put", "x", "--timeout", "0", "--exec", "sh", source_path("examples/exec/echo.sh")});
  EXPECT_EQ(again.exit_code, 0) << again.err;
}

TEST_F(ReadyHandshake, CommandKilledBySignalBeforeReadyFailsThePut) {
  ASSERT_TRUE(start());
  const auto r = ctl({"put", "k", "--exec", "sh", "-c", "echo dying >&2; kill -s TERM $$"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "command killed by SIGTERM before it was ready; stderr: dying"))
      << r.err;
  expect_not_registered("k");
}

// A put over an existing id whose new command fails: the old worker was
// stopped for it, and the id is gone (a put is a replace: old or new, never a
// half-started one).
TEST_F(ReadyHandshake, FailedPutOverAnExistingIdLeavesNothing) {
  ASSERT_TRUE(start());
  ASSERT_EQ(ctl({"put", "o", "--exec", "sh", source_path("examples/exec/echo.sh")}).exit_code, 0);
  const auto r = ctl({"put", "o", "--exec", "sh", "-c", "exit 5"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "command exited with code 5 before it was ready")) << r.err;
  expect_not_registered("o");
}

// Item 17: a put whose worker cannot start at all (a --cwd that does not
// exist) adds nothing either.
TEST_F(ReadyHandshake, PutWithABadCwdLeavesNothing) {
  ASSERT_TRUE(start());
  const auto r = ctl({"put", "c", "--cwd", path("no-such-dir"), "--exec", "sh", "-c", "cat"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "working directory '" + path("no-such-dir") + "' is not usable"))
      << r.err;
  expect_not_registered("c");
  EXPECT_TRUE(contains(log(),
                       "worker 'c' exited during start, removed (its put failed): init threw: "
                       "working directory"))
      << log();
}

// A command that announces readiness: put waits for the line however late,
// up to --ready-timeout. The command blocks on a FIFO until the test lets it go.
TEST_F(ReadyHandshake, PutWaitsForALateReadyLine) {
  ASSERT_EQ(::mkfifo(path("go").c_str(), 0600), 0);
  ASSERT_TRUE(start());
  const std::string script = "touch '" + path("started") + "'; read go < '" + path("go") +
                             "'; echo '{\"ready\":true}'; exec sh '" +
                             source_path("examples/exec/echo.sh") + "'";
  const pid_t put = put_async({"--wait", "60000", "put", "late", "--timeout", "0",
                               "--ready-timeout", "50000", "--exec", "sh", "-c", script});
  ASSERT_TRUE(wait_until([&] { return exists(path("started")); }, kWait)) << log();
  // The command runs and has not said ready: the put still waits.
  auto rec = record("late");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->status, WorkerStatus::kStarting);
  EXPECT_FALSE(finished(put)) << put_out() << put_err();

  {
    std::ofstream go(path("go"));
    go << "go\n";
  }
  std::optional<int> status;
  ASSERT_TRUE(wait_until([&] { return (status = finished(put)).has_value(); }, kWait + 10s));
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0) << put_err();
  EXPECT_EQ(put_out().rfind("put 'late': running (pid ", 0), 0u) << put_out();
  rec = record("late");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->status, WorkerStatus::kRunning);
  const auto c = ctl({"call", "late", R"("hi")"});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_TRUE(contains(c.out, R"(\"message\":\"hi\")")) << c.out;
}

// A command that never prints ready (every exec command before the
// handshake existed) is taken as ready once it has stayed alive for
// ready_timeout ms, and then works as before.
TEST_F(ReadyHandshake, SilentCommandIsAcceptedOnceAliveForTheGrace) {
  ASSERT_TRUE(start());
  const auto r = ctl({"put", "quiet", "--timeout", "0", "--ready-timeout", "300", "--exec", "sh",
                      source_path("examples/exec/echo.sh")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("put 'quiet': running (pid ", 0), 0u) << r.out;
  const auto c = ctl({"call", "quiet", R"("ping")"});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_TRUE(contains(c.out, R"(\"message\":\"ping\")")) << c.out;
  // The default grace too.
  const auto d = ctl(
      {"put", "quiet2", "--timeout", "0", "--exec", "sh", source_path("examples/exec/echo.sh")});
  EXPECT_EQ(d.exit_code, 0) << d.err;
}

// Its ready line may still come after the grace: that one line is taken as
// the late announcement, not as a stray line or as the answer to a request.
TEST_F(ReadyHandshake, ReadyLineAfterTheGraceIsTolerated) {
  ASSERT_EQ(::mkfifo(path("go").c_str(), 0600), 0);
  ASSERT_TRUE(start());
  const std::string script = "read go < '" + path("go") + "'; echo '{\"ready\":true}'; exec sh '" +
                             source_path("examples/exec/echo.sh") + "'";
  const auto r = ctl(
      {"put", "slow", "--timeout", "0", "--ready-timeout", "200", "--exec", "sh", "-c", script});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pid_t pid = record("slow")->pid;
  {
    std::ofstream go(path("go"));
    go << "go\n";
  }
  // The call's request may reach the command before or after the worker saw
  // the ready line; either way the call gets the command's answer.
  const auto c = ctl({"call", "slow", R"("after")"});
  EXPECT_EQ(c.exit_code, 0) << c.err << log();
  EXPECT_TRUE(contains(c.out, R"(\"message\":\"after\")")) << c.out;
  const auto c2 = ctl({"call", "slow", R"("again")"});
  EXPECT_EQ(c2.exit_code, 0) << c2.err;
  const auto rec = record("slow");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->pid, pid);
  EXPECT_EQ(rec->restarts, 0u);
}

// Anything but the ready line before ready is a failed start.
TEST_F(ReadyHandshake, GarbageBeforeReadyFailsThePut) {
  ASSERT_TRUE(start());
  const auto r = ctl({"--wait", "30000", "put", "g", "--ready-timeout", "20000", "--exec", "sh",
                      "-c", "echo 'Loading model...'; echo '{\"ready\":true}'; exec cat"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(contains(r.err,
                       "init threw: command wrote a line before it was ready: "
                       "Loading model..."))
      << r.err;
  expect_not_registered("g");
}

// A restart (crash -> restart by policy) goes through the same handshake. A
// restart whose command never becomes ready is a crash like any other: the
// policy restarts it with backoff, then marks it failed; the id stays, with
// the reason in last_exit.
TEST_F(ReadyHandshake, RestartThatNeverBecomesReadyEndsFailedWithTheReason) {
  ASSERT_TRUE(start());
  const std::string marker = path("ran-once");
  const std::string script = "if [ -e '" + marker +
                             "' ]; then echo 'cannot reopen the database' >&2; exit 4; fi; "
                             "touch '" +
                             marker + "'; echo '{\"ready\":true}'; exec sh '" +
                             source_path("examples/exec/echo.sh") + "'";
  const auto r = ctl({"put", "r", "--timeout", "0", "--max-restarts", "2", "--within", "60000",
                      "--exec", "sh", "-c", script});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pid_t worker = worker_pid("r");
  ASSERT_GT(worker, 0);
  const pid_t command = command_of(worker);
  ASSERT_GT(command, 0);
  ASSERT_EQ(::kill(command, SIGKILL), 0);

  const auto rec = wait_record("r", [](const WorkerInfo& s) {
    return s.status == WorkerStatus::kFailed && s.restarts == 2;
  });
  ASSERT_TRUE(rec && rec->status == WorkerStatus::kFailed) << log();
  EXPECT_TRUE(contains(last_exit_reason(*rec),
                       "init threw: command exited with code 4 before it was ready; stderr: "
                       "cannot reopen the database"))
      << last_exit_reason(*rec);
  EXPECT_EQ(ctl({"get", "r"}).exit_code, 0);
}

// put --ready-timeout must leave put its answer within --wait.
TEST_F(ReadyHandshake, ReadyTimeoutNotBelowWaitIsAUsageError) {
  ASSERT_TRUE(start());
  const auto r = ctl({"--wait", "1000", "put", "u", "--ready-timeout", "1000", "--exec", "cat"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err,
            "dynmgrctl: put 'u': --ready-timeout 1000 is not below --wait 1000: raise --wait\n");
  expect_not_registered("u");
}

}  // namespace
}  // namespace dynmgr::testing
