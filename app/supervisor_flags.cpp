#include "app/supervisor_flags.hpp"

#include <CLI/CLI.hpp>

#include "shared/version.hpp"

namespace dynmgr {

void add_supervisor_flags(CLI::App& app, SupervisorFlags& f, const std::string& program) {
  SupervisorOptions& opt = f.opt;
  app.set_version_flag("--version", program + " " + std::string(kVersion),
                       "print the version and exit");
  app.add_option("-n,--name", opt.instance, "instance name (default $DYNMGR_NAME or 'default')");
  app.add_flag("--daemon", f.daemon, "detach and log to --log-file");
  app.add_option("--log-file", f.log_file,
                 "daemon log file (default /tmp/dynmgr.<uid>.<name>.log)");
  // Defaults are captured for the help and the manual; -n, --state-dir and
  // --log-file depend on the environment and say so in words instead.
  app.add_option("--max-workers", opt.registry.capacity, "registry capacity")
      ->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();
  app.add_option("--max-payload", opt.registry.max_payload, "payload/value/message limit (bytes)")
      ->check(CLI::Range(64u, 16u * 1024 * 1024))
      ->capture_default_str();
  app.add_option("--mailbox-depth", opt.registry.mailbox_depth, "messages per mailbox")
      ->check(CLI::Range(1u, 65536u))
      ->capture_default_str();
  app.add_option("--terminate-timeout", opt.terminate_timeout_ms, "terminate -> SIGTERM (ms)")
      ->capture_default_str();
  app.add_option("--kill-timeout", opt.kill_timeout_ms, "SIGTERM -> SIGKILL (ms)")
      ->capture_default_str();
  app.add_option("--orphan-grace", opt.registry.orphan_grace_ms,
                 "how long workers outlive a dead supervisor, waiting to be adopted (ms)")
      ->check(CLI::Range(0u, 86'400'000u))
      ->capture_default_str();
  app.add_option("--state-dir", f.state_dir,
                 "state database directory (default /var/lib/dynmgr/NAME for root, else "
                 "$XDG_STATE_HOME/dynmgr/NAME or ~/.local/state/dynmgr/NAME)");
  app.add_flag("--no-state", f.no_state,
               "volatile: keep no state database (nothing survives a reboot)");
  app.add_flag("--fresh", opt.fresh,
               "start from the built-in children only, dropping the stored workers");
  app.add_option("--durability", f.durability,
                 "sync: every put/del/commit on disk before its reply; batch: group commits")
      ->capture_default_str();
  app.add_option("--sync-interval", opt.sync_interval_ms,
                 "batch durability: the longest a change waits for its commit (ms)")
      ->check(CLI::Range(1u, 60'000u))
      ->capture_default_str();
  app.add_option("--log-dir", f.log_dir,
                 "worker logs directory (default STATE_DIR/logs; none with --no-state)");
  app.add_flag("--no-logs", f.no_logs,
               "no worker logs: workers write to the supervisor's stdout and stderr");
  app.add_option("--log-max-bytes", opt.logs.max_bytes,
                 "rotate a worker's log file beyond this size (bytes)")
      ->check(CLI::Range(std::uint64_t{1024}, std::uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--log-keep", opt.logs.keep, "rotated log files kept per worker")
      ->check(CLI::Range(1u, 1000u))
      ->capture_default_str();
  app.add_option("--event-capacity", opt.event_capacity,
                 "records in the event ring that `dynmgrctl watch` reads (rounded up to a power "
                 "of two)")
      ->check(CLI::Range(16u, 1'048'576u))
      ->capture_default_str();
  app.add_option("--metrics-listen", opt.metrics_listen,
                 "serve Prometheus metrics over HTTP at /metrics: PORT or HOST:PORT (default host "
                 "127.0.0.1); the web dashboard is at /");
  app.add_option("--web-token-file", f.web_token_file,
                 "enable the web dashboard's restart and del for requests carrying the token "
                 "on this file's first line (mode 0600; needs --metrics-listen)");
  app.add_option("--backoff-base", opt.backoff.base_ms,
                 "first restart delay after a quick crash (ms)")
      ->capture_default_str();
  app.add_option("--backoff-cap", opt.backoff.cap_ms, "longest restart delay (ms)")
      ->capture_default_str();
  app.add_option("--healthy-uptime", opt.backoff.healthy_uptime_ms,
                 "a run this long resets the backoff (ms)")
      ->capture_default_str();
  app.add_option("--containment", f.containment,
                 "what ends the processes a worker starts: auto (cgroup where possible, else "
                 "subreaper), cgroup (a cgroup v2 leaf per worker, or no start), subreaper, none")
      ->capture_default_str();
  app.add_option("--worker-start", f.worker_start,
                 "how workers are started: template (forked from a worker template process "
                 "that is past the program's start; exec where that fails) or exec "
                 "(posix_spawn + exec of the executable for each one)")
      ->check(CLI::IsMember({"template", "exec"}))
      ->capture_default_str();
  app.add_option("--cluster", f.cluster,
                 "cluster mode: the etcd endpoints, http://HOST:PORT[,...] (README \"Cluster\")");
  app.add_option("--node", f.node, "cluster mode: this node's name (default: the host name)");
  app.add_option("--advertise", f.advertise,
                 "cluster mode: HOST:PORT where this node's gateway listens and other nodes "
                 "and clients reach it");
  app.add_option("--cluster-name", f.cluster_name,
                 "cluster mode: the cluster's name (default: the instance name)");
  app.add_option("--cluster-token-file", f.cluster_token_file,
                 "cluster mode: the gateways' token, this file's first line (mode 0600; required)");
  app.add_option("--cluster-ttl", f.cluster_ttl_s,
                 "cluster mode: the node's lease in seconds: a node cut off from etcd stops its "
                 "workers within it, and its ids move after it")
      ->check(CLI::Range(2u, 600u))
      ->capture_default_str();
  app.add_option("--checkpoint-interval", f.checkpoint_interval_ms,
                 "cluster mode: the longest a changed payload waits to be checkpointed to etcd (ms)")
      ->check(CLI::Range(50u, 3'600'000u))
      ->capture_default_str();
  app.add_flag("--rebalance", f.rebalance,
               "cluster mode: hand ids over, one at a time, to a node placement prefers (a node "
               "that joined)");
  app.add_option("--log-level", f.level, "debug|info|warn|error|off")->capture_default_str();
}

}  // namespace dynmgr
