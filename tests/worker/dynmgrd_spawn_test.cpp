// How dynmgrd starts a command: no descriptor but stdin, stdout and stderr
// (even when the supervisor, and so its workers, inherited others), a clean
// environment (--env pairs, PATH, DYNMGR_ID, DYNMGR_NAME and nothing else),
// and the --cwd working directory.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dynmgrd_harness.hpp"

namespace dynmgr::testing {
namespace {

const std::vector<int> kStdio{0, 1, 2};

std::vector<int> int_list(const json::value& v) {
  std::vector<int> out;
  if (!v.is_array()) return out;
  for (const auto& x : v.get_array()) out.push_back(static_cast<int>(x.to_number<std::int64_t>()));
  return out;
}

// NAME=VALUE pairs of /proc/PID/environ.
std::vector<std::string> environ_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ");
  std::vector<std::string> out;
  std::string entry;
  while (std::getline(in, entry, '\0')) out.push_back(entry);
  return out;
}

// Descriptors opened without O_CLOEXEC in the test process, so the dynmgrd it
// starts holds them too; closed again by the destructor.
class InheritedFds {
 public:
  explicit InheritedFds(int n) {
    for (int i = 0; i < n; ++i)
      fds_.push_back(::open("/dev/null", O_RDONLY));  // no O_CLOEXEC, on purpose
  }
  ~InheritedFds() {
    for (int fd : fds_) ::close(fd);
  }
  const std::vector<int>& fds() const { return fds_; }

 private:
  std::vector<int> fds_;
};

TEST_F(DynmgrdTest, CommandGetsNoDescriptorButStdio) {
  std::vector<int> inherited;
  {
    InheritedFds extra(4);
    for (int fd : extra.fds()) ASSERT_GE(fd, 3);
    inherited = extra.fds();
    ASSERT_TRUE(start());
  }
  ASSERT_TRUE(std::all_of(inherited.begin(), inherited.end(), [&](int fd) {
    const auto held = fds_of(supervisor_pid());
    return std::find(held.begin(), held.end(), fd) != held.end();
  })) << "precondition: dynmgrd holds the descriptors it inherited";

  auto r = ctl({"put", "p", "--timeout", "0", "--exec", probe_command_path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pid_t worker = worker_pid("p");
  ASSERT_GT(worker, 0);
  // The worker holds them as well (the supervisor does not close inherited
  // descriptors), so this exercises the exec manager's own closing: Boost 1.81
  // v2 would pass every one below its error pipe on to the command.
  const auto worker_fds = fds_of(worker);
  const bool worker_has_them = std::all_of(inherited.begin(), inherited.end(), [&](int fd) {
    return std::find(worker_fds.begin(), worker_fds.end(), fd) != worker_fds.end();
  });
  RecordProperty("worker_holds_inherited_fds", worker_has_them ? "yes" : "no");

  // As the command sees itself (fcntl on every number) ...
  r = ctl({"call", "p", R"("fds")"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(int_list(parse(r.out)), kStdio) << r.out;
  // ... and as /proc sees it.
  const pid_t command = command_of(worker);
  ASSERT_GT(command, 0);
  EXPECT_EQ(fds_of(command), kStdio);

  // A Python command too (its interpreter opens nothing it keeps).
  r = ctl({"put", "py", "--payload", "{}", "--timeout", "0", "--exec", "python3",
           source_path("examples/exec/counter.py")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(ctl({"call", "py", R"("get")"}).exit_code, 0);  // it is up and reading
  const pid_t py = command_of(worker_pid("py"));
  ASSERT_GT(py, 0);
  EXPECT_EQ(fds_of(py), kStdio);
}

TEST_F(DynmgrdTest, CommandEnvironmentIsCleanAndExplicit) {
  ASSERT_TRUE(start({}, {"SECRET_MARKER=do-not-leak"}));
  auto r = ctl({"put", "e", "--timeout", "0", "--env", "FOO=bar", "--env", "SPACED=a b=c", "--env",
                "EMPTY=", "--exec", probe_command_path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pid_t worker = worker_pid("e");
  ASSERT_GT(worker, 0);
  const auto worker_env = environ_of(worker);
  ASSERT_NE(std::find(worker_env.begin(), worker_env.end(), "SECRET_MARKER=do-not-leak"),
            worker_env.end())
      << "precondition: the worker itself has the supervisor's environment";

  r = ctl({"call", "e", R"("env")"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json::value env = parse(r.out);
  ASSERT_TRUE(env.is_object()) << r.out;
  const json::object expected{{"FOO", "bar"},     {"SPACED", "a b=c"},
                              {"EMPTY", ""},      {"PATH", "/usr/local/bin:/usr/bin:/bin"},
                              {"DYNMGR_ID", "e"}, {"DYNMGR_NAME", instance_}};
  EXPECT_EQ(env.get_object().size(), expected.size()) << r.out;
  for (const auto& kv : expected) {
    EXPECT_EQ(get_string(env.get_object(), kv.key()).value_or("<absent>"), kv.value().get_string())
        << kv.key();
  }
  EXPECT_EQ(env.get_object().if_contains("SECRET_MARKER"), nullptr) << r.out;

  // An explicit PATH replaces the default one.
  r = ctl({"put", "p", "--timeout", "0", "--env", "PATH=/opt/dynmgr-test/bin:/usr/bin", "--exec",
           probe_command_path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = ctl({"call", "p", R"("env")"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(get_string(parse(r.out).as_object(), "PATH").value_or(""),
            "/opt/dynmgr-test/bin:/usr/bin");

  // A bare command name is found with the worker's PATH; the command's own
  // environment is still the clean one.
  r = ctl(
      {"put", "sh", "--timeout", "0", "--exec", "sh", "-c",
       R"(while read -r l; do printf '{"reply":"%s|%s"}\n' "$SECRET_MARKER" "$DYNMGR_ID"; done)"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = ctl({"call", "sh", R"("x")"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "\"|sh\"\n");
}

TEST_F(DynmgrdTest, CommandRunsInItsWorkingDirectory) {
  const std::string work = path("work dir");
  ASSERT_TRUE(std::filesystem::create_directory(work));
  ASSERT_TRUE(start());
  auto r = ctl({"put", "c", "--timeout", "0", "--cwd", work, "--exec", probe_command_path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = ctl({"call", "c", R"("cwd")"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json::value cwd = parse(r.out);
  ASSERT_TRUE(cwd.is_string()) << r.out;
  EXPECT_EQ(std::filesystem::canonical(std::string(cwd.get_string())),
            std::filesystem::canonical(work));

  // A working directory that does not exist: a clear error naming it.
  r = ctl({"put", "bad", "--timeout", "0", "--max-restarts", "0", "--cwd", path("absent"), "--exec",
           probe_command_path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("working directory '" + path("absent") + "'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dynmgr::testing
