// packaging/dynmgrd@.service: `systemd-analyze verify` accepts it (a temporary
// copy whose /usr/local/bin paths name this build's binaries, with MANPATH on
// the generated manual pages so Documentation= resolves), rejects broken
// copies (so this test can fail), and the flags and verb it uses exist.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/test_support.hpp"

namespace dynmgr::testing {
namespace {

namespace fs = std::filesystem;

const std::string kUnit = std::string(DYNMGR_SOURCE_DIR) + "/packaging/dynmgrd@.service";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
  return text;
}

// The absolute path of a program found in $PATH (run_command does not search
// it), or "" when it is not installed.
std::string which(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    const auto colon = std::min(dirs.find(':', start), dirs.size());
    const std::string candidate = dirs.substr(start, colon - start) + "/" + program;
    if (colon > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = colon + 1;
  }
  return "";
}

class SystemdUnit : public ::testing::Test {
 protected:
  void SetUp() override {
    analyze_ = which("systemd-analyze");
    std::string tmpl = "/tmp/dynmgr-unit-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    shipped_ = slurp(kUnit);
    ASSERT_FALSE(shipped_.empty()) << kUnit;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  // The unit with the build's binaries, as file NAME in the temp dir.
  std::string for_this_build(const std::string& text) const {
    const std::string bin = fs::canonical(bin_path(".")).string() + "/";
    std::string out = replace_all(text, "/usr/local/bin/", bin);
    // verify runs `man` for every Documentation= link: without man-db, it
    // would fail on the machine, not on the unit.
    if (which("man").empty()) {
      const auto at = out.find("Documentation=");
      if (at != std::string::npos) out.erase(at, out.find('\n', at) + 1 - at);
    }
    return out;
  }
  // systemd-analyze verify of `text` saved as NAME; ok only with exit 0 and
  // nothing on stderr (a setting it cannot parse is only a warning there).
  CommandResult verify(const std::string& text, const std::string& name = "dynmgrd@.service") {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    const std::string man = fs::canonical(bin_path("../share/man")).string();
    return run_command({analyze_, "verify", path}, {"MANPATH=" + man});
  }

  std::string analyze_;
  std::string dir_;
  std::string shipped_;
};

TEST_F(SystemdUnit, ShipsTheSettingsItDocuments) {
  for (const char* line :
       {"Type=notify\n", "NotifyAccess=main\n",
        "ExecStart=/usr/local/bin/dynmgrd -n %i --children /etc/dynmgr/%i.json\n",
        "ExecReload=/usr/local/bin/dynmgrctl -n %i reexec\n", "KillMode=process\n",
        "Restart=on-failure\n", "RestartPreventExitStatus=2\n", "StateDirectory=dynmgr/%i\n",
        "WantedBy=multi-user.target\n"}) {
    EXPECT_NE(shipped_.find(line), std::string::npos) << line;
  }
}

TEST_F(SystemdUnit, VerifyAcceptsIt) {
  if (analyze_.empty()) GTEST_SKIP() << "systemd-analyze is not installed";
  const auto r = verify(for_this_build(shipped_));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST_F(SystemdUnit, VerifyRejectsABrokenCopy) {
  if (analyze_.empty()) GTEST_SKIP() << "systemd-analyze is not installed";
  // A setting systemd cannot parse: a warning on stderr.
  auto r = verify(for_this_build(replace_all(shipped_, "KillMode=process", "KillMode=proces")));
  EXPECT_NE(r.err.find("kill mode"), std::string::npos) << r.err;
  // A binary that does not exist: an error.
  r = verify(replace_all(shipped_, "/usr/local/bin/", "/nonexistent/bin/"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("/nonexistent/bin/dynmgrd"), std::string::npos) << r.err;
  // A man page that does not exist.
  if (which("man").empty()) return;
  r = verify(for_this_build(replace_all(shipped_, "man:dynmgrd(8)", "man:dynmgrdd(8)")));
  EXPECT_NE(r.exit_code, 0) << r.err;
}

// The flags of ExecStart and the verb of ExecReload are what the binaries take.
TEST_F(SystemdUnit, ItsCommandLinesParse) {
  const std::string name = unique_instance("u");
  const std::string children = dir_ + "/" + name + ".json";
  std::ofstream(children) << "{}";
  // Everything ExecStart passes, plus --version: parsed, nothing started.
  auto r = run_command({bin_path("dynmgrd"), "-n", name, "--children", children, "--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // A children file that is missing is a usage error: exit 2, which the unit
  // does not restart (RestartPreventExitStatus=2).
  r = run_command(
      {bin_path("dynmgrd"), "-n", name, "--children", dir_ + "/missing.json", "--no-state"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "dynmgrd: unable to read --children " + dir_ + "/missing.json: No such file or directory\n");
  // ExecReload's verb exists: with no supervisor, it is exit 5, not a usage error.
  r = run_command({bin_path("dynmgrctl"), "-n", name, "--wait", "1", "reexec"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
}

}  // namespace
}  // namespace dynmgr::testing
