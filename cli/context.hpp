#pragma once
// What every dynmgrctl verb shares: the global flags, the connection, and the
// one way errors are printed ("dynmgrctl: <what failed>: <why>") and turned
// into exit codes (0 ok, 1 failed, 2 usage/invalid, 3 no such worker,
// 4 timed out, 5 no supervisor).

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "dynmgr/client.hpp"
#include "shared/cluster_client.hpp"
#include "shared/error.hpp"

namespace dynmgr::cli {

struct Context {
  std::string instance;          // -n/--name; empty: $DYNMGR_NAME or "default"
  bool json = false;             // --json
  std::uint32_t wait_ms = 5000;  // --wait MS: per-request deadline
  int exit_code = 0;
  std::optional<Client> client;
  // --cluster (README "Cluster"): the verbs that work cluster-wide go through
  // a node's gateway instead of the local instance.
  std::string cluster_urls;        // --cluster URL[,URL...]
  std::string cluster_name;        // --cluster-name (default: the instance name)
  std::string cluster_token_file;  // --cluster-token-file
  std::optional<cluster::ClusterClient> cluster_client;
  bool in_cluster() const { return !cluster_urls.empty(); }
  // Like connect, for --cluster.
  cluster::ClusterClient* cluster(const std::string& what);

  // Connects on first use; prints the error and sets exit_code on failure.
  Client* connect(const std::string& what);
  // Prints "dynmgrctl: <what>: <why>" and records the exit code. Returns it.
  int fail(const std::string& what, const Error& error);
  int fail(const std::string& what, Errc code, const std::string& why);
};

// One error line on stderr: "dynmgrctl: MESSAGE", or with --json
// {"error":{"code":CODE,"message":MESSAGE}} (CODE is the exit code).
void print_error(bool as_json, int code, const std::string& message);

// Parses a JSON argument (MESSAGE, --payload); kInvalid names the argument.
Result<json::value> parse_json_arg(const std::string& text, const std::string& what);

// The "ID MESSAGE | --any MESSAGE" arguments shared by call and cast.
struct MessageTarget {
  bool any = false;
  std::string first;   // ID, or MESSAGE with --any
  std::string second;  // MESSAGE
};
struct AddressedMessage {
  std::string id;    // empty with --any
  std::string what;  // "call 'x'" / "call --any", for errors
  json::value message;
};
// Adds --any, ID and MESSAGE to cmd (two scalar positionals: a vector would let
// CLI11 split a JSON "[a,b]" apart).
void add_message_target(CLI::App* cmd, MessageTarget& target);
// Checks usage, the id and the JSON; prints the error and returns nullopt on failure.
std::optional<AddressedMessage> resolve_message_target(Context& ctx, const std::string& verb,
                                                       const MessageTarget& target);

// dynmgrctl's whole command line: global flags, --version, every verb, the
// checks that run once parsing is complete. exec_argv is what followed --exec
// (cut off before parsing); ctx receives the global flags. With only_verb,
// that verb is the only one added: a run that names its verb (verb_of) does
// not build every other verb's options, which was a sixth of a one-shot
// `dynmgrctl call`'s CPU. Parsing, errors and the verb's help are the same.
void add_command_line(CLI::App& app, Context& ctx, std::vector<std::string>& exec_argv,
                      std::string_view only_verb = {});
// The verb argv names, when a tree of that verb alone parses it the same as
// the whole one; empty otherwise (no verb, an unknown word first, --help or
// --version before the verb, `help`, which lists every verb).
std::string_view verb_of(int argc, char** argv);

// The verbs that work with --cluster (cli/verbs/cluster.cpp): each prints as
// its one-host form does, plus the node.
inline constexpr std::string_view kClusterVerbs[] = {"ping", "put", "put-new", "del", "get",
                                                     "call", "cast", "state", "help"};
void cluster_put(Context& ctx, const std::string& verb, const std::string& id,
                 const ChildSpec& spec, bool only_new, bool passive);
void cluster_del(Context& ctx, const std::string& id);
void cluster_get(Context& ctx, const std::string& id);
void cluster_message(Context& ctx, const std::string& verb, const std::string& id,
                     const json::value& message);
void cluster_state(Context& ctx);
void cluster_ping(Context& ctx);

// Each verb adds its subcommand; the callback runs it and sets ctx.exit_code.
void add_ping(CLI::App& app, Context& ctx);
void add_put(CLI::App& app, Context& ctx, std::vector<std::string>& exec_argv);
void add_import(CLI::App& app, Context& ctx);
void add_del(CLI::App& app, Context& ctx);
void add_get(CLI::App& app, Context& ctx);
void add_call(CLI::App& app, Context& ctx);
void add_cast(CLI::App& app, Context& ctx);
void add_state(CLI::App& app, Context& ctx);
void add_restart(CLI::App& app, Context& ctx);
void add_reexec(CLI::App& app, Context& ctx);
void add_reload(CLI::App& app, Context& ctx);
void add_stop(CLI::App& app, Context& ctx);
void add_watch(CLI::App& app, Context& ctx);
void add_metrics(CLI::App& app, Context& ctx);
void add_logs(CLI::App& app, Context& ctx);
void add_top(CLI::App& app, Context& ctx);
void add_list(CLI::App& app, Context& ctx);
void add_cleanup(CLI::App& app, Context& ctx);
void add_help(CLI::App& app, Context& ctx);

}  // namespace dynmgr::cli
