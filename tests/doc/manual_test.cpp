// The generated manual pages and bash completion (doc/docgen.cpp): they render
// without a groff warning, name every verb and flag the binaries define (the
// CLI11 apps are built here exactly as the binaries build them), and the
// completion completes verbs and flags in a real bash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "app/dynmgrd_flags.hpp"
#include "app/supervisor_flags.hpp"
#include "cli/context.hpp"
#include "shared/version.hpp"
#include "support/test_support.hpp"

namespace dynmgr::testing {
namespace {

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

std::string share(const std::string& rel) { return bin_path("../share/" + rel); }
const std::string kCtlPage = "man/man1/dynmgrctl.1";
const std::string kDaemonPage = "man/man8/dynmgrd.8";
const std::string kCompletion = "bash-completion/completions/dynmgrctl";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string roff_name(const std::string& name) {
  std::string out;
  for (char c : name) out += c == '-' ? std::string("\\-") : std::string(1, c);
  return out;
}

// Every "-x"/"--long" name of app's listed options.
std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> out;
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_positional() || o->get_group().empty()) continue;
    for (const auto& s : o->get_snames()) out.push_back("-" + s);
    for (const auto& l : o->get_lnames()) out.push_back("--" + l);
  }
  return out;
}

struct Ctl {
  cli::Context ctx;
  std::vector<std::string> exec;
  CLI::App app;
  Ctl() { cli::add_command_line(app, ctx, exec); }
  std::vector<const CLI::App*> verbs() const {
    return app.get_subcommands([](const CLI::App*) { return true; });
  }
};

TEST(ManPages, RenderWithoutWarnings) {
  for (const auto& page : {kCtlPage, kDaemonPage}) {
    const std::string groff = which("groff");
    if (groff.empty()) GTEST_SKIP() << "groff is not installed";
    const auto r = run_command({groff, "-man", "-ww", "-z", share(page)});
    EXPECT_EQ(r.exit_code, 0) << page << ": " << r.err;
    EXPECT_EQ(r.err, "") << page;
  }
}

