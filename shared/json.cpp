#include "shared/json.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>

namespace dynmgr {

Result<json::value> parse_json(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    return make_error(Errc::kInvalid,
                      "invalid JSON in " + std::string(what) + ": " + ec.message());
  }
  if (auto st = check_finite(v, what); !st) return st.error();
  return v;
}

namespace {
bool all_finite(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_: return std::isfinite(v.get_double());
    case json::kind::array:
      for (const auto& e : v.get_array()) {
        if (!all_finite(e)) return false;
      }
      return true;
    case json::kind::object:
      for (const auto& kv : v.get_object()) {
        if (!all_finite(kv.value())) return false;
      }
      return true;
    default: return true;
  }
}
}  // namespace

Status check_finite(const json::value& v, std::string_view what) {
  if (all_finite(v)) return {};
  return make_error(Errc::kInvalid, "invalid JSON in " + std::string(what) +
                                        ": a number is out of range (not a finite double)");
}

std::string to_json(const json::value& v) { return json::serialize(v); }

const json::value* get_field(const json::object& o, std::string_view key) {
  return o.if_contains(key);
}

std::optional<std::string_view> get_string(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string_view(v->get_string());
}

std::optional<std::int64_t> get_int(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= INT64_MAX) return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double()) {
    const double d = v->get_double();
    if (d == static_cast<double>(static_cast<std::int64_t>(d))) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

std::optional<bool> get_bool(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_bool()) return std::nullopt;
  return v->get_bool();
}

}  // namespace dynmgr
