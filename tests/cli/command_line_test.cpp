// dynmgrctl builds only the verb its arguments name (cli::verb_of): that tree
// must parse every command line as the whole one does. Usage errors, the
// verb's --help and the global flags are compared between the two trees here;
// every verb's successful runs go through the single-verb tree in the golden
// and integration tests, which run the real binary.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/context.hpp"

namespace dynmgr::cli {
namespace {

struct Argv {
  std::vector<std::string> words;
  std::vector<char*> ptrs;
  explicit Argv(std::vector<std::string> w) : words(std::move(w)) {
    words.insert(words.begin(), "dynmgrctl");
    for (auto& s : words) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(words.size()); }
  char** argv() { return ptrs.data(); }
};

TEST(VerbOf, IsTheFirstWordThatIsNoOptionsValue) {
  struct Case {
    std::vector<std::string> args;
    std::string verb;
  };
  const Case cases[] = {
      {{"call", "a", "x"}, "call"},
      {{"-n", "call", "state"}, "state"},  // an instance named like a verb
      {{"--name", "get", "--json", "get", "a"}, "get"},
      {{"--wait", "100", "del", "a"}, "del"},
      {{"--name=x", "put-new", "a"}, "put-new"},
      {{"-nx", "ping"}, "ping"},
      {{"call", "--help"}, "call"},  // the verb's own help
      {{"--help", "call"}, ""},      // the whole command line's help
      {{"-h"}, ""},
      {{"--version", "state"}, ""},
      {{"help", "call"}, ""},  // lists every verb
      {{"bogus", "call"}, ""},
      {{"-n"}, ""},
      {{}, ""},
  };
  for (const auto& c : cases) {
    Argv a(c.args);
    EXPECT_EQ(verb_of(a.argc(), a.argv()), c.verb) << ::testing::PrintToString(c.args);
  }
}

// What a parse ended with: the error's name, message and exit code, or the
// help text a --help printed.
struct Outcome {
  std::string what;
  int code = -1;
  std::string verb;
  bool operator==(const Outcome&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << "{" << o.what << ", " << o.code << ", verb " << o.verb << "}";
}

Outcome parse(std::vector<std::string> args, bool single_verb) {
  Argv a(std::move(args));
  Context ctx;
  std::vector<std::string> exec;
  CLI::App app;
  add_command_line(app, ctx, exec, single_verb ? verb_of(a.argc(), a.argv()) : "");
  Outcome out;
  try {
    app.parse(a.argc(), a.argv());
    out.what = "parsed";
  } catch (const CLI::CallForHelp&) {
    out.what = app.help();
  } catch (const CLI::ParseError& e) {
    out.what = e.get_name() + ": " + e.what();
    out.code = e.get_exit_code();
  }
  if (!app.get_subcommands().empty()) out.verb = app.get_subcommands().front()->get_name();
  return out;
}

TEST(SingleVerbTree, ParsesBadInputAndHelpAsTheWholeTreeDoes) {
  const std::vector<std::vector<std::string>> cases = {
      {"call"},
      {"call", "a", "x", "extra"},
      {"call", "a", "x", "state"},  // a second verb is an extra argument
      {"call", "--bogus", "a", "x"},
      {"call", "--help"},
      {"-n", "", "call", "a", "1"},
      {"--wait", "0", "call", "a", "1"},
      {"--wait", "x", "state"},
      {"put", "a", "--timeout", "-1"},
      {"put", "a", "--lull", "0.5"},
      {"put", "--help"},
      {"put-new"},
      {"put-new", "--help"},
      {"del"},
      {"get", "a", "b"},
      {"cast", "--any"},
      {"state", "--bogus"},
      {"state", "extra"},
      {"restart", "a", "b"},
      {"import"},
      {"logs", "--bogus"},
      {"top", "--bogus"},
      {"list", "extra"},
      {"cleanup"},
      {"watch", "--help"},
      {"metrics", "extra"},
      {"stop", "--bogus"},
      {"reload", "--help"},
      {"reexec", "x"},
      {"ping", "x"},
  };
  for (const auto& args : cases) {
    EXPECT_EQ(parse(args, true), parse(args, false)) << ::testing::PrintToString(args);
  }
}

}  // namespace
}  // namespace dynmgr::cli
