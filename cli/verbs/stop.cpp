// dynmgrctl stop: stop every worker and the supervisor; returns once all are gone.
#include "cli/context.hpp"
#include "cli/output.hpp"

#include <iostream>

namespace dynmgr::cli {

void add_stop(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("stop", "stop the supervisor and every worker");
  cmd->callback([&ctx] {
    Client* c = ctx.connect("stop");
    if (c == nullptr) return;
    if (auto st = c->stop(); !st) {
      ctx.fail("stop", st.error());
      return;
    }
    if (ctx.json) {
      print_json(json::object{{"stopped", true}});
    } else {
      std::cout << "stopped\n";
    }
  });
}

}  // namespace dynmgr::cli
