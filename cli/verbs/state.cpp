// dynmgrctl state: every worker, read straight from the registry.
#include "cli/context.hpp"
#include "cli/output.hpp"

namespace dynmgr::cli {

void add_state(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("state", "show the manager and every worker");
  cmd->callback([&ctx] {
    Client* c = ctx.connect("state");
    if (c == nullptr) return;
    auto all = c->state();
    if (!all) {
      ctx.fail("state", all.error());
      return;
    }
    const auto h = c->header();
    if (ctx.json) {
      print_json(state_json(h, c->instance(), *all));
    } else {
      print_table(h, c->instance(), *all, terminal_width());
    }
  });
}

}  // namespace dynmgr::cli
