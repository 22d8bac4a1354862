// dynmgrctl del ID: stop a worker (terminate, SIGTERM, SIGKILL) and remove it.
#include "cli/context.hpp"
#include "cli/output.hpp"

#include <iostream>
#include <memory>

namespace dynmgr::cli {

void add_del(CLI::App& app, Context& ctx) {
  auto id = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("del", "stop and remove a worker");
  cmd->add_option("ID", *id, "worker id")->required();
  cmd->callback([&ctx, id] {
    const std::string what = "del '" + *id + "'";
    if (auto st = validate_id(*id); !st) {
      ctx.fail("del", st.error());
      return;
    }
    if (ctx.in_cluster()) {
      cluster_del(ctx, *id);
      return;
    }
    Client* c = ctx.connect(what);
    if (c == nullptr) return;
    if (auto st = c->del(*id); !st) {
      ctx.fail(what, st.error());
      return;
    }
    if (ctx.json) {
      print_json(json::object{{"deleted", *id}});
    } else {
      std::cout << "deleted '" << *id << "'\n";
    }
  });
}

}  // namespace dynmgr::cli
