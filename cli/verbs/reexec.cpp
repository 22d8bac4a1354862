// dynmgrctl reexec: the supervisor re-executes its binary in place and adopts
// every worker (none restarts); returns once the new image answers.
#include "cli/context.hpp"
#include "cli/output.hpp"

#include <iostream>

namespace dynmgr::cli {

void add_reexec(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "reexec", "re-execute the supervisor's binary in place (a live upgrade): no worker restarts");
  cmd->callback([&ctx] {
    Client* c = ctx.connect("reexec");
    if (c == nullptr) return;
    auto r = c->reexec();
    if (!r) {
      ctx.fail("reexec", r.error());
      return;
    }
    if (ctx.json) {
      print_json(*r);
      return;
    }
    const json::object* o = r->if_object();
    const json::value* pid = o ? o->if_contains("pid") : nullptr;
    const json::value* adopted = o ? o->if_contains("adopted") : nullptr;
    std::cout << "re-executed (pid " << (pid ? to_json(*pid) : "?") << ", "
              << (adopted ? to_json(*adopted) : "?") << " worker(s) adopted)\n";
  });
}

}  // namespace dynmgr::cli
