// dynmgrctl ping: is a supervisor running under NAME and answering?
#include <iostream>

#include "cli/context.hpp"
#include "cli/output.hpp"

namespace dynmgr::cli {

void add_ping(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("ping", "check that the supervisor answers");
  cmd->callback([&ctx] {
    if (ctx.in_cluster()) {
      cluster_ping(ctx);
      return;
    }
    Client* c = ctx.connect("ping");
    if (c == nullptr) return;
    if (auto st = c->ping(); !st) {
      ctx.fail("ping", st.error());
      return;
    }
    const auto h = c->header();
    if (ctx.json) {
      json::object o;
      o["name"] = c->instance();
      o["manager"] = std::string(to_string(h.manager_state));
      o["supervisor"] = json::object{{"pid", h.supervisor_pid}};
      o["containment"] = h.containment;
      o["persistence"] = persistence_json(h.persistence);
      print_json(o);
    } else {
      std::cout << "pong: supervisor '" << c->instance() << "' (pid " << h.supervisor_pid
                << "), manager " << to_string(h.manager_state) << ", containment " << h.containment
                << "; " << persistence_line(h.persistence) << '\n';
    }
  });
}

}  // namespace dynmgr::cli
