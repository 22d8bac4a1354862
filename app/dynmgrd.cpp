// dynmgrd — the stock supervisor: its manager is the exec manager, so every
// worker runs an external command speaking JSON lines (README "Exec workers").
//
//   dynmgrd [-n NAME] [--daemon] [--children FILE] [supervisor flags] [--exec CMD ARGS...]
//
// --exec (the rest of the line) is the default command for `put` without --exec.
#include <CLI/CLI.hpp>
#include <cstring>
#include <filesystem>

#include "app/dynmgrd_flags.hpp"
#include "dynmgr/run.hpp"
#include "shared/run_as.hpp"
#include "worker/exec_manager.hpp"

int main(int argc, char** argv) {
  dynmgr::ExecManager::Config config;
  int cli_argc = argc;
  bool exec_without_command = false;
  // Worker role arguments never contain --exec; only the supervisor's line is cut.
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--exec") == 0) {
      for (int j = i + 1; j < argc; ++j) config.default_command.emplace_back(argv[j]);
      exec_without_command = config.default_command.empty();
      cli_argc = i;
      break;
    }
  }
  dynmgr::RunOptions opts;
  opts.program = "dynmgrd";
  opts.add_flags = [&config](CLI::App& app) { dynmgr::add_dynmgrd_flags(app, config); };
  opts.after_parse = [&config, exec_without_command]() -> dynmgr::Status {
    if (exec_without_command) {
      return dynmgr::make_error(dynmgr::Errc::kInvalid, "--exec needs a command");
    }
    // --daemon runs in /: keep relative paths meaning what they meant here.
    std::error_code ec;
    if (!config.default_command.empty() &&
        config.default_command[0].find('/') != std::string::npos) {
      auto abs = std::filesystem::absolute(config.default_command[0], ec);
      if (!ec) config.default_command[0] = abs.lexically_normal().string();
    }
    if (!config.children_file.empty()) {
      auto abs = std::filesystem::absolute(config.children_file, ec);
      if (!ec) config.children_file = abs.lexically_normal().string();
      auto specs = dynmgr::ExecManager::read_children_file(config.children_file, "--children ");
      if (!specs) return specs.error();
      dynmgr::ExecManager probe(config);
      for (auto& [id, spec] : *specs) {
        if (auto st = probe.check_spec(id, spec); !st) return st.error();
        // Refused here as a put would be (README "User and group").
        if (auto who = dynmgr::check_run_as(spec); !who) {
          return dynmgr::make_error(who.error().code,
                                    "--children '" + id + "': " + who.error().message);
        }
      }
    }
    return {};
  };
  return dynmgr::run_manager([&config] { return std::make_unique<dynmgr::ExecManager>(config); },
                             cli_argc, argv, opts);
}
