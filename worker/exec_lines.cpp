#include "worker/exec_lines.hpp"

#include <cstdint>

namespace dynmgr::exec_lines {

const char* op_name(Op op) noexcept {
  switch (op) {
    case Op::kPerform:
      return "perform";
    case Op::kCall:
      return "call";
    case Op::kCast:
      return "cast";
  }
  return "?";
}

std::string cut(std::string_view s, std::size_t n) {
  return s.size() <= n ? std::string(s) : std::string(s.substr(0, n)) + "...";
}

std::optional<std::string> take_line(std::string& buffer) {
  for (;;) {
    const auto nl = buffer.find('\n');
    if (nl == std::string::npos) return std::nullopt;
    std::string line = buffer.substr(0, nl);
    buffer.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;  // tolerate blank lines
    return line;
  }
}

Result<json::object> parse_object(std::string_view line, std::string_view op) {
  auto v = parse_json(line, "the command's answer");
  if (!v) return make_error(Errc::kInvalid, "command wrote invalid JSON: " + cut(line));
  if (!v->is_object()) {
    return make_error(Errc::kInvalid,
                      "command answered " + std::string(op) + " with a non-object: " + cut(line));
  }
  return std::move(v->get_object());
}

Result<Response> to_response(const json::object& o, Op op) {
  const std::string name = op_name(op);
  if (op == Op::kCall) {
    if (const json::value* reply = o.if_contains("reply")) {
      if (const json::value* rp = o.if_contains("replace")) {
        return Response::replace(*rp).with_reply(*reply);
      }
      return Response::ok(*reply);
    }
  }
  if (auto h = get_bool(o, "halt"); h && *h) return Response::halt();
  if (const json::value* rp = o.if_contains("replace")) {
    if (auto id = get_string(o, "id")) return Response::replace(std::string(*id), *rp);
    return Response::replace(*rp);
  }
  if (const json::value* t = o.if_contains("timeout")) {
    auto ms = get_int(o, "timeout");
    if (!ms || *ms < 0 || *ms > INT32_MAX) {
      return make_error(Errc::kInvalid,
                        "command answered " + name + " with an invalid timeout: " + to_json(*t));
    }
    const json::value* r = o.if_contains("result");
    return Response::timeout(static_cast<std::uint32_t>(*ms),
                             r != nullptr ? *r : json::value(nullptr));
  }
  if (const json::value* ok = o.if_contains("ok")) return Response::ok(*ok);
  return make_error(Errc::kInvalid,
                    "command answered " + name + " with an unknown response: " + cut(to_json(o)));
}

}  // namespace dynmgr::exec_lines
