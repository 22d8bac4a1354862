// dynmgrctl help [VERB]: the same text as `dynmgrctl [VERB] --help`.
#include "cli/context.hpp"

#include <iostream>
#include <memory>

namespace dynmgr::cli {

void add_help(CLI::App& app, Context& ctx) {
  auto verb = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("help", "show the help of dynmgrctl or of one verb");
  cmd->add_option("VERB", *verb, "the verb to describe");
  cmd->callback([&app, &ctx, cmd, verb] {
    // Through the formatter: App::help() would describe the selected verb,
    // which is help itself. Named as `dynmgrctl [VERB] --help` names them.
    if (cmd->count("VERB") == 0) {
      std::cout << app.get_formatter()->make_help(&app, app.get_name(), CLI::AppFormatMode::Normal);
      return;
    }
    CLI::App* sub = nullptr;
    try {
      sub = app.get_subcommand(*verb);
    } catch (const CLI::OptionNotFound&) {
      sub = nullptr;
    }
    if (sub == nullptr) {
      ctx.fail("help", Errc::kInvalid, "unknown verb '" + *verb + "' (see dynmgrctl --help)");
      return;
    }
    std::cout << sub->get_formatter()->make_help(sub, app.get_name() + " " + sub->get_name(),
                                                 CLI::AppFormatMode::Normal);
  });
}

}  // namespace dynmgr::cli
