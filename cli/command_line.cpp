// dynmgrctl's command line as one CLI11 App: main parses it, and doc/ walks it
// for the manual and the bash completion.
#include "cli/context.hpp"
#include "shared/version.hpp"

namespace dynmgr::cli {
namespace {
// A misused global flag: main does not name a verb in its message.
struct GlobalFlagError : CLI::ParseError {
  explicit GlobalFlagError(std::string msg)
      : CLI::ParseError("GlobalFlagError", std::move(msg), CLI::ExitCodes::ValidationError) {}
};
}  // namespace

void add_command_line(CLI::App& app, Context& ctx, std::vector<std::string>& exec_argv) {
  app.description("dynmgrctl: drive a dynmgr supervisor and its workers");
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", "dynmgrctl " + std::string(kVersion),
                       "print the version and exit");
  app.add_option("-n,--name", ctx.instance, "instance name (default $DYNMGR_NAME or 'default')");
  app.add_flag("--json", ctx.json, "machine-readable output");
  app.add_option("--wait", ctx.wait_ms, "deadline of each request in ms (default 5000)")
      ->check(CLI::Range(1u, 86'400'000u));
  add_ping(app, ctx);
  add_put(app, ctx, exec_argv);
  add_import(app, ctx);
  add_del(app, ctx);
  add_get(app, ctx);
  add_call(app, ctx);
  add_cast(app, ctx);
  add_state(app, ctx);
  add_restart(app, ctx);
  add_reexec(app, ctx);
  add_reload(app, ctx);
  add_stop(app, ctx);
  add_watch(app, ctx);
  add_metrics(app, ctx);
  add_logs(app, ctx);
  add_top(app, ctx);
  add_list(app, ctx);
  add_cleanup(app, ctx);
  add_help(app, ctx);
  app.footer(
      "Exit codes: 0 ok, 1 failed, 2 usage or invalid input, 3 no such worker, 4 timed out, "
      "5 no supervisor running.");
  // Checked once parsing is complete but before any verb's callback runs: a
  // misused --exec must fail without doing anything (`del ID --exec ...` would
  // otherwise delete ID and only then complain).
  app.parse_complete_callback([&app, &exec_argv, &ctx] {
    // -n '' is a mistake (an unset variable), not a request for the default.
    if (app.count("--name") > 0 && ctx.instance.empty()) {
      throw GlobalFlagError("-n: the instance name must not be empty");
    }
    if (exec_argv.empty()) return;
    for (auto* sub : app.get_subcommands()) {
      if (sub->get_name() != "put" && sub->get_name() != "put-new") {
        throw CLI::ValidationError("--exec", "only valid with put and put-new");
      }
    }
  });
}

}  // namespace dynmgr::cli
