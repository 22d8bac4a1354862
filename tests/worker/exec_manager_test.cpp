// The exec manager in process (no supervisor): its protocol row by row against
// real commands, its spawn (descriptors, environment, working directory), its
// failure reasons, its shutdown escalation, and its spec checks.
//
// ExecManager's worker side reads its options from $DYNMGR_WORKER_OPTIONS,
// which each test sets before init().
#include "worker/exec_manager.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "dynmgrd_harness.hpp"
#include "worker/worker_runtime.hpp"

namespace dynmgr::testing {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// `sh -c` running a loop: every request line is appended to $J (when set) and
// answered with $ANSWER.
constexpr const char* kAnswering = R"(while IFS= read -r l; do
  if [ -n "$J" ]; then printf '%s\n' "$l" >> "$J"; fi
  printf '%s\n' "$ANSWER"
  case "$l" in *'"op":"terminate"'*) exit 0 ;; esac
done)";

class ExecManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/dynmgr-exec-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    manager_.reset();  // kills and reaps a command still running
    ::unsetenv("DYNMGR_WORKER_OPTIONS");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Starts argv under a fresh ExecManager with extra options; the payload init returned.
  // Without a ready_timeout in options the start-up handshake is off (0), so
  // the protocol tests see the command as it starts.
  json::value start(std::vector<std::string> argv, json::object options = {}) {
    if (!options.contains("ready_timeout")) options["ready_timeout"] = 0;
    json::array exec;
    for (auto& a : argv) exec.emplace_back(a);
    options["exec"] = std::move(exec);
    ::setenv("DYNMGR_WORKER_OPTIONS", to_json(options).c_str(), 1);
    manager_ = std::make_unique<ExecManager>(ExecManager::Config{});
    return manager_->init("t", json::value(nullptr));
  }
  // The answering loop with `answer`, journaling into journal().
  void start_answering(const std::string& answer, json::object options = {}) {
    json::object env;
    env["ANSWER"] = answer;
    env["J"] = journal();
    options["env"] = std::move(env);
    start({"sh", "-c", kAnswering}, std::move(options));
  }
  // What init/perform/call... threw ("" when nothing did).
  template <class F>
  std::string error_of(F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  }
  // Waits until idle() throws; its message.
  std::string idle_failure(std::chrono::milliseconds timeout = kWait) {
    std::string error;
    (void)wait_until(
        [&] {
          error = error_of([&] { manager_->idle(WorkerState{"t", nullptr}); });
          // A command that ended is reported to the runtime, not thrown.
          if (auto ended = take_child_ended(); error.empty() && ended) error = ended->what();
          return !error.empty();
        },
        timeout, 1ms);
    return error;
  }
  std::string journal() const { return dir_ + "/journal"; }

  std::string dir_;
  std::unique_ptr<ExecManager> manager_;
};

// ------------------------------------------------------------ the protocol, row by row

struct Row {
  std::string name;
  std::string op;      // perform | call | cast
  std::string answer;  // the command's line
  // Expected: a response ...
  Response::Kind kind = Response::Kind::kOk;
  std::string value = "null";  // JSON
  std::string reply;           // JSON of Response::reply(), "" when none
  std::string new_id;
  std::uint32_t timeout_ms = 0;
  // ... or the failure (a substring of what the callback threw).
  std::string error;
};

Row row_ok(std::string name, std::string op, std::string line, Response::Kind kind,
           std::string value = "null", std::string reply = "", std::string new_id = "",
           std::uint32_t timeout_ms = 0) {
  return Row{std::move(name),  std::move(op),     std::move(line), kind, std::move(value),
             std::move(reply), std::move(new_id), timeout_ms,      ""};
}

Row row_fails(std::string name, std::string op, std::string line, std::string error) {
  return Row{std::move(name), std::move(op), std::move(line), Response::Kind::kOk, "", "", "", 0,
             std::move(error)};
}

