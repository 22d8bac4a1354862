#pragma once
// dynmgrd's own flags, on top of the supervisor's (README "Supervisor flags"):
// apart from its main so that the manual and the completion generator (doc/)
// describe the flags the binary parses.

#include "worker/exec_manager.hpp"

namespace CLI {
class App;
}

namespace dynmgr {

// Adds --children FILE, and a footer for --exec CMD ARGS... (the rest of the
// line, cut off before CLI11 parses).
void add_dynmgrd_flags(CLI::App& app, ExecManager::Config& config);

}  // namespace dynmgr
