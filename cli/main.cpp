// dynmgrctl — the operator's command line (README "dynmgrctl").
#include <signal.h>

#include <cstring>
#include <iostream>

#include "cli/context.hpp"

namespace {
// --json among the first argc arguments: a usage error is printed as JSON too,
// even when parsing stopped before reaching it.
bool wants_json(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) return true;
  }
  return false;
}
}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  using namespace dynmgr::cli;
  // --exec takes the rest of the line (the command and its own flags), so it is
  // cut off before CLI11 sees it.
  std::vector<std::string> exec_argv;
  int cli_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--exec") == 0) {
      for (int j = i + 1; j < argc; ++j) exec_argv.emplace_back(argv[j]);
      cli_argc = i;
      if (exec_argv.empty()) {
        print_error(wants_json(i, argv), 2, "--exec needs a command");
        return 2;
      }
      break;
    }
  }

  Context ctx;
  CLI::App app;
  add_command_line(app, ctx, exec_argv, verb_of(cli_argc, argv));
  try {
    app.parse(cli_argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::cout << e.what() << '\n';
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      std::cout << app.help();
      return 0;
    }
    std::string msg = e.what();
    // `dynmgrctl bogus`: CLI11 reports only "A subcommand is required"; name the word.
    if (app.get_subcommands().empty() && !app.remaining().empty()) {
      msg = "unknown verb '" + app.remaining().front() + "'";
    }
    // Name the verb whose arguments are wrong, and point at its own help.
    std::string help = "dynmgrctl --help";
    if (!app.get_subcommands().empty() && e.get_name() != "GlobalFlagError") {
      const std::string verb = app.get_subcommands().front()->get_name();
      msg = verb + ": " + msg;
      help = "dynmgrctl help " + verb;
    }
    print_error(ctx.json || wants_json(cli_argc, argv), 2, msg + " (see " + help + ")");
    return 2;
  }
  return ctx.exit_code;
}
