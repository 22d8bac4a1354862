// dynmgrctl cast ID MESSAGE | cast --any MESSAGE: asynchronous message; returns
// once it is in the worker's mailbox.
#include "cli/context.hpp"
#include "cli/output.hpp"

#include <iostream>
#include <memory>

namespace dynmgr::cli {

void add_cast(CLI::App& app, Context& ctx) {
  auto t = std::make_shared<MessageTarget>();
  auto* cmd = app.add_subcommand("cast", "send an asynchronous message");
  add_message_target(cmd, *t);
  cmd->callback([&ctx, t] {
    auto m = resolve_message_target(ctx, "cast", *t);
    if (!m) return;
    if (ctx.in_cluster()) {
      if (t->any) {
        ctx.fail(m->what, Errc::kInvalid, "--any does not work with --cluster");
        return;
      }
      cluster_message(ctx, "cast", m->id, m->message);
      return;
    }
    Client* c = ctx.connect(m->what);
    if (c == nullptr) return;
    auto st = t->any ? c->cast_any(m->message) : c->cast(m->id, m->message);
    if (!st) {
      ctx.fail(m->what, st.error());
      return;
    }
    if (ctx.json) {
      print_json(json::object{{"accepted", true}});
    } else {
      std::cout << "accepted\n";
    }
  });
}

}  // namespace dynmgr::cli
