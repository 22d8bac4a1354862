// dynmgrctl call ID MESSAGE | call --any MESSAGE: synchronous message; prints
// the reply as JSON.
#include "cli/context.hpp"
#include "cli/output.hpp"

#include <memory>

namespace dynmgr::cli {

void add_call(CLI::App& app, Context& ctx) {
  auto t = std::make_shared<MessageTarget>();
  auto* cmd = app.add_subcommand("call", "send a synchronous message and print the reply");
  add_message_target(cmd, *t);
  cmd->callback([&ctx, t] {
    auto m = resolve_message_target(ctx, "call", *t);
    if (!m) return;
    if (ctx.in_cluster()) {
      if (t->any) {
        ctx.fail(m->what, Errc::kInvalid, "--any does not work with --cluster");
        return;
      }
      cluster_message(ctx, "call", m->id, m->message);
      return;
    }
    Client* c = ctx.connect(m->what);
    if (c == nullptr) return;
    auto r = t->any ? c->call_any(m->message) : c->call(m->id, m->message);
    if (!r) {
      ctx.fail(m->what, r.error());
      return;
    }
    print_json(*r);
  });
}

}  // namespace dynmgr::cli
