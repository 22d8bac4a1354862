// dynmgrctl metrics: the instance's Prometheus metrics (text exposition
// format), read from shared memory (shared/metrics.hpp): no request to the
// supervisor. `--metrics-listen` on the supervisor serves the same over HTTP.
#include "shared/metrics.hpp"

#include <iostream>

#include "cli/context.hpp"
#include "shared/names.hpp"
#include "shared/registry.hpp"

namespace dynmgr::cli {

void add_metrics(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("metrics", "print Prometheus metrics (reads shared memory)");
  cmd->callback([&ctx] {
    const std::string instance = ctx.instance.empty() ? default_instance_name() : ctx.instance;
    if (auto st = validate_instance_name(instance); !st) {
      ctx.fail("metrics", st.error());
      return;
    }
    auto reg = RegistryReader::open(Names(instance));
    if (!reg) {
      if (reg.error().code == Errc::kNoSupervisor) {
        ctx.fail("metrics", Errc::kNoSupervisor, "no supervisor running under '" + instance + "'");
      } else {
        ctx.fail("metrics", reg.error());
      }
      return;
    }
    std::cout << render_metrics(*reg, instance) << std::flush;
    if (!std::cout) ctx.exit_code = 1;
  });
}

}  // namespace dynmgr::cli