std::ostream& operator<<(std::ostream& os, const Row& r) { return os << r.name; }

class Protocol : public ExecManagerTest, public ::testing::WithParamInterface<Row> {};

TEST_P(Protocol, AnswerMapsToResponse) {
  const Row& row = GetParam();
  start_answering(row.answer);
  const WorkerState state{"t", json::value(nullptr)};
  std::optional<Response> response;
  const std::string error = error_of([&] {
    if (row.op == "perform") response = manager_->perform("t", nullptr);
    if (row.op == "call") response = manager_->call("m", state);
    if (row.op == "cast") response = manager_->cast("m", state);
  });
  if (!row.error.empty()) {
    EXPECT_TRUE(contains(error, row.error)) << error;
    return;
  }
  ASSERT_EQ(error, "");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->kind(), row.kind);
  EXPECT_EQ(to_json(response->value()), row.value);
  EXPECT_EQ(response->reply() ? to_json(*response->reply()) : std::string(), row.reply);
  EXPECT_EQ(response->new_id(), row.new_id);
  EXPECT_EQ(response->timeout_ms(), row.timeout_ms);
}

using K = Response::Kind;
INSTANTIATE_TEST_SUITE_P(
    Rows, Protocol,
    ::testing::Values(
        row_ok("PerformOk", "perform", R"({"ok":5})", K::kOk, "5"),
        row_ok("PerformOkExtraFieldsIgnored", "perform", R"({"ok":[1],"note":"x"})", K::kOk, "[1]"),
        row_ok("PerformReplace", "perform", R"({"replace":{"a":1}})", K::kReplace, R"({"a":1})"),
        row_ok("PerformReplaceId", "perform", R"({"replace":2,"id":"next"})", K::kReplaceId, "2",
               "", "next"),
        row_ok("PerformTimeout", "perform", R"({"timeout":50,"result":"r"})", K::kTimeout, R"("r")",
               "", "", 50),
        row_ok("PerformTimeoutNoResult", "perform", R"({"timeout":0})", K::kTimeout, "null"),
        row_ok("PerformHalt", "perform", R"({"halt":true})", K::kHalt),
        row_ok("PerformHaltWinsOverReplace", "perform", R"({"halt":true,"replace":1})", K::kHalt),
        row_ok("PerformHaltFalseIsNoHalt", "perform", R"({"halt":false,"ok":1})", K::kOk, "1"),
        row_fails("PerformNotJson", "perform", "this is not JSON",
                  "command wrote invalid JSON: this is not JSON"),
        row_fails("PerformNonObject", "perform", "[1]",
                  "command answered perform with a non-object: [1]"),
        row_fails("PerformUnknownShape", "perform", "{}",
                  "command answered perform with an unknown response: {}"),
        row_fails("PerformNegativeTimeout", "perform", R"({"timeout":-1})",
                  "command answered perform with an invalid timeout: -1"),
        row_fails("PerformStringTimeout", "perform", R"({"timeout":"5"})",
                  R"(command answered perform with an invalid timeout: "5")"),
        row_ok("CallReply", "call", R"({"reply":3})", K::kOk, "3"),
        row_ok("CallReplyAndReplace", "call", R"({"reply":3,"replace":{"p":1}})", K::kReplace,
               R"({"p":1})", "3"),
        row_ok("CallOk", "call", R"({"ok":7})", K::kOk, "7"),
        row_ok("CallReplace", "call", R"({"replace":4})", K::kReplace, "4"),
        row_fails("CallNotJson", "call", "oops", "command wrote invalid JSON: oops"),
        row_ok("CastOk", "cast", R"({"ok":1})", K::kOk, "1"),
        row_ok("CastReplace", "cast", R"({"replace":4})", K::kReplace, "4"),
        row_fails("CastUnknownShape", "cast", R"({"reply":1})",
                  "command answered cast with an unknown response")),
    [](const auto& row) { return row.param.name; });

