// dynmgrctl call ID MESSAGE | call --any MESSAGE: synchronous message; prints
// the reply as JSON.
#include "cli/context.hpp"
#include "cli/output.hpp"

#include <memory>

namespace dynmgr::cli {
namespace {
struct CallArgs {
  bool any = false;
  std::string first;   // ID, or MESSAGE with --any
  std::string second;  // MESSAGE
};
}  // namespace

void add_call(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<CallArgs>();
  auto* cmd = app.add_subcommand("call", "send a synchronous message and print the reply");
  cmd->add_flag("--any", a->any, "let the pool's pickup strategy choose the worker");
  // Two scalar positionals: a vector would let CLI11 split a JSON "[a,b]" apart.
  cmd->add_option("ID", a->first, "worker id (or MESSAGE with --any)")->required();
  cmd->add_option("MESSAGE", a->second, "JSON message");
  cmd->callback([&ctx, a] {
    const bool given_two = !a->second.empty();
    if (a->any == given_two) {
      ctx.fail("call", Errc::kInvalid,
               a->any ? "usage: call --any MESSAGE" : "usage: call ID MESSAGE");
      return;
    }
    const std::string id = a->any ? std::string() : a->first;
    const std::string what = a->any ? std::string("call --any") : "call '" + id + "'";
    if (!a->any) {
      if (auto st = validate_id(id); !st) {
        ctx.fail("call", st.error());
        return;
      }
    }
    auto msg = parse_json_arg(a->any ? a->first : a->second, "MESSAGE");
    if (!msg) {
      ctx.fail(what, msg.error());
      return;
    }
    Client* c = ctx.connect(what);
    if (c == nullptr) return;
    auto r = a->any ? c->call_any(*msg) : c->call(id, *msg);
    if (!r) {
      ctx.fail(what, r.error());
      return;
    }
    print_json(*r);
  });
}

}  // namespace dynmgr::cli
