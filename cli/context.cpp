#include "cli/context.hpp"

#include <iostream>

#include "shared/json.hpp"

namespace dynmgr::cli {

Client* Context::connect(const std::string& what) {
  if (client) return &*client;
  Client::Options o;
  o.instance = instance;
  o.timeout = Millis(wait_ms);
  auto c = Client::connect(o);
  if (!c) {
    fail(what, c.error());
    return nullptr;
  }
  client.emplace(std::move(*c));
  return &*client;
}

int Context::fail(const std::string& what, const Error& error) {
  exit_code = dynmgr::exit_code(error.code);
  print_error(json, exit_code, what + ": " + error.message);
  return exit_code;
}

void print_error(bool as_json, int code, const std::string& message) {
  if (as_json) {
    std::cerr << to_json(json::object{
                     {"error", json::object{{"code", code}, {"message", message}}}})
              << '\n';
  } else {
    std::cerr << "dynmgrctl: " << message << '\n';
  }
}

int Context::fail(const std::string& what, Errc code, const std::string& why) {
  return fail(what, make_error(code, why));
}

Result<json::value> parse_json_arg(const std::string& text, const std::string& what) {
  return parse_json(text, what);
}

void add_message_target(CLI::App* cmd, MessageTarget& t) {
  cmd->add_flag("--any", t.any, "let the pool's pickup strategy choose the worker");
  cmd->add_option("ID", t.first, "worker id (or MESSAGE with --any)")->required();
  cmd->add_option("MESSAGE", t.second, "JSON message");
}

std::optional<AddressedMessage> resolve_message_target(Context& ctx, const std::string& verb,
                                                       const MessageTarget& t) {
  if (t.any && !t.second.empty()) {
    ctx.fail(verb, Errc::kInvalid,
             "--any takes a MESSAGE and no ID (usage: " + verb + " --any MESSAGE)");
    return std::nullopt;
  }
  if (!t.any && t.second.empty()) {
    ctx.fail(verb, Errc::kInvalid, "MESSAGE is missing (usage: " + verb + " ID MESSAGE)");
    return std::nullopt;
  }
  AddressedMessage out;
  out.id = t.any ? std::string() : t.first;
  out.what = t.any ? verb + " --any" : verb + " '" + out.id + "'";
  if (!t.any) {
    if (auto st = validate_id(out.id); !st) {
      ctx.fail(verb, st.error());
      return std::nullopt;
    }
  }
  auto msg = parse_json_arg(t.any ? t.first : t.second, "MESSAGE");
  if (!msg) {
    ctx.fail(out.what, msg.error());
    return std::nullopt;
  }
  out.message = std::move(*msg);
  return out;
}

}  // namespace dynmgr::cli
