// `cmake --install` as a user runs it (cmake/install.cmake): what lands in the
// prefix, and a manager built out of tree with find_package(dynmgr) against that
// installed copy (tests/install/consumer/), run as a real supervisor and driven
// by the installed dynmgrctl.
//
// The build tree, cmake and the compiler come from the build that made this
// test (compile definitions in tests/install/CMakeLists.txt).

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "cli/ctl_support.hpp"

namespace dynmgr::testing {
namespace {

namespace fs = std::filesystem;

// A scratch directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string templ = "/tmp/dynmgr-install-test.XXXXXX";
    if (::mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string describe(const CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

// cmake --install <build> --prefix <prefix> [DESTDIR=<destdir> in its environment].
// A DESTDIR of the caller's (a shell that staged an install) must not leak in.
CommandResult install_into(const std::string& prefix, const std::string& destdir = "") {
  ::unsetenv("DESTDIR");
  std::vector<std::string> env;
  if (!destdir.empty()) env.push_back("DESTDIR=" + destdir);
  return run_command({DYNMGR_CMAKE_COMMAND, "--install", DYNMGR_BUILD_ROOT, "--prefix", prefix},
                     env, std::chrono::minutes(2));
}

// Relative paths of every file under root (directories left out), sorted.
std::set<std::string> files_under(const fs::path& root) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_directory()) out.insert(fs::relative(it->path(), root).string());
  }
  return out;
}

// A supervisor run from an arbitrary binary as `BINARY -n NAME --daemon ...`.
// Whatever the test did, the destructor stops it (installed dynmgrctl stop,
// SIGKILL as a last resort) and removes its shared objects, state and log.
class InstalledDaemon {
 public:
  InstalledDaemon(std::string binary, std::string ctl, std::vector<std::string> flags)
      : ctl_(std::move(ctl)), name_(unique_instance("inst")), names_(name_) {
    log_ = "/tmp/dynmgr-test." + name_ + ".log";
    std::vector<std::string> argv{std::move(binary), "-n",  name_, "--daemon", "--log-file", log_,
                                  "--orphan-grace",  "2000"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    start_ = run_command(argv, {}, std::chrono::seconds(30));
    if (start_.exit_code == 0) {
      const auto ping = run({"--json", "ping"});
      const auto v = parse(ping.out);
      if (ping.exit_code == 0 && v.is_object()) {
        if (const auto* pid = v.as_object().at("supervisor").as_object().if_contains("pid")) {
          pid_ = static_cast<pid_t>(pid->to_number<std::int64_t>());
        }
      }
    }
  }
  InstalledDaemon(const InstalledDaemon&) = delete;
  InstalledDaemon& operator=(const InstalledDaemon&) = delete;
  ~InstalledDaemon() {
    if (pid_ > 0 && !process_gone(pid_)) {
      (void)run({"--wait", "15000", "stop"});
      if (!wait_until([&] { return process_gone(pid_); }, std::chrono::seconds(10))) {
        ::kill(pid_, SIGKILL);
      }
    }
    remove_shm_objects(names_);
    remove_state_dir(name_);
    expect_no_sanitizer_report(read_file(log_), "supervisor '" + name_ + "' (" + log_ + ")");
    ::unlink(log_.c_str());
  }

  // The installed dynmgrctl -n NAME args...
  CommandResult run(std::vector<std::string> args) const {
    std::vector<std::string> argv{ctl_, "-n", name_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, {}, std::chrono::seconds(30));
  }

  const CommandResult& start_result() const { return start_; }
  pid_t pid() const { return pid_; }
  std::string log() const { return read_file(log_); }

 private:
  std::string ctl_;
  std::string name_;
  Names names_;
  std::string log_;
  CommandResult start_;
  pid_t pid_ = 0;
};

// The prefix holds the two programs, the public headers, the archives behind
// dynmgr::app and the CMake package; nothing else of the build (examples, test
// programs, private headers). DESTDIR is honoured, as `make install` relies on.
TEST(Install, PrefixHoldsProgramsPublicHeadersArchivesAndPackage) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string prefix = "/opt/dynmgr-test";
  const auto r = install_into(prefix, tmp.path());
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const fs::path root = tmp.path() + prefix;

  std::set<std::string> expected{std::string(DYNMGR_INSTALL_BINDIR) + "/dynmgrd",
                                 std::string(DYNMGR_INSTALL_BINDIR) + "/dynmgrctl"};
  for (const auto& e : fs::directory_iterator(fs::path(DYNMGR_SOURCE_ROOT) / "include/dynmgr")) {
    expected.insert(std::string(DYNMGR_INSTALL_INCLUDEDIR) + "/dynmgr/" +
                    e.path().filename().string());
  }
  for (const char* lib : {"app", "shared", "supervisor", "worker", "collector", "cluster"}) {
    expected.insert(std::string(DYNMGR_INSTALL_LIBDIR) + "/libdynmgr_" + lib + ".a");
  }
  const std::string cmakedir = DYNMGR_INSTALL_CMAKEDIR;
  for (const char* f : {"dynmgrConfig.cmake", "dynmgrConfigVersion.cmake", "dynmgrTargets.cmake"}) {
    expected.insert(cmakedir + "/" + f);
  }

