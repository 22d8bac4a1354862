// dynmgrctl restart [ID]: without an id, the manager back to children_specs()
// (returns once it is up); with one, that worker from its last payload
// (returns once the new process is ready, as put does).
#include "cli/context.hpp"
#include "cli/output.hpp"

#include <iostream>
#include <memory>

namespace dynmgr::cli {

void add_restart(CLI::App& app, Context& ctx) {
  auto id = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "restart", "restart one worker from its last payload, or without ID the whole manager");
  cmd->add_option("ID", *id, "worker id (omit to restart the manager from children_specs())");
  cmd->callback([&ctx, cmd, id] {
    if (cmd->count("ID") == 0) {
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
      return;
    }
    const std::string what = "restart '" + *id + "'";
    if (auto st = validate_id(*id); !st) {
      ctx.fail("restart", st.error());
      return;
    }
    Client* c = ctx.connect(what);
    if (c == nullptr) return;
    auto r = c->restart_worker(*id);
    if (!r) {
      ctx.fail(what, r.error());
      return;
    }
    if (ctx.json) {
      print_json(worker_json(*r));
    } else {
      std::cout << "restarted '" << r->id << "': " << to_string(r->status) << " (pid " << r->pid
                << ")\n";
    }
  });
}

}  // namespace dynmgr::cli
