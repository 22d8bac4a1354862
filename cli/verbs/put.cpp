// dynmgrctl put ID [...] / put-new ID [...]: start (or replace) a worker.
#include "cli/context.hpp"
#include "cli/output.hpp"
#include "shared/child_spec.hpp"

#include <filesystem>
#include <iostream>
#include <memory>

namespace dynmgr::cli {
namespace {

struct PutArgs {
  std::string id;
  std::string payload;
  std::optional<std::uint32_t> timeout;
  std::optional<double> lull;
  bool instant = false;
  std::string restart;
  std::optional<std::uint32_t> max_restarts;
  std::optional<std::uint32_t> within;
  std::vector<std::string> env;
  std::string cwd;
  std::optional<std::uint32_t> ready_timeout;
  std::string on_overrun;
  std::string max_memory;
  std::vector<std::string> rlimits;
  std::optional<std::string> user;
  std::optional<std::string> group;
  std::optional<std::uint32_t> passivate_after;
  bool passive = false;
};

// "x/y" or "./y" -> "<cwd>/x/y"; a bare name ("python3") is left for PATH,
// unless `always` (directories).
std::string absolute_if_relative_path(const std::string& p, bool always = false) {
  if (p.empty() || p[0] == '/') return p;
  if (!always && p.find('/') == std::string::npos) return p;
  std::error_code ec;
  const auto abs = std::filesystem::absolute(p, ec);
  return ec ? p : abs.lexically_normal().string();
}

void run_put(Context& ctx, const PutArgs& a, bool only_new, const std::vector<std::string>& exec) {
  const std::string verb = only_new ? "put-new" : "put";
  const std::string what = verb + " '" + a.id + "'";
  if (auto st = validate_id(a.id); !st) {
    ctx.fail(verb, st.error());
    return;
  }
  ChildSpec spec;
  if (!a.payload.empty()) {
    auto p = parse_json_arg(a.payload, "--payload");
    if (!p) {
      ctx.fail(what, p.error());
      return;
    }
    spec.payload = std::move(*p);
  }
  if (a.timeout) spec.timeout_ms = *a.timeout;
  if (a.lull) spec.lull = *a.lull;
  spec.instant_perform = a.instant;
  if (!a.restart.empty()) {
    auto r = parse_restart_type(a.restart);
    if (!r) {
      ctx.fail(what, r.error());
      return;
    }
    spec.restart = *r;
  }
  if (a.max_restarts) spec.max_restarts = *a.max_restarts;
  if (a.passivate_after) spec.passivate_after_ms = *a.passivate_after;
  if (a.within) spec.within_ms = *a.within;
  if (!exec.empty()) {
    json::array argv;
    // The daemon runs elsewhere (in / when detached): a relative command path
    // ("./scrape.py", "bin/x") is taken relative to where dynmgrctl runs.
    argv.emplace_back(absolute_if_relative_path(exec[0]));
    for (std::size_t i = 1; i < exec.size(); ++i) argv.emplace_back(exec[i]);
    spec.options["exec"] = std::move(argv);
  }
  if (!a.env.empty()) {
    json::object env;
    for (const auto& kv : a.env) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        ctx.fail(what, Errc::kInvalid, "invalid --env '" + kv + "': expected KEY=VALUE");
        return;
      }
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    spec.options["env"] = std::move(env);
  }
  if (!a.cwd.empty()) spec.options["cwd"] = absolute_if_relative_path(a.cwd, /*always=*/true);
  if (a.ready_timeout) {
    // put waits for the command's readiness within its own deadline: a longer
    // wait could only end in a timeout with the worker still starting.
    if (*a.ready_timeout >= ctx.wait_ms) {
      ctx.fail(what, Errc::kInvalid,
               "--ready-timeout " + std::to_string(*a.ready_timeout) + " is not below --wait " +
                   std::to_string(ctx.wait_ms) + ": raise --wait");
      return;
    }
    spec.options["ready_timeout"] = *a.ready_timeout;
  }
  if (!a.on_overrun.empty()) {
    auto o = parse_on_overrun(a.on_overrun);
    if (!o) {
      ctx.fail(what, o.error());
      return;
    }
    spec.on_overrun = *o;
  }
  if (!a.max_memory.empty()) {
    auto n = parse_byte_size(a.max_memory);
    if (!n) {
      ctx.fail(what, Errc::kInvalid, "invalid --max-memory: " + n.error().message);
      return;
    }
    spec.max_memory = *n;
  }
  if (!a.rlimits.empty()) {
    // NAME=VALUE; checked as the spec's "rlimits" object is (names, ranges).
    json::object limits;
    for (const auto& kv : a.rlimits) {
      const auto eq = kv.find('=');
      const bool shaped = eq != std::string::npos && eq != 0;
      const auto n = parse_byte_size(shaped ? kv.substr(eq + 1) : std::string());
      if (!shaped || !n) {
        ctx.fail(what, Errc::kInvalid,
                 "invalid --rlimit '" + kv + "': expected NAME=VALUE (nofile, as, cpu or core)");
        return;
      }
      limits[kv.substr(0, eq)] = *n;
    }
    json::object o;
    o["rlimits"] = std::move(limits);
    auto parsed = ChildSpec::from_json(json::value(std::move(o)));
    if (!parsed) {
      ctx.fail(what, parsed.error());
      return;
    }
    spec.rlimits = parsed->rlimits;
  }
  // Looked up by the supervisor, which is who switches to them.
  for (const auto* given : {&a.user, &a.group}) {
    if (!*given) continue;
    if ((*given)->empty()) {
      ctx.fail(what, Errc::kInvalid,
               std::string("invalid --") + (given == &a.user ? "user" : "group") + ": empty");
      return;
    }
    (given == &a.user ? spec.user : spec.group) = **given;
  }
  if (auto st = spec.validate(); !st) {
    ctx.fail(what, st.error());
    return;
  }
  if (ctx.in_cluster()) {
    cluster_put(ctx, verb, a.id, spec, only_new, a.passive);
    return;
  }
  Client* c = ctx.connect(what);
  if (c == nullptr) return;
  auto r = a.passive   ? c->put_passive(a.id, spec, only_new)
           : only_new ? c->put_new(a.id, spec)
                      : c->put(a.id, spec);
  if (!r) {
    ctx.fail(what, r.error());
    return;
  }
  if (ctx.json) {
    print_json(worker_json(*r));
  } else {
    std::cout << verb << " '" << r->id << "': " << to_string(r->status);
    if (r->pid != 0) std::cout << " (pid " << r->pid << ")";
    std::cout << "\n";
  }
}

CLI::App* add_put_command(CLI::App& app, Context& ctx, const std::string& name, bool only_new,
                          std::vector<std::string>& exec_argv) {
  auto args = std::make_shared<PutArgs>();
  auto* cmd = app.add_subcommand(
      name, only_new ? "start a worker unless ID exists (no change if it does)"
                     : "start a worker, replacing any worker under ID");
  cmd->add_option("ID", args->id, "worker id")->required();
  cmd->add_option("--payload", args->payload, "initial payload (JSON, default null)");
  cmd->add_option("--timeout", args->timeout, "ms between performs (default 1000, 0 = never)")
      ->check(CLI::Range(0u, 2147483647u));
  cmd->add_option("--lull", args->lull, "overrun factor (default 1.1)")->check(CLI::Range(1.0, 1000.0));
  cmd->add_flag("--instant", args->instant, "perform right away, not after one timeout");
  cmd->add_option("--restart", args->restart, "permanent|transient|temporary (default permanent)");
  cmd->add_option("--max-restarts", args->max_restarts, "restart intensity (default 5)");
  cmd->add_option("--within", args->within, "intensity window in ms (default 30000)");
  cmd->add_option("--env", args->env, "KEY=VALUE for an --exec command (repeatable)");
  cmd->add_option("--cwd", args->cwd, "working directory of an --exec command");
  cmd->add_option("--ready-timeout", args->ready_timeout,
                  "ms an --exec command has to print {\"ready\":true}; one still alive "
                  "then is taken as ready (default 500)")
      ->check(CLI::Range(0u, 2147483647u));
  cmd->add_option("--on-overrun", args->on_overrun,
                  "report|kill: a perform/call over lull x timeout is reported, or killed and "
                  "restarted (default report)");
  cmd->add_option("--max-memory", args->max_memory,
                  "restart the worker when its resident memory (with its children) exceeds "
                  "BYTES (K, M, G suffixes)");
  cmd->add_option("--rlimit", args->rlimits,
                  "NAME=VALUE resource limit set in the worker: nofile, as (bytes), cpu "
                  "(seconds), core (bytes) (repeatable)");
  cmd->add_option("--user", args->user,
                  "run the worker as USER (name or uid), with its primary and supplementary "
                  "groups; the supervisor must be root");
  cmd->add_option("--group", args->group,
                  "run the worker with GROUP (name or gid) as its group; alone: the "
                  "supervisor's user with that group");
  cmd->add_option("--passivate-after", args->passivate_after,
                  "stop the worker after MS with no call, cast or perform; the next call or cast "
                  "(or due perform) starts it again from its last payload (default 0 = never)")
      ->check(CLI::Range(0u, 2147483647u));
  cmd->add_flag("--passive", args->passive,
                "register ID without starting it: it starts at its first call or cast (or "
                "perform)");
  cmd->footer("--exec CMD ARGS... runs CMD as the worker (dynmgrd); it takes the rest of the line.");
  cmd->callback([&ctx, args, only_new, &exec_argv] { run_put(ctx, *args, only_new, exec_argv); });
  return cmd;
}

}  // namespace

void add_put(CLI::App& app, Context& ctx, std::vector<std::string>& exec_argv) {
  add_put_command(app, ctx, "put", false, exec_argv);
  add_put_command(app, ctx, "put-new", true, exec_argv);
}

}  // namespace dynmgr::cli
