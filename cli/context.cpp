#include "cli/context.hpp"

#include <iostream>

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
  std::cerr << "dynmgrctl: " << what << ": " << error.message << '\n';
  exit_code = dynmgr::exit_code(error.code);
  return exit_code;
}

int Context::fail(const std::string& what, Errc code, const std::string& why) {
  return fail(what, make_error(code, why));
}

Result<json::value> parse_json_arg(const std::string& text, const std::string& what) {
  return parse_json(text, what);
}

}  // namespace dynmgr::cli