  const auto installed = files_under(root);
  for (const auto& f : expected) EXPECT_TRUE(installed.count(f)) << "not installed: " << f;
  // Files other parts of the build install (share/: man pages, completion;
  // the systemd unit) are theirs to check; these directories are ours.
  const std::string bindir = std::string(DYNMGR_INSTALL_BINDIR) + "/";
  const std::string incdir = std::string(DYNMGR_INSTALL_INCLUDEDIR) + "/";
  const std::string archives = std::string(DYNMGR_INSTALL_LIBDIR) + "/lib";
  int per_config_targets = 0;
  for (const auto& f : installed) {
    if (f.starts_with(cmakedir + "/dynmgrTargets-")) {
      ++per_config_targets;  // dynmgrTargets-<build type>.cmake
      continue;
    }
    const bool ours = f.starts_with(bindir) || f.starts_with(incdir) || f.starts_with(archives) ||
                      f.starts_with(cmakedir + "/");
    if (ours) {
      EXPECT_TRUE(expected.count(f)) << "installed but not expected: " << f;
    }
  }
  EXPECT_EQ(per_config_targets, 1);
  for (const char* program : {"dynmgrd", "dynmgrctl"}) {
    const auto p = root / DYNMGR_INSTALL_BINDIR / program;
    EXPECT_EQ(::access(p.c_str(), X_OK), 0) << p << " is not executable";
  }
}

// The README's recipe, for real: install into a temporary prefix, build a
// manager out of tree with find_package(dynmgr) + dynmgr::app, start it as a
// supervisor and drive it with the installed dynmgrctl.
TEST(Install, ManagerBuiltOutOfTreeRunsWithInstalledDynmgrctl) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string prefix = tmp.path() + "/prefix";
  const std::string build = tmp.path() + "/build";

  const auto installed = install_into(prefix);
  ASSERT_EQ(installed.exit_code, 0) << describe(installed);

  // No build type: nothing to optimise in one small file, and -O0 compiles fastest.
  std::vector<std::string> configure{DYNMGR_CMAKE_COMMAND,
                                     "-S",
                                     DYNMGR_CONSUMER_SOURCE,
                                     "-B",
                                     build,
                                     "-DCMAKE_PREFIX_PATH=" + prefix,
                                     "-DCMAKE_CXX_COMPILER=" DYNMGR_CXX_COMPILER};
  // A sanitized dynmgr (DYNMGR_SANITIZE, the tsan preset) installs
  // instrumented archives: the application must be compiled and linked with
  // the same runtime.
  if (const std::string flags = DYNMGR_CONSUMER_FLAGS; !flags.empty()) {
    configure.push_back("-DCMAKE_CXX_FLAGS=" + flags);
    configure.push_back("-DCMAKE_EXE_LINKER_FLAGS=" + flags);
  }
  const auto configured = run_command(configure, {}, std::chrono::minutes(2));
  ASSERT_EQ(configured.exit_code, 0) << describe(configured);
  // It found the copy just installed, not one elsewhere on the system.
  EXPECT_NE(configured.out.find("from " + prefix + "/"), std::string::npos) << configured.out;

  const auto built =
      run_command({DYNMGR_CMAKE_COMMAND, "--build", build, "-j2"}, {}, std::chrono::minutes(5));
  ASSERT_EQ(built.exit_code, 0) << describe(built);

  const std::string ctl = prefix + "/" DYNMGR_INSTALL_BINDIR "/dynmgrctl";
  InstalledDaemon daemon(build + "/greeter", ctl, {"--first", "bob"});
  ASSERT_EQ(daemon.start_result().exit_code, 0) << describe(daemon.start_result());
  ASSERT_GT(daemon.pid(), 0) << daemon.log();

  // --first, an application flag (CLI11 through RunOptions::add_flags), put
  // bob in children_specs(); --daemon returned once he was up.
  const auto bob = daemon.run({"--json", "get", "bob"});
  ASSERT_EQ(bob.exit_code, 0) << describe(bob);
  const auto bob_record = parse(bob.out);
  ASSERT_TRUE(bob_record.is_object()) << bob.out;
  EXPECT_EQ(bob_record.as_object().at("status"), json::value("running")) << bob.out;

  const auto put = daemon.run({"put", "alice", "--payload", "0"});
  ASSERT_EQ(put.exit_code, 0) << describe(put);
  EXPECT_EQ(put.out.rfind("put 'alice': running (pid ", 0), 0u) << put.out;

  // The worker is the consumer's binary re-executed: Greeter::call answers,
  // and its replace() is the payload the next call sees.
  for (int n = 1; n <= 2; ++n) {
    const auto call = daemon.run({"call", "alice", "\"world\""});
    ASSERT_EQ(call.exit_code, 0) << describe(call);
    const auto reply = parse(call.out);
    ASSERT_TRUE(reply.is_object()) << call.out;
    EXPECT_EQ(reply.as_object().at("greeting"), json::value("hello, world")) << call.out;
    EXPECT_EQ(reply.as_object().at("from"), json::value("alice")) << call.out;
    EXPECT_EQ(reply.as_object().at("count"), json::value(n)) << call.out;
  }

  const auto get = daemon.run({"--json", "get", "alice"});
  ASSERT_EQ(get.exit_code, 0) << describe(get);
  const auto record = parse(get.out);
  ASSERT_TRUE(record.is_object()) << get.out;
  EXPECT_EQ(record.as_object().at("status"), json::value("running")) << get.out;
  EXPECT_EQ(record.as_object().at("payload"), json::value(2)) << get.out;

  const auto missing = daemon.run({"call", "nobody", "\"world\""});
  EXPECT_EQ(missing.exit_code, 3) << describe(missing);
  EXPECT_EQ(missing.err, "dynmgrctl: call 'nobody': no such worker 'nobody'\n");

  const auto stop = daemon.run({"stop"});
  ASSERT_EQ(stop.exit_code, 0) << describe(stop);
  EXPECT_EQ(stop.out, "stopped\n");
  EXPECT_TRUE(wait_until([&] { return process_gone(daemon.pid()); }, std::chrono::seconds(10)))
      << daemon.log();
  EXPECT_EQ(daemon.run({"ping"}).exit_code, 5);
}

}  // namespace
}  // namespace dynmgr::testing