TEST(ManPages, RenderAsTextWithEveryVerb) {
  const std::string groff = which("groff");
  if (groff.empty()) GTEST_SKIP() << "groff is not installed";
  const auto r = run_command({groff, "-man", "-Tascii", "-ww", "-P-cbou", share(kCtlPage)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Ctl ctl;
  ASSERT_GE(ctl.verbs().size(), 11u);
  for (const CLI::App* v : ctl.verbs()) {
    EXPECT_NE(r.out.find("\n   " + v->get_name()), std::string::npos)
        << "no subsection for verb " << v->get_name() << " in:\n"
        << r.out;
  }
  for (const char* section : {"SYNOPSIS", "GLOBAL OPTIONS", "VERBS", "EXIT STATUS", "ENVIRONMENT"})
    EXPECT_NE(r.out.find(section), std::string::npos) << section;
  EXPECT_NE(r.out.find("dynmgr " + std::string(kVersion)), std::string::npos);
}

TEST(ManPages, DynmgrctlNamesEveryVerbAndFlag) {
  const std::string page = slurp(share(kCtlPage));
  ASSERT_FALSE(page.empty());
  Ctl ctl;
  for (const auto& n : option_names(ctl.app)) {
    EXPECT_NE(page.find("\\fB" + roff_name(n) + "\\fR"), std::string::npos) << n;
  }
  for (const CLI::App* v : ctl.verbs()) {
    EXPECT_NE(page.find(".SS \"" + roff_name(v->get_name())), std::string::npos) << v->get_name();
    for (const auto& n : option_names(*v)) {
      if (n == "-h" || n == "--help") continue;
      EXPECT_NE(page.find("\\fB" + roff_name(n) + "\\fR"), std::string::npos)
          << v->get_name() << " " << n;
    }
  }
}

TEST(ManPages, DynmgrdNamesEveryFlag) {
  const std::string page = slurp(share(kDaemonPage));
  ASSERT_FALSE(page.empty());
  SupervisorFlags flags;
  ExecManager::Config config;
  CLI::App app;
  add_supervisor_flags(app, flags, "dynmgrd");
  add_dynmgrd_flags(app, config);
  const auto names = option_names(app);
  ASSERT_GE(names.size(), 20u);
  for (const auto& n : names) {
    EXPECT_NE(page.find("\\fB" + roff_name(n) + "\\fR"), std::string::npos) << n;
  }
  for (const char* text : {"NOTIFY_SOCKET", "KillMode=process", "SIGUSR2", ".TH dynmgrd 8"})
    EXPECT_NE(page.find(text), std::string::npos) << text;
}

// Completes `words` (the last one being completed) with the generated script
// in a real bash; returns COMPREPLY sorted.
std::vector<std::string> complete(const std::vector<std::string>& words) {
  std::string script = "source '" + share(kCompletion) + "' || exit 3\nCOMP_WORDS=(";
  for (const auto& w : words) script += "'" + w + "' ";
  script += ")\nCOMP_CWORD=" + std::to_string(words.size() - 1) +
            "\n_dynmgrctl\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n";
  const auto r = run_command({which("bash"), "--norc", "--noprofile", "-c", script});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  std::vector<std::string> out;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  std::sort(out.begin(), out.end());
  return out;
}

using Words = std::vector<std::string>;

TEST(BashCompletion, Verbs) {
  EXPECT_EQ(complete({"dynmgrctl", "st"}), (Words{"state", "stop"}));
  EXPECT_EQ(complete({"dynmgrctl", "put"}), (Words{"put", "put-new"}));
  // Global options and their values come before the verb.
  EXPECT_EQ(complete({"dynmgrctl", "-n", "demo", "--wait", "100", "--json", "re"}),
            (Words{"reexec", "reload", "restart"}));
  Ctl ctl;
  EXPECT_EQ(complete({"dynmgrctl", ""}).size(), ctl.verbs().size());
}

TEST(BashCompletion, GlobalFlags) {
  EXPECT_EQ(complete({"dynmgrctl", "--js"}), (Words{"--json"}));
  EXPECT_EQ(complete({"dynmgrctl", "--ve"}), (Words{"--version"}));
}

TEST(BashCompletion, FlagsOfAVerb) {
  EXPECT_EQ(complete({"dynmgrctl", "put", "w1", "--pa"}),
            (Words{"--passivate-after", "--passive", "--payload"}));
  EXPECT_EQ(complete({"dynmgrctl", "put", "w1", "--pay"}), (Words{"--payload"}));
  EXPECT_EQ(complete({"dynmgrctl", "-n", "demo", "put-new", "w1", "--re"}),
            (Words{"--ready-timeout", "--restart"}));
  EXPECT_EQ(complete({"dynmgrctl", "-n", "demo", "put-new", "w1", "--res"}), (Words{"--restart"}));
  EXPECT_EQ(complete({"dynmgrctl", "put", "w1", "--ex"}), (Words{"--exec"}));
  EXPECT_EQ(complete({"dynmgrctl", "call", "--a"}), (Words{"--any"}));
  // A verb's flags plus the global ones (they may follow the verb).
  EXPECT_EQ(complete({"dynmgrctl", "del", "--"}),
            (Words{"--cluster", "--cluster-name", "--cluster-token-file", "--help", "--json",
                   "--name", "--version", "--wait"}));
  // Not another verb's flags.
  EXPECT_EQ(complete({"dynmgrctl", "get", "--pa"}), Words{});
}

TEST(BashCompletion, ValuesListedInTheHelp) {
  EXPECT_EQ(complete({"dynmgrctl", "put", "w1", "--restart", "t"}),
            (Words{"temporary", "transient"}));
  // An option's value is not mistaken for the verb.
  EXPECT_EQ(complete({"dynmgrctl", "put", "w1", "--timeout", "100", "--inst"}),
            (Words{"--instant"}));
}

TEST(BashCompletion, DirectoriesForCwd) {
  const auto got = complete({"dynmgrctl", "put", "w1", "--cwd", "/us"});
  EXPECT_EQ(got, (Words{"/usr"}));
}

TEST(BashCompletion, InstanceNamesFromDevShm) {
  const std::string name = unique_instance("cmp");
  const std::string path =
      "/dev/shm/dynmgr." + std::to_string(::getuid()) + "." + name + ".registry";
  { std::ofstream(path) << ""; }
  const auto got = complete({"dynmgrctl", "-n", name.substr(0, name.size() - 1)});
  ::unlink(path.c_str());
  EXPECT_NE(std::find(got.begin(), got.end(), name), got.end());
}

TEST(BashCompletion, TheCommandAfterExec) {
  const auto got = complete({"dynmgrctl", "put", "w1", "--exec", "bas"});
  EXPECT_NE(std::find(got.begin(), got.end(), "bash"), got.end());
}

}  // namespace
}  // namespace dynmgr::testing
