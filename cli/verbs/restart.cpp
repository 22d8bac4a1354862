// dynmgrctl restart: back to children_specs(); returns once the manager is up.
#include "cli/context.hpp"
#include "cli/output.hpp"

#include <iostream>

namespace dynmgr::cli {

void add_restart(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("restart", "restart the manager from its children_specs()");
  cmd->callback([&ctx] {
    Client* c = ctx.connect("restart");
    if (c == nullptr) return;
    if (auto st = c->restart(); !st) {
      ctx.fail("restart", st.error());
      return;
    }
    if (ctx.json) {
      print_json(json::object{{"manager", "up"}});
    } else {
      std::cout << "restarted\n";
    }
  });
}

}  // namespace dynmgr::cli
