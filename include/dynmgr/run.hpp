#pragma once
// dynmgr::run — the one entry point of an application built on dynmgr.
//
//   int main(int argc, char** argv) { return dynmgr::run<MyManager>(argc, argv); }
//
// Started normally, the binary is the supervisor for instance -n NAME (flags
// below); started by the supervisor with the hidden worker-role arguments, it
// runs one worker. The manager is constructed in both roles.
//
// Supervisor flags (README "Supervisor flags"):
//   -n, --name NAME          instance (default $DYNMGR_NAME or "default")
//   --version                print "<program> <version>" and exit 0
//   --daemon                 detach; log to --log-file; return once `up`
//   --log-file PATH          daemon log (default /tmp/dynmgr.<uid>.<name>.log)
//   --max-workers N          registry capacity (default 4096)
//   --max-payload BYTES      payload/value/message limit (default 4096)
//   --mailbox-depth N        messages per worker mailbox (default 64)
//   --terminate-timeout MS   terminate message -> SIGTERM (default 2000)
//   --kill-timeout MS        SIGTERM -> SIGKILL (default 3000)
//   --backoff-base MS        restart delay after the 2nd quick crash in a row; it
//                            doubles with each further one (default 100)
//   --backoff-cap MS         longest restart delay (default 5000)
//   --healthy-uptime MS      a run at least this long resets the backoff (default 10000)
//   --log-level L            debug|info|warn|error|off (default info)

#include <functional>
#include <memory>
#include <string>

#include "dynmgr/manager.hpp"

namespace CLI {
class App;
}

namespace dynmgr {

struct RunOptions {
  std::string program = "dynmgr";  // log prefix; defaults to argv[0]'s basename
  // Adds application flags to the supervisor's command line; called before parsing.
  std::function<void(CLI::App&)> add_flags;
  // Called after parsing, before the supervisor starts; a non-ok Status exits 2.
  std::function<Status()> after_parse;
};

using ManagerFactory = std::function<std::unique_ptr<Manager>()>;

int run_manager(const ManagerFactory& factory, int argc, char** argv,
                const RunOptions& options = RunOptions{});

template <class M>
int run(int argc, char** argv) {
  return run_manager([] { return std::make_unique<M>(); }, argc, argv);
}

}  // namespace dynmgr
