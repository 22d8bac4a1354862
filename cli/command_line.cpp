// dynmgrctl's command line as one CLI11 App: main parses it, and doc/ walks it
// for the manual and the bash completion.
#include <algorithm>
#include <iterator>
#include <string_view>

#include "cli/context.hpp"
#include "shared/version.hpp"

namespace dynmgr::cli {
namespace {
// A misused global flag: main does not name a verb in its message.
struct GlobalFlagError : CLI::ParseError {
  explicit GlobalFlagError(std::string msg)
      : CLI::ParseError("GlobalFlagError", std::move(msg), CLI::ExitCodes::ValidationError) {}
};
}  // namespace

std::string_view verb_of(int argc, char** argv) {
  static constexpr std::string_view kVerbs[] = {"ping",   "put",    "put-new", "import", "del",
                                                "get",    "call",   "cast",    "state",  "restart",
                                                "reexec", "reload", "stop",    "watch",  "metrics",
                                                "logs",   "top",    "list",    "cleanup"};
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    // The global options that take a value in the next argument.
    if (arg == "-n" || arg == "--name" || arg == "--wait") {
      ++i;
      continue;
    }
    if (arg.empty() || arg.front() == '-') {
      // --help, --help-all and --version describe the whole command line.
      if (arg == "-h" || arg.rfind("--help", 0) == 0 || arg == "--version") return {};
      continue;
    }
    // The first word that is no option's value is the verb, or not one at all.
    if (std::find(std::begin(kVerbs), std::end(kVerbs), arg) == std::end(kVerbs)) return {};
    // Only the verb's own options and words may follow; a --help among them
    // is the verb's help, which its own tree answers.
    return arg;
  }
  return {};
}

void add_command_line(CLI::App& app, Context& ctx, std::vector<std::string>& exec_argv,
                      std::string_view only_verb) {
  app.description("dynmgrctl: drive a dynmgr supervisor and its workers");
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", "dynmgrctl " + std::string(kVersion),
                       "print the version and exit");
  app.add_option("-n,--name", ctx.instance, "instance name (default $DYNMGR_NAME or 'default')");
  app.add_flag("--json", ctx.json, "machine-readable output");
  app.add_option("--wait", ctx.wait_ms, "deadline of each request in ms (default 5000)")
      ->check(CLI::Range(1u, 86'400'000u));
  app.add_option("--cluster", ctx.cluster_urls,
                 "cluster mode: the etcd endpoints, http://HOST:PORT[,...]; put, put-new, del, "
                 "get, call, cast, state and ping go to the node that owns the id");
  app.add_option("--cluster-name", ctx.cluster_name,
                 "cluster mode: the cluster's name (default: the instance name)");
  app.add_option("--cluster-token-file", ctx.cluster_token_file,
                 "cluster mode: the gateways' token, this file's first line");
  // Listed in the order --help shows them. put adds put and put-new.
  struct Verb {
    std::string_view name, other_name;
    void (*add)(CLI::App&, Context&);
  };
  static constexpr Verb kAll[] = {
      {"ping", {}, add_ping},     {"put", "put-new", nullptr},  {"import", {}, add_import},
      {"del", {}, add_del},       {"get", {}, add_get},         {"call", {}, add_call},
      {"cast", {}, add_cast},     {"state", {}, add_state},     {"restart", {}, add_restart},
      {"reexec", {}, add_reexec}, {"reload", {}, add_reload},   {"stop", {}, add_stop},
      {"watch", {}, add_watch},   {"metrics", {}, add_metrics}, {"logs", {}, add_logs},
      {"top", {}, add_top},       {"list", {}, add_list},       {"cleanup", {}, add_cleanup},
      {"help", {}, add_help},
  };
  for (const Verb& v : kAll) {
    if (!only_verb.empty() && only_verb != v.name && only_verb != v.other_name) continue;
    if (v.add == nullptr) {
      add_put(app, ctx, exec_argv);
    } else {
      v.add(app, ctx);
    }
  }
  app.footer(
      "Exit codes: 0 ok, 1 failed, 2 usage or invalid input, 3 no such worker, 4 timed out, "
      "5 no supervisor running.");
  // Checked once parsing is complete but before any verb's callback runs: a
  // misused --exec must fail without doing anything (`del ID --exec ...` would
  // otherwise delete ID and only then complain).
  app.parse_complete_callback([&app, &exec_argv, &ctx] {
    // -n '' is a mistake (an unset variable), not a request for the default.
    if (app.count("--name") > 0 && ctx.instance.empty()) {
      throw GlobalFlagError("-n: the instance name must not be empty");
    }
    if (ctx.in_cluster()) {
      if (ctx.cluster_token_file.empty()) {
        throw GlobalFlagError("--cluster needs --cluster-token-file FILE");
      }
      for (auto* sub : app.get_subcommands()) {
        bool known = false;
        for (const auto v : kClusterVerbs) known = known || sub->get_name() == v;
        if (!known) {
          throw GlobalFlagError(sub->get_name() +
                                " does not work with --cluster: run it on the node "
                                "(dynmgrctl -n INSTANCE " + sub->get_name() + ")");
        }
      }
    } else if (!ctx.cluster_name.empty() || !ctx.cluster_token_file.empty()) {
      throw GlobalFlagError("--cluster-name and --cluster-token-file need --cluster");
    }
    if (exec_argv.empty()) return;
    for (auto* sub : app.get_subcommands()) {
      if (sub->get_name() != "put" && sub->get_name() != "put-new") {
        throw CLI::ValidationError("--exec", "only valid with put and put-new");
      }
    }
  });
}

}  // namespace dynmgr::cli
