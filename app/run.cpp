// The role switch: the only place that knows both the supervisor and the worker.
#include "dynmgr/run.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>

#include "app/supervisor_flags.hpp"
#include "cluster/node.hpp"
#include "shared/cluster_client.hpp"
#include "shared/cluster_layout.hpp"
#include "collector/log_collector.hpp"
#include "shared/log.hpp"
#include "shared/log_files.hpp"
#include "shared/names.hpp"
#include "shared/worker_args.hpp"
#include "supervisor/metrics_server.hpp"
#include "supervisor/supervisor.hpp"
#include "supervisor/web_token.hpp"
#include "worker/containment.hpp"
#include "worker/limits.hpp"
#include "worker/template.hpp"
#include "worker/worker_runtime.hpp"

namespace dynmgr {
namespace {

std::string basename_of(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

// Detaches: fork, setsid, stdio to /dev/null and the log file. The parent waits
// until the child reports `up` (or fails) through a pipe and exits accordingly,
// so `APP --daemon && dynmgrctl ...` works without polling.
// Returns the write end of the readiness pipe in the child; exits in the parent.
int daemonize(const std::string& log_file, const std::string& program) {
  // Opened before detaching, so a log file that cannot be written is the
  // caller's error (exit 1, nothing started), not a daemon without a log.
  const int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0) {
    std::cerr << program << ": unable to open log file " << log_file << ": " << std::strerror(errno)
              << '\n';
    std::exit(1);
  }
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    std::cerr << program << ": unable to create a pipe: " << std::strerror(errno) << '\n';
    std::exit(1);
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::cerr << program << ": unable to fork: " << std::strerror(errno) << '\n';
    std::exit(1);
  }
  if (pid > 0) {
    ::close(pipefd[1]);
    char c = 0;
    const ssize_t n = ::read(pipefd[0], &c, 1);
    if (n == 1 && c == 'U') {
      std::exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, WNOHANG);
    std::cerr << program << ": the daemon did not start; see " << log_file << '\n';
    std::exit(1);
  }
  ::close(pipefd[0]);
  ::setsid();
  const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
  if (log >= 0) {
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
  }
  if (devnull >= 0) ::close(devnull);
  if (log >= 0) ::close(log);
  // Do not pin the directory we were started from (a daemon may outlive it).
  if (::chdir("/") != 0) std::cerr << program << ": unable to chdir to /\n";
  return pipefd[1];
}

// The cluster flags, checked (nullopt without --cluster).
Result<std::optional<cluster::NodeOptions>> cluster_options(const SupervisorFlags& f,
                                                            const std::string& program) {
  if (f.cluster.empty()) {
    const bool any = !f.node.empty() || !f.advertise.empty() || !f.cluster_name.empty() ||
                     !f.cluster_token_file.empty() || f.rebalance;
    if (any) {
      return make_error(Errc::kInvalid,
                        "--node, --advertise, --cluster-name, --cluster-token-file and "
                        "--rebalance need --cluster");
    }
    return std::optional<cluster::NodeOptions>{};
  }
  cluster::NodeOptions n;
  auto etcd = parse_http_endpoints(f.cluster);
  if (!etcd) return make_error(Errc::kInvalid, "--cluster: " + etcd.error().message);
  n.etcd = std::move(*etcd);
  n.cluster = f.cluster_name.empty() ? f.opt.instance : f.cluster_name;
  if (auto st = cluster::validate_cluster_name(n.cluster, "--cluster-name"); !st) return st.error();
  n.node = f.node;
  if (n.node.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) n.node = host;
  }
  if (auto st = cluster::validate_cluster_name(n.node, "--node"); !st) return st.error();
  if (f.advertise.empty()) {
    return make_error(Errc::kInvalid, "--cluster needs --advertise HOST:PORT (the gateway)");
  }
  auto a = parse_http_endpoint(f.advertise);
  if (!a) return make_error(Errc::kInvalid, "--advertise: " + a.error().message);
  n.advertise = std::move(*a);
  if (f.cluster_token_file.empty()) {
    return make_error(Errc::kInvalid, "--cluster needs --cluster-token-file FILE");
  }
  auto token = cluster::read_token_file(f.cluster_token_file, "--cluster-token-file");
  if (!token) return token.error();
  n.token = std::move(*token);
  n.ttl = std::chrono::seconds(f.cluster_ttl_s);
  n.checkpoint_interval = Millis(f.checkpoint_interval_ms);
  n.rebalance = f.rebalance;
  (void)program;
  return std::optional<cluster::NodeOptions>(std::move(n));
}

}  // namespace

