#include "app/dynmgrd_flags.hpp"

#include <CLI/CLI.hpp>

namespace dynmgr {

void add_dynmgrd_flags(CLI::App& app, ExecManager::Config& config) {
  app.add_option("--children", config.children_file, "JSON file of id -> spec to start at boot");
  app.footer("--exec CMD ARGS... (the rest of the line): default command for put without --exec.");
}

}  // namespace dynmgr
