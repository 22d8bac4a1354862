// dynmgrctl — the operator's command line (README "dynmgrctl").
#include <signal.h>

#include <cstring>
#include <iostream>

#include "cli/context.hpp"

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
        std::cerr << "dynmgrctl: --exec needs a command\n";
        return 2;
      }
      break;
    }
  }

  Context ctx;
  CLI::App app{"dynmgrctl: drive a dynmgr supervisor and its workers"};
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("-n,--name", ctx.instance, "instance name (default $DYNMGR_NAME or 'default')");
  app.add_flag("--json", ctx.json, "machine-readable output");
  app.add_option("--wait", ctx.wait_ms, "deadline of each request in ms (default 5000)")
      ->check(CLI::Range(1u, 86'400'000u));
  add_ping(app, ctx);
  add_put(app, ctx, exec_argv);
  add_del(app, ctx);
  add_get(app, ctx);
  add_call(app, ctx);
  add_cast(app, ctx);
  add_state(app, ctx);
  add_restart(app, ctx);
  add_reexec(app, ctx);
  add_stop(app, ctx);
  add_logs(app, ctx);
  app.footer(
      "Exit codes: 0 ok, 1 failed, 2 usage or invalid input, 3 no such worker, 4 timed out, "
      "5 no supervisor running.");
  // Checked once parsing is complete but before any verb's callback runs: a
  // misused --exec must fail without doing anything (`del ID --exec ...` would
  // otherwise delete ID and only then complain).
  app.parse_complete_callback([&app, &exec_argv, &ctx] {
    // -n '' is a mistake (an unset variable), not a request for the default.
    if (app.count("--name") > 0 && ctx.instance.empty()) {
      throw CLI::ValidationError("-n", "the instance name must not be empty");
    }
    if (exec_argv.empty()) return;
    for (auto* sub : app.get_subcommands()) {
      if (sub->get_name() != "put" && sub->get_name() != "put-new") {
        throw CLI::ValidationError("--exec", "only valid with put and put-new");
      }
    }
  });
  try {
    app.parse(cli_argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
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
    std::cerr << "dynmgrctl: " << msg << " (see dynmgrctl --help)\n";
    return 2;
  }
  return ctx.exit_code;
}