int run_manager(const ManagerFactory& factory, int argc, char** argv, const RunOptions& options) {
  if (argc >= 2 && std::strcmp(argv[1], logfiles::kCollectorRoleFlag) == 0) {
    return run_log_collector(argc, argv);
  }
  const auto worker_role = [&factory](const WorkerArgs& worker) {
    // Contained before the manager exists: its constructor is code of the
    // application and may already start processes.
    if (auto st = enter_containment(worker); !st) {
      std::cerr << "dynmgr worker: unable to enter its containment: " << st.error().message << '\n';
      return 1;
    }
    // Limited after the leaf (whose setup may need descriptors), before the
    // manager: its constructor is already application code.
    if (auto st = apply_worker_rlimits(); !st) {
      std::cerr << "dynmgr worker: " << st.error().message << '\n';
      return 1;
    }
    int rc = 0;
    {
      auto manager = factory();
      rc = run_worker(*manager, worker);
    }
    end_descendants();  // after the manager's destructor ended what it knows of
    return rc;
  };
  if (auto worker = parse_worker_args(argc, argv)) return worker_role(*worker);
  if (argc >= 2 && std::strcmp(argv[1], kTemplateRoleFlag) == 0) {
    // Forks workers that start here, past everything an exec pays for
    // (README "Worker start").
    return run_worker_template(argc, argv, [&worker_role](int wargc, char** wargv) {
      auto worker = parse_worker_args(wargc, wargv);
      return worker ? worker_role(*worker) : 2;
    });
  }
  const std::string program =
      options.program == "dynmgr" && argc > 0 ? basename_of(argv[0]) : options.program;
  set_log_program(program);

  SupervisorFlags flags;
  flags.opt.instance = default_instance_name();
  CLI::App app{program + ": a dynmgr supervisor (see README)"};
  add_supervisor_flags(app, flags, program);
  SupervisorOptions& opt = flags.opt;
  std::string& log_file = flags.log_file;
  std::string& state_dir = flags.state_dir;
  const std::string& level = flags.level;
  const std::string& durability = flags.durability;
  const bool& daemon = flags.daemon;
  const bool& no_state = flags.no_state;
  std::string& log_dir = flags.log_dir;
  const bool& no_logs = flags.no_logs;
  if (options.add_flags) options.add_flags(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForVersion& e) {
    std::cout << e.what() << '\n';
    return 0;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      std::cout << app.help();
      return 0;
    }
    std::cerr << program << ": " << e.what() << '\n';
    return 2;
  }
  LogLevel lvl;
  if (!parse_log_level(level, lvl)) {
    std::cerr << program << ": invalid --log-level '" << level << "'\n";
    return 2;
  }
  set_log_level(lvl);
  if (auto st = validate_instance_name(opt.instance); !st) {
    std::cerr << program << ": " << st.error().message << '\n';
    return 2;
  }
  if (!opt.metrics_listen.empty()) {
    if (auto a = parse_listen_address(opt.metrics_listen); !a) {
      std::cerr << program << ": " << a.error().message << '\n';
      return 2;
    }
  }
  if (!flags.web_token_file.empty()) {
    if (opt.metrics_listen.empty()) {
      std::cerr << program << ": --web-token-file needs --metrics-listen\n";
      return 2;
    }
    auto token = read_web_token_file(flags.web_token_file);
    if (!token) {
      std::cerr << program << ": " << token.error().message << '\n';
      return 2;
    }
    opt.web_token = std::move(*token);
  }
  // Cluster mode: checked here, started once detached (threads do not
  // survive the fork).
  std::optional<cluster::NodeOptions> node;
  std::string cluster_token_abs;
  if (auto n = cluster_options(flags, program); !n) {
    std::cerr << program << ": " << n.error().message << '\n';
    return 2;
  } else if (*n) {
    node = std::move(**n);
    std::error_code ec;
    cluster_token_abs = std::filesystem::absolute(flags.cluster_token_file, ec).string();
    // A node's workers must not outlive its lease by waiting for an adopter:
    // the other nodes may start them elsewhere once it expires.
    const auto cap = static_cast<std::uint32_t>(node->ttl.count() * 1000 / 2);
    if (opt.registry.orphan_grace_ms > cap) opt.registry.orphan_grace_ms = cap;
    // etcd holds the specs and payloads: the local database restores none.
    opt.fresh = true;
  }
  opt.worker_template = flags.worker_start == "template";
  if (flags.containment == "auto") {
    opt.containment = ContainmentWanted::kAuto;
  } else if (flags.containment == "cgroup") {
    opt.containment = ContainmentWanted::kCgroup;
  } else if (flags.containment == "subreaper") {
    opt.containment = ContainmentWanted::kSubreaper;
  } else if (flags.containment == "none") {
    opt.containment = ContainmentWanted::kNone;
  } else {
    std::cerr << program << ": invalid --containment '" << flags.containment
              << "' (auto, cgroup, subreaper or none)\n";
    return 2;
  }
  if (durability == "sync") {
    opt.durability = Durability::kSync;
  } else if (durability == "batch") {
    opt.durability = Durability::kBatch;
  } else {
    std::cerr << program << ": invalid --durability '" << durability
              << "': must be sync or batch\n";
    return 2;
  }
  if (no_state && !state_dir.empty()) {
    std::cerr << program << ": --no-state and --state-dir exclude each other\n";
    return 2;
  }
  if (!no_state) {
    if (state_dir.empty()) {
      state_dir = StateStore::default_dir(opt.instance);
      if (state_dir.empty()) {
        std::cerr << program
                  << ": no state directory: HOME is unset; give --state-dir or --no-state\n";
        return 2;
      }
    }
    // Absolute: the daemon changes directory to / (and a re-exec keeps it).
    std::error_code ec;
    const auto abs = std::filesystem::absolute(state_dir, ec);
    if (ec) {
      std::cerr << program << ": invalid --state-dir '" << state_dir << "': " << ec.message()
                << '\n';
      return 2;
    }
    opt.state_dir = abs.lexically_normal().string();
    if (opt.state_dir.size() > 1 && opt.state_dir.back() == '/') opt.state_dir.pop_back();
  }
  if (no_logs && !log_dir.empty()) {
    std::cerr << program << ": --no-logs and --log-dir exclude each other\n";
    return 2;
  }
  if (!no_logs && log_dir.empty() && !opt.state_dir.empty()) log_dir = opt.state_dir + "/logs";
  if (!no_logs && !log_dir.empty()) {
    std::error_code ec;
    const auto abs = std::filesystem::absolute(log_dir, ec);
    if (ec) {
      std::cerr << program << ": invalid --log-dir '" << log_dir << "': " << ec.message() << '\n';
      return 2;
    }
    opt.logs.dir = abs.lexically_normal().string();
    if (opt.logs.dir.size() > 1 && opt.logs.dir.back() == '/') opt.logs.dir.pop_back();
    // The collector's socket lives there: its path must fit a sockaddr_un.
    if (opt.logs.dir.size() + std::strlen(logfiles::kSocketName) + 2 > 108) {
      std::cerr << program << ": invalid --log-dir '" << log_dir
                << "': too long (a socket path inside it must fit 107 bytes)\n";
      return 2;
    }
  }
  if (options.after_parse) {
    if (auto st = options.after_parse(); !st) {
      std::cerr << program << ": " << st.error().message << '\n';
      return 2;
    }
  }
  opt.argv.assign(argv, argv + argc);
  // A re-executed image reads the token file again, from / once daemonized.
  if (!flags.web_token_file.empty()) {
    std::error_code ec;
    const auto abs = std::filesystem::absolute(flags.web_token_file, ec).string();
    for (std::size_t i = 1; !ec && i < opt.argv.size(); ++i) {
      if (opt.argv[i] == "--web-token-file" && i + 1 < opt.argv.size()) {
        opt.argv[++i] = abs;
      } else if (opt.argv[i].rfind("--web-token-file=", 0) == 0) {
        opt.argv[i] = "--web-token-file=" + abs;
      }
    }
  }
  if (!cluster_token_abs.empty()) {
    for (std::size_t i = 1; i < opt.argv.size(); ++i) {
      if (opt.argv[i] == "--cluster-token-file" && i + 1 < opt.argv.size()) {
        opt.argv[++i] = cluster_token_abs;
      } else if (opt.argv[i].rfind("--cluster-token-file=", 0) == 0) {
        opt.argv[i] = "--cluster-token-file=" + cluster_token_abs;
      }
    }
  }
  if (node) {
    node->instance = opt.instance;
    node->capacity = opt.registry.capacity;
    node->sync = opt.durability == Durability::kSync;
    if (!opt.state_dir.empty()) node->lease_file = opt.state_dir + "/cluster.lease";
  }
  int ready_fd = -1;
  // A re-executed supervisor (reexec, SIGUSR2) is already detached: it must
  // keep its pid, or its workers would no longer be its children.
  const bool reexecuted = std::getenv("DYNMGR_REEXEC") != nullptr;
  if (daemon && !reexecuted) {
    if (log_file.empty()) {
      log_file = "/tmp/dynmgr." + std::to_string(::getuid()) + "." + opt.instance + ".log";
    }
    ready_fd = daemonize(log_file, program);
    opt.on_ready = [ready_fd] {
      const char c = 'U';
      (void)::write(ready_fd, &c, 1);
      ::close(ready_fd);
    };
  }
  auto manager = factory();
  std::unique_ptr<cluster::Node> cluster_node;
  if (node) {
    if (!manager->children_specs().empty()) {
      std::cerr << program
                << ": built-in children are not started in cluster mode: put them through the "
                   "cluster instead\n";
      return 2;
    }
    auto started = cluster::Node::start(std::move(*node));
    if (!started) {
      std::cerr << program << ": " << started.error().message << '\n';
      return 1;
    }
    cluster_node = std::move(*started);
  }
  Supervisor supervisor(*manager, std::move(opt));
  const int rc = supervisor.run();
  // Every worker is gone: the lease goes, and the other nodes take the ids.
  if (cluster_node) cluster_node->stop(/*release=*/rc == 0);
  return rc;
}

}  // namespace dynmgr
