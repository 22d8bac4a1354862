// dynmgrd's own flags: the default command (--exec, the rest of the line), the
// children file (--children: boots a fleet; an invalid file is a usage error,
// exit 2, before anything is created), and their misuse.
#include <filesystem>
#include <fstream>

#include "dynmgrd_harness.hpp"

namespace dynmgr::testing {
namespace {

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::int64_t field(const json::value& payload, const char* key) {
  if (!payload.is_object()) return -1;
  return get_int(payload.get_object(), key).value_or(-1);
}

std::string counter_py() { return source_path("examples/exec/counter.py"); }

TEST_F(DynmgrdTest, PutWithoutExecNeedsADefaultCommand) {
  ASSERT_TRUE(start());
  const auto r = ctl({"put", "x", "--payload", "{}"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "dynmgrctl: put 'x': worker 'x' has no command: use --exec CMD ARGS... (this dynmgrd "
            "has no default command)\n");
  EXPECT_EQ(ctl({"get", "x"}).exit_code, 3);
  EXPECT_FALSE(record("x").has_value());
}

TEST_F(DynmgrdTest, DefaultCommandServesPutWithoutExec) {
  // The command's own flags (-n here) belong to it, not to dynmgrd.
  ASSERT_TRUE(start({"--exec", "python3", counter_py(), "-n", "not-an-instance-name"}));
  auto r = ctl({"put", "c", "--payload", "{}", "--timeout", "100", "--lull", "30"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(wait_until([&] { return field(payload("c"), "n") >= 2; }, kWait)) << log();
  r = ctl({"call", "c", R"(["add",3])"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "3\n");

  // --exec on put still wins over the default.
  r = ctl({"put", "s", "--payload", R"({"n":40,"sum":0})", "--timeout", "0", "--exec", "sh",
           script_path("counter.sh")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = ctl({"call", "s", R"("get")"});
  EXPECT_EQ(r.out, "{\"n\":40,\"sum\":0}\n");
  const pid_t sh = command_of(worker_pid("s"));
  ASSERT_GT(sh, 0);
  std::ifstream cmdline("/proc/" + std::to_string(sh) + "/cmdline");
  std::string argv0;
  std::getline(cmdline, argv0, '\0');
  EXPECT_EQ(std::filesystem::path(argv0).filename(), "sh") << argv0;
}

// A children file: a Python counter, a sh counter starting at 10, and the
// probe command with env, cwd and restart options.
std::string fill_children(const std::string& work) {
  return R"({
  "py":    {"exec": ["python3", ")" +
         counter_py() + R"("], "payload": {}, "timeout": 100, "lull": 30},
  "sh":    {"exec": ["sh", ")" +
         script_path("counter.sh") + R"("], "payload": {"n": 10, "sum": 0}, "timeout": 50},
  "probe": {"exec": [")" +
         probe_command_path() + R"("], "env": {"FLEET": "yes"}, "cwd": ")" + work + R"(",
            "timeout": 0, "restart": "transient", "max_restarts": 2, "within": 1000}
})";
}

TEST_F(DynmgrdTest, ChildrenFileBootsAFleet) {
  const std::string work = path("work");
  ASSERT_TRUE(std::filesystem::create_directory(work));
  const std::string children = path("children.json");
  write_file(children, fill_children(work));
  ASSERT_TRUE(start({"--children", children}));

  for (const char* id : {"py", "sh", "probe"}) {
    EXPECT_GT(worker_pid(id), 0) << id;
  }
  auto probe = record("probe");
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->restart, RestartType::kTransient);
  EXPECT_EQ(probe->max_restarts, 2u);
  EXPECT_EQ(probe->within_ms, 1000u);
  EXPECT_EQ(probe->timeout_ms, 0u);
  auto r = ctl({"call", "probe", R"("env")"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(get_string(parse(r.out).as_object(), "FLEET").value_or(""), "yes") << r.out;
  r = ctl({"call", "probe", R"("cwd")"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::filesystem::canonical(std::string(parse(r.out).as_string())),
            std::filesystem::canonical(work));

  EXPECT_TRUE(wait_until([&] { return field(payload("py"), "n") >= 2; }, kWait)) << log();
  EXPECT_TRUE(wait_until([&] { return field(payload("sh"), "n") >= 12; }, kWait)) << log();

  // `restart` goes back to the file's specs: payloads as written there (sum
  // is 0 again; performs only count n).
  r = ctl({"call", "sh", R"(["add",100])"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(field(payload("sh"), "sum"), 100);
  const pid_t old_sh = worker_pid("sh");
  r = ctl({"restart"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto sh = wait_record("sh", [&](const WorkerInfo& s) {
    return s.status == WorkerStatus::kRunning && s.pid != old_sh;
  });
  ASSERT_TRUE(sh && sh->pid != old_sh);
  EXPECT_EQ(field(parse(sh->payload), "sum"), 0) << sh->payload;
}

TEST_F(DynmgrdTest, ExecWithoutACommandIsAUsageError) {
  for (const std::vector<std::string>& flags :
       {std::vector<std::string>{"--exec"},
        std::vector<std::string>{"--log-level", "debug", "--exec"}}) {
    const auto r = start_raw(flags);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.err, "dynmgrd: --exec needs a command\n");
    EXPECT_TRUE(shm_objects(names_).empty());
  }
}

// A log file that cannot be opened is the caller's error, before detaching:
// exit 1 with one line, nothing started, and the caller's stdout and stderr
// are not kept open by a daemon (`$(dynmgrd --daemon ...)` used to hang).
TEST_F(DynmgrdTest, AnUnwritableDaemonLogFileIsAnErrorAndNothingStarts) {
  const auto r = run_command({bin_path("dynmgrd"), "-n", instance_, "--daemon", "--log-file",
                              "/nonexistent/dir/x.log", "--exec", "true"},
                             {}, kWait);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "dynmgrd: unable to open log file /nonexistent/dir/x.log: No such file or directory\n");
  EXPECT_TRUE(shm_objects(names_).empty());
}

struct BadChildren {
  std::string name;
  std::string content;  // written to the file; "<dir>" and "<missing>" are special
  std::string error;    // dynmgrd's whole stderr line
};

std::ostream& operator<<(std::ostream& os, const BadChildren& b) { return os << b.name; }

class InvalidChildrenFile : public DynmgrdTest,
                            public ::testing::WithParamInterface<BadChildren> {};

TEST_P(InvalidChildrenFile, IsRejectedWithExit2AndNothingStarts) {
  const BadChildren& b = GetParam();
  std::string file = path("children.json");
  if (b.content == "<dir>") {
    file = dir_;
  } else if (b.content == "<missing>") {
    file = path("absent.json");
  } else {
    write_file(file, b.content);
  }
  std::string error = b.error;
  if (const auto at = error.find("{file}"); at != std::string::npos) error.replace(at, 6, file);
  const auto r = start_raw({"--children", file});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "dynmgrd: " + error + "\n");
  EXPECT_TRUE(shm_objects(names_).empty());
}

INSTANTIATE_TEST_SUITE_P(
    Files, InvalidChildrenFile,
    ::testing::Values(
        BadChildren{"NotJson", "{nope", "invalid JSON in children file: syntax error"},
        BadChildren{"NotAnObject", "[1,2]", "children file: not a JSON object of id -> spec"},
        BadChildren{"EmptyId", R"({"": {"exec": ["true"]}})",
                    "children file: invalid id: must not be empty"},
        BadChildren{"SpecNotAnObject", R"({"a": 5})",
                    "children file: spec of 'a' is not an object"},
        BadChildren{"UnknownField", R"({"a": {"exec": ["true"], "bogus": 1}})",
                    "children file: 'a': unknown spec field 'bogus'"},
        BadChildren{"BadTimeout", R"({"a": {"exec": ["true"], "timeout": "x"}})",
                    R"(children file: 'a': invalid spec field 'timeout': "x" is not an integer)"},
        BadChildren{"NoCommand", R"({"a": {"payload": 1}})",
                    "worker 'a' has no command: use --exec CMD ARGS... (this dynmgrd has no "
                    "default command)"},
        BadChildren{"ExecNotAnArray", R"({"a": {"exec": "true"}})",
                    "invalid exec of 'a': not a non-empty array of strings"},
        BadChildren{"ExecEmpty", R"({"a": {"exec": []}})",
                    "invalid exec of 'a': not a non-empty array of strings"},
        BadChildren{"ExecNotStrings", R"({"a": {"exec": ["true", 1]}})",
                    "invalid exec of 'a': 1 is not a string"},
        BadChildren{"EnvNotStrings", R"({"a": {"exec": ["true"], "env": {"A": 1}}})",
                    "invalid env of 'a': A"},
        BadChildren{"CwdNotAString", R"({"a": {"exec": ["true"], "cwd": 5}})",
                    "invalid cwd of 'a': not a string"},
        BadChildren{"BadResponseTimeout",
                    R"({"a": {"exec": ["true"], "response_timeout": "5000"}})",
                    R"(invalid response_timeout of 'a': "5000" is not a positive integer of ms)"},
        BadChildren{"Missing", "<missing>", "unable to read --children {file}: No such file or directory"},
        BadChildren{"Directory", "<dir>", "unable to read --children {file}: Is a directory"}),
    [](const auto& row) { return row.param.name; });

}  // namespace
}  // namespace dynmgr::testing