TEST_F(ExecManagerTest, RequestsAreOneJsonLineEach) {
  start_answering(R"({"ok":null})");
  const json::value payload = parse(R"({"x":[1,"two"]})");
  const WorkerState state{"t", payload};
  manager_->perform("t", payload);
  manager_->call(parse(R"(["add",5])"), state);
  manager_->cast("hi", state);
  manager_->terminate("del", state);
  EXPECT_EQ(lines_of(journal()),
            (std::vector<std::string>{
                R"({"op":"perform","id":"t","payload":{"x":[1,"two"]}})",
                R"({"op":"call","id":"t","payload":{"x":[1,"two"]},"message":["add",5]})",
                R"({"op":"cast","id":"t","payload":{"x":[1,"two"]},"message":"hi"})",
                R"({"op":"terminate","id":"t","payload":{"x":[1,"two"]},"reason":"del"})"}));
}

TEST_F(ExecManagerTest, BlankLinesAndCarriageReturnsAreTolerated) {
  start({"sh", "-c", R"(while read -r l; do printf '\n\r\n{"ok":1}\r\n'; done)"});
  const Response r = manager_->perform("t", nullptr);
  EXPECT_EQ(to_json(r.value()), "1");
}

// ------------------------------------------------------------ lines nobody asked for

TEST_F(ExecManagerTest, LineBeforeAnyRequestFailsTheWorker) {
  start({"sh", "-c", R"(printf '{"ok":0}\n'; cat > /dev/null)"});
  EXPECT_EQ(idle_failure(), R"(command wrote a line without a request: {"ok":0})");
}

// Two answers to one request: the second must never be taken as the answer to
// the next request (a caller would get a stale reply).
TEST_F(ExecManagerTest, SecondAnswerIsNeverTakenForTheNextRequest) {
  start_answering("{\"ok\":1}\n{\"ok\":2}");
  const Response first = manager_->perform("t", nullptr);
  EXPECT_EQ(to_json(first.value()), "1");
  // Both lines arrive in one write: the second is already buffered or readable.
  const std::string error = error_of([&] { manager_->call("x", WorkerState{"t", nullptr}); });
  EXPECT_EQ(error, R"(command wrote a line without a request: {"ok":2})");
}

// The same stray line found while idle: a failure, and no blocking read on a
// pipe that has nothing more to give.
TEST_F(ExecManagerTest, SecondAnswerFailsTheWorkerWhenIdle) {
  start_answering("{\"ok\":1}\n{\"ok\":2}");
  (void)manager_->perform("t", nullptr);
  EXPECT_EQ(idle_failure(), R"(command wrote a line without a request: {"ok":2})");
}

// ------------------------------------------------------------ the command ends

TEST_F(ExecManagerTest, ExitIsNoticedWhenIdle) {
  start({"sh", "-c", "exit 7"});
  EXPECT_EQ(idle_failure(), "command exited with code 7");
}

TEST_F(ExecManagerTest, DeathBySignalIsNamed) {
  start({"sh", "-c", "kill -s KILL $$"});
  EXPECT_EQ(idle_failure(), "command killed by SIGKILL");
}

