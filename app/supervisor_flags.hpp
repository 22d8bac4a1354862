#pragma once
// The supervisor's command line (README "Supervisor flags"), apart from
// run_manager so that the manual and the completion generator (doc/) describe
// the very flags the binary parses.

#include <cstdint>
#include <string>

#include "supervisor/supervisor.hpp"

namespace CLI {
class App;
}

namespace dynmgr {

// What the flags are parsed into; run_manager validates and converts them.
struct SupervisorFlags {
  SupervisorOptions opt;
  bool daemon = false;
  std::string log_file;
  std::string level = "info";
  std::string state_dir;
  bool no_state = false;
  std::string durability = "batch";
  std::string log_dir;               // --log-dir
  bool no_logs = false;              // --no-logs
  std::string web_token_file;        // --web-token-file
  std::string containment = "auto";  // --containment
  std::string worker_start = "template";  // --worker-start
  // Cluster mode (README "Cluster"); off without --cluster.
  std::string cluster;                  // --cluster URL[,URL...]: etcd
  std::string node;                     // --node (default: the host name)
  std::string advertise;                // --advertise HOST:PORT
  std::string cluster_name;             // --cluster-name (default: the instance name)
  std::string cluster_token_file;       // --cluster-token-file
  std::uint32_t cluster_ttl_s = 5;      // --cluster-ttl
  std::uint32_t checkpoint_interval_ms = 1000;  // --checkpoint-interval
  bool rebalance = false;               // --rebalance
};

// Adds every supervisor flag, and --version ("PROGRAM VERSION"), to app.
// flags.opt.instance is the default of -n: set it before the call.
void add_supervisor_flags(CLI::App& app, SupervisorFlags& flags, const std::string& program);

}  // namespace dynmgr
