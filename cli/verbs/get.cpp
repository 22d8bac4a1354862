// dynmgrctl get ID: one worker, read straight from the registry.
#include "cli/context.hpp"
#include "cli/output.hpp"

#include <memory>

namespace dynmgr::cli {

void add_get(CLI::App& app, Context& ctx) {
  auto id = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("get", "show one worker");
  cmd->add_option("ID", *id, "worker id")->required();
  cmd->callback([&ctx, id] {
    const std::string what = "get '" + *id + "'";
    if (auto st = validate_id(*id); !st) {
      ctx.fail("get", st.error());
      return;
    }
    if (ctx.in_cluster()) {
      cluster_get(ctx, *id);
      return;
    }
    Client* c = ctx.connect(what);
    if (c == nullptr) return;
    auto r = c->get(*id);
    if (!r) {
      ctx.fail(what, r.error());
      return;
    }
    if (ctx.json) {
      print_json(worker_json(*r));
    } else {
      print_record(*r);
    }
  });
}

}  // namespace dynmgr::cli
