// dynmgrctl cast ID MESSAGE | cast --any MESSAGE: asynchronous message; returns
// once it is in the worker's mailbox.
#include "cli/context.hpp"
#include "cli/output.hpp"

#include <iostream>
#include <memory>

namespace dynmgr::cli {
namespace {
struct CastArgs {
  bool any = false;
  std::string first;   // ID, or MESSAGE with --any
  std::string second;  // MESSAGE
};
}  // namespace

void add_cast(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<CastArgs>();
  auto* cmd = app.add_subcommand("cast", "send an asynchronous message");
  cmd->add_flag("--any", a->any, "let the pool's pickup strategy choose the worker");
  // Two scalar positionals: a vector would let CLI11 split a JSON "[a,b]" apart.
  cmd->add_option("ID", a->first, "worker id (or MESSAGE with --any)")->required();
  cmd->add_option("MESSAGE", a->second, "JSON message");
  cmd->callback([&ctx, a] {
    const bool given_two = !a->second.empty();
    if (a->any == given_two) {
      ctx.fail("cast", Errc::kInvalid,
               a->any ? "usage: cast --any MESSAGE" : "usage: cast ID MESSAGE");
      return;
    }
    const std::string id = a->any ? std::string() : a->first;
    const std::string what = a->any ? std::string("cast --any") : "cast '" + id + "'";
    if (!a->any) {
      if (auto st = validate_id(id); !st) {
        ctx.fail("cast", st.error());
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
    auto st = a->any ? c->cast_any(*msg) : c->cast(id, *msg);
    if (!st) {
      ctx.fail(what, st.error());
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