// The end is reported to the runtime (report_child_ended: it asks the
// supervisor whether to start it again in place) with the command's own
// status and how long it ran, and
// init() may then be called again in the same manager: a new command.
TEST_F(ExecManagerTest, AnEndedCommandCarriesItsStatusAndInitStartsItAgain) {
  start({"sh", "-c", "echo $$ >> \"$0\"; exec cat > /dev/null", dir_ + "/pids"});
  ASSERT_TRUE(wait_until([&] { return lines_of(dir_ + "/pids").size() == 1; }, kWait, 1ms));
  const pid_t first = std::stoi(lines_of(dir_ + "/pids")[0]);
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  std::optional<ChildEnded> ended;
  ASSERT_TRUE(wait_until(
      [&] {
        manager_->idle(WorkerState{"t", nullptr});  // reports it, throws nothing
        ended = take_child_ended();
        return ended.has_value();
      },
      kWait, 1ms));
  EXPECT_EQ(ended->exit.kind, ExitInfo::Kind::kSignaled);
  EXPECT_EQ(ended->exit.code, SIGKILL);
  EXPECT_EQ(ended->exit.reason, "command killed by SIGKILL");
  EXPECT_EQ(std::string(ended->what()), "command killed by SIGKILL");
  EXPECT_LT(ended->uptime_ms, 60'000u);
  // Again, in the same manager: a second command, the first one's pipes gone.
  EXPECT_EQ(error_of([&] { manager_->init("t", json::value(nullptr)); }), "");
  ASSERT_TRUE(wait_until([&] { return lines_of(dir_ + "/pids").size() == 2; }, kWait, 1ms));
  EXPECT_NE(std::stoi(lines_of(dir_ + "/pids")[1]), first);
  EXPECT_EQ(error_of([&] { manager_->idle(WorkerState{"t", nullptr}); }), "");
}

// ------------------------------------------------------------ start-up handshake

json::object ready_within(int ms) {
  json::object o;
  o["ready_timeout"] = ms;
  return o;
}

TEST_F(ExecManagerTest, InitReturnsOnceTheCommandSaysReady) {
  EXPECT_EQ(error_of([&] {
              start({"sh", "-c", R"(printf '{"ready":true}\n'; exec cat > /dev/null)"},
                    ready_within(60'000));
            }),
            "");
  EXPECT_EQ(error_of([&] { manager_->idle(WorkerState{"t", nullptr}); }), "");
}

TEST_F(ExecManagerTest, InitFailsWithTheExitAndStderrOfACommandThatDiesBeforeReady) {
  EXPECT_EQ(error_of([&] {
              start({"sh", "-c", "echo 'no config' >&2; exit 7"}, ready_within(60'000));
            }),
            "command exited with code 7 before it was ready; stderr: no config");
}

TEST_F(ExecManagerTest, TheStderrTailIsBoundedAndOneLine) {
  const std::string error = error_of([&] {
    start({"sh", "-c",
           "echo one >&2; echo two >&2; printf 'tab\there\n' >&2; echo three >&2; "
           "head -c 2000 /dev/zero | tr '\\0' x >&2; echo >&2; echo last >&2; exit 2"},
          ready_within(60'000));
  });
  const std::string head = "command exited with code 2 before it was ready; stderr: ...";
  ASSERT_EQ(error.rfind(head, 0), 0u) << error;
  EXPECT_LE(error.size(), head.size() + 512) << error;
  EXPECT_EQ(error.substr(error.size() - 9), "xx | last") << error;
  EXPECT_EQ(error.find('\n'), std::string::npos);
  EXPECT_EQ(error.find("one"), std::string::npos);  // older lines are dropped
}

TEST_F(ExecManagerTest, ALineOtherThanReadyFirstFailsInit) {
  EXPECT_EQ(error_of([&] {
              start({"sh", "-c", R"(echo '{"ok":1}'; exec cat > /dev/null)"}, ready_within(60'000));
            }),
            R"(command wrote a line before it was ready: {"ok":1})");
}

// A silent command is ready once alive for ready_timeout; its ready line,
// coming later, is neither a stray line nor the answer to the next request.
TEST_F(ExecManagerTest, AReadyLineAfterTheGraceIsNotAnAnswer) {
  json::object options = ready_within(50);
  json::object env;
  env["ANSWER"] = R"({"ok":"answer"})";
  env["J"] = journal();
  options["env"] = std::move(env);
  // Ready only after its first request has arrived: the line is already on
  // its way when the worker reads the answer.
  start({"sh", "-c",
         std::string(R"(IFS= read -r l; printf '{"ready":true}\n'; )") +
             R"(printf '%s\n' "$ANSWER"; )" + kAnswering},
        std::move(options));
  const Response r = manager_->perform("t", nullptr);
  EXPECT_EQ(to_json(r.value()), R"("answer")");
  EXPECT_EQ(error_of([&] { manager_->idle(WorkerState{"t", nullptr}); }), "");
  const Response again = manager_->perform("t", nullptr);
  EXPECT_EQ(to_json(again.value()), R"("answer")");
}

TEST_F(ExecManagerTest, ReadyTimeoutIsCheckedInTheSpec) {
  ExecManager m(ExecManager::Config{});
  ChildSpec spec;
  spec.options["exec"] = json::array{"cat"};
  spec.options["ready_timeout"] = -1;
  const auto st = m.check_spec("w", spec);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "invalid ready_timeout of 'w': -1 is not an integer of ms from 0");
  spec.options["ready_timeout"] = 0;
  EXPECT_TRUE(m.check_spec("w", spec));
}

TEST_F(ExecManagerTest, ExitInsteadOfAnAnswer) {
  start({"sh", "-c", "read -r l; exit 4"});
  EXPECT_EQ(error_of([&] { manager_->perform("t", nullptr); }),
            "command exited with code 4 while dynmgr waited for its perform answer");
}

TEST_F(ExecManagerTest, UnansweredCallTimesOutAfterResponseTimeout) {
  json::object options;
  options["response_timeout"] = 200;
  start({"sh", "-c", "cat > /dev/null"}, options);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(error_of([&] {
              manager_->call("x", WorkerState{"t", nullptr});
            }),
            "command did not answer call within 200 ms");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);
}

// terminate: the request, then stdin EOF, then SIGTERM, then SIGKILL to the
// command's whole process group. This one ignores all but SIGKILL and leaves a
// child (same group) behind.
TEST_F(ExecManagerTest, TerminateEscalatesToSigkillOfTheGroup) {
  const std::string pids = dir_ + "/pids";
  start(
      {"sh", "-c", "trap '' TERM; sleep 1000 & echo $$ $! > " + pids + "; cat > /dev/null; wait"});
  ASSERT_TRUE(wait_until([&] { return lines_of(pids).size() == 1; }, kWait));
  std::istringstream in(lines_of(pids).front());
  pid_t sh = 0, sleeper = 0;
  in >> sh >> sleeper;
  ASSERT_GT(sleeper, 0);
  const auto t0 = std::chrono::steady_clock::now();
  manager_->terminate("shutdown", WorkerState{"t", nullptr});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_TRUE(process_dead(sh));
  EXPECT_TRUE(wait_until([&] { return process_dead(sleeper); }, kWait)) << "the group survived";
}

TEST_F(ExecManagerTest, TerminateOfACooperativeCommandIsQuick) {
  start_answering(R"({"ok":null})");
  const auto t0 = std::chrono::steady_clock::now();
  manager_->terminate("del", WorkerState{"t", nullptr});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 900ms);  // no escalation step was needed
  EXPECT_TRUE(contains(lines_of(journal()).back(), R"("op":"terminate")"));
}

// ------------------------------------------------------------ spawning

TEST_F(ExecManagerTest, CommandGetsOnlyStdioEvenWithInheritableDescriptors) {
  std::vector<int> extra;
  for (int i = 0; i < 4; ++i)
    extra.push_back(::open("/dev/null", O_RDONLY));  // no O_CLOEXEC, on purpose
  start({probe_command_path()});
  const std::string error = error_of([&] {
    const Response r = manager_->call("fds", WorkerState{"t", nullptr});
    EXPECT_EQ(to_json(r.value()), "[0,1,2]");
  });
  for (int fd : extra) ::close(fd);
  EXPECT_EQ(error, "");
}

TEST_F(ExecManagerTest, EnvironmentAndWorkingDirectory) {
  json::object options;
  json::object env;
  env["K"] = "v";
  options["env"] = std::move(env);
  options["cwd"] = dir_;
  ::setenv("SECRET_MARKER", "leak", 1);
  start({probe_command_path()}, options);
  ::unsetenv("SECRET_MARKER");
  const Response e = manager_->call("env", WorkerState{"t", nullptr});
  EXPECT_EQ(to_json(e.value()),
            R"({"K":"v","PATH":"/usr/local/bin:/usr/bin:/bin","DYNMGR_ID":"t","DYNMGR_NAME":""})");
  const Response c = manager_->call("cwd", WorkerState{"t", nullptr});
  EXPECT_EQ(std::filesystem::canonical(std::string(c.value().as_string())),
            std::filesystem::canonical(dir_));
}

struct InitFailure {
  std::string name;
  std::string options;  // DYNMGR_WORKER_OPTIONS; "{dir}" is the test directory
  std::string error;    // what init threw; "{dir}" likewise
};

std::ostream& operator<<(std::ostream& os, const InitFailure& f) { return os << f.name; }

class Init : public ExecManagerTest, public ::testing::WithParamInterface<InitFailure> {};

TEST_P(Init, FailsWithAClearReason) {
  auto fill = [&](std::string s) {
    for (auto at = s.find("{dir}"); at != std::string::npos; at = s.find("{dir}"))
      s.replace(at, 5, dir_);
    return s;
  };
  std::ofstream(dir_ + "/plain") << "#!/bin/sh\n";
  ::setenv("DYNMGR_WORKER_OPTIONS", fill(GetParam().options).c_str(), 1);
  manager_ = std::make_unique<ExecManager>(ExecManager::Config{});
  EXPECT_EQ(error_of([&] { manager_->init("t", nullptr); }), fill(GetParam().error));
}

INSTANTIATE_TEST_SUITE_P(
    Options, Init,
    ::testing::Values(
        InitFailure{"NoExec", "{}", "no command to run (options carry no exec)"},
        InitFailure{"EmptyExec", R"({"exec":[]})", "no command to run (options carry no exec)"},
        InitFailure{"NotInPath", R"({"exec":["dynmgr-no-such-command"]})",
                    "command 'dynmgr-no-such-command' not found in PATH"},
        InitFailure{"AbsentPath", R"({"exec":["/no/such/command"]})",
                    "command '/no/such/command' is not executable: No such file or directory"},
        InitFailure{"NotExecutable", R"({"exec":["{dir}/plain"]})",
                    "command '{dir}/plain' is not executable: Permission denied"},
        InitFailure{"AbsentCwd", R"({"exec":["/bin/sh"],"cwd":"{dir}/absent"})",
                    "working directory '{dir}/absent' is not usable: No such file or directory"},
        InitFailure{"CwdIsAFile", R"({"exec":["/bin/sh"],"cwd":"{dir}/plain"})",
                    "working directory '{dir}/plain' is not usable: Not a directory"}),
    [](const auto& row) { return row.param.name; });

// ------------------------------------------------------------ spec checks (supervisor side)

struct SpecCase {
  std::string name;
  std::vector<std::string> default_command;
  std::string options;  // the spec's options
  std::string error;    // "" when valid
  std::string exec;     // the exec after the check, when valid
};

std::ostream& operator<<(std::ostream& os, const SpecCase& c) { return os << c.name; }

class CheckSpec : public ::testing::TestWithParam<SpecCase> {};

TEST_P(CheckSpec, Row) {
  const SpecCase& c = GetParam();
  ExecManager m(ExecManager::Config{c.default_command, ""});
  ChildSpec spec;
  spec.options = parse(c.options).as_object();
  const Status st = m.check_spec("a", spec);
  if (!c.error.empty()) {
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::kInvalid);
    EXPECT_EQ(st.error().message, c.error);
    return;
  }
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(to_json(spec.options.at("exec")), c.exec);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, CheckSpec,
    ::testing::Values(
        SpecCase{"OwnExec", {}, R"({"exec":["a","b"]})", "", R"(["a","b"])"},
        SpecCase{"DefaultFillsIn", {"python3", "w.py"}, "{}", "", R"(["python3","w.py"])"},
        SpecCase{"OwnExecWinsOverDefault", {"python3"}, R"({"exec":["sh"]})", "", R"(["sh"])"},
        SpecCase{"NoCommand",
                 {},
                 "{}",
                 "worker 'a' has no command: use --exec CMD ARGS... (this dynmgrd has no default "
                 "command)",
                 ""},
        SpecCase{"ExecNotArray",
                 {},
                 R"({"exec":"sh"})",
                 "invalid exec of 'a': not a non-empty array of strings",
                 ""},
        SpecCase{"ExecEmpty",
                 {},
                 R"({"exec":[]})",
                 "invalid exec of 'a': not a non-empty array of strings",
                 ""},
        SpecCase{"ExecNotStrings",
                 {},
                 R"({"exec":["sh",null]})",
                 "invalid exec of 'a': null is not a string",
                 ""},
        SpecCase{"EnvNotObject",
                 {},
                 R"({"exec":["sh"],"env":[]})",
                 "invalid env of 'a': not an object",
                 ""},
        SpecCase{"EnvValueNotString",
                 {},
                 R"({"exec":["sh"],"env":{"A":1}})",
                 "invalid env of 'a': A",
                 ""},
        SpecCase{"EnvKeyWithEquals",
                 {},
                 R"({"exec":["sh"],"env":{"A=B":"c"}})",
                 "invalid env of 'a': A=B",
                 ""},
        SpecCase{
            "EnvKeyEmpty", {}, R"({"exec":["sh"],"env":{"":"c"}})", "invalid env of 'a': ", ""},
        SpecCase{"CwdNotString",
                 {},
                 R"({"exec":["sh"],"cwd":1})",
                 "invalid cwd of 'a': not a string",
                 ""},
        SpecCase{
            "ResponseTimeoutOk", {}, R"({"exec":["sh"],"response_timeout":500})", "", R"(["sh"])"},
        SpecCase{"ResponseTimeoutString",
                 {},
                 R"({"exec":["sh"],"response_timeout":"500"})",
                 R"(invalid response_timeout of 'a': "500" is not a positive integer of ms)",
                 ""},
        SpecCase{"ResponseTimeoutZero",
                 {},
                 R"({"exec":["sh"],"response_timeout":0})",
                 "invalid response_timeout of 'a': 0 is not a positive integer of ms",
                 ""}),
    [](const auto& row) { return row.param.name; });

TEST(ParseChildren, SplitsExecOptionsFromTheSpec) {
  auto specs = ExecManager::parse_children(R"({
    "a": {"exec": ["sh", "x"], "env": {"K": "v"}, "cwd": "/tmp", "response_timeout": 9,
          "payload": {"n": 1}, "timeout": 0, "restart": "temporary"},
    "b": {"payload": 2}
  })");
  ASSERT_TRUE(specs) << specs.error().message;
  ASSERT_EQ(specs->size(), 2u);
  const ChildSpec& a = specs->at("a");
  EXPECT_EQ(to_json(a.payload), R"({"n":1})");
  EXPECT_EQ(a.timeout_ms, 0u);
  EXPECT_EQ(a.restart, RestartType::kTemporary);
  EXPECT_EQ(to_json(a.options),
            R"({"exec":["sh","x"],"env":{"K":"v"},"cwd":"/tmp","response_timeout":9})");
  EXPECT_EQ(to_json(specs->at("b").options), "{}");
  EXPECT_EQ(specs->at("b").timeout_ms, 1000u);  // defaults for what is absent
}

}  // namespace
}  // namespace dynmgr::testing
