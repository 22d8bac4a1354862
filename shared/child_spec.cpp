#include "shared/child_spec.hpp"

#include <cmath>

namespace dynmgr {
namespace {

Error field_error(std::string_view field, const json::value& v, std::string_view expect) {
  return make_error(Errc::kInvalid, "invalid spec field '" + std::string(field) + "': " +
                                        to_json(v) + " is not " + std::string(expect));
}

Result<std::uint32_t> get_u32(const json::value& v, std::string_view field) {
  std::int64_t n = -1;
  if (v.is_int64()) n = v.get_int64();
  // A uint64 only appears above INT64_MAX: an integer, but out of range (n stays -1).
  else if (v.is_uint64()) n = v.get_uint64() <= INT32_MAX ? static_cast<std::int64_t>(v.get_uint64()) : -1;
  // Range-check a double before converting it: out of range, the cast is undefined.
  else if (v.is_double() && std::floor(v.get_double()) == v.get_double()) {
    const double d = v.get_double();
    n = (d >= 0 && d <= INT32_MAX) ? static_cast<std::int64_t>(d) : -1;
  }
  else return field_error(field, v, "an integer");
  if (n < 0 || n > INT32_MAX) return field_error(field, v, "in 0..2147483647");
  return static_cast<std::uint32_t>(n);
}

}  // namespace

Status ChildSpec::validate() const {
  if (auto st = check_finite(payload, "payload"); !st) return st;
  if (timeout_ms > INT32_MAX) {
    return make_error(Errc::kInvalid, "invalid spec field 'timeout': " +
                                          std::to_string(timeout_ms) + " is not in 0..2147483647");
  }
  if (!(lull >= 1.0 && lull <= 1000.0) || std::isnan(lull)) {
    return make_error(Errc::kInvalid, "invalid spec field 'lull': " + std::to_string(lull) +
                                          " is not in 1.0..1000.0");
  }
  if (max_restarts > 0 && within_ms == 0) {
    return make_error(Errc::kInvalid,
                      "invalid spec field 'within': 0 is not positive (max_restarts is " +
                          std::to_string(max_restarts) + ")");
  }
  return {};
}

json::object ChildSpec::to_json() const {
  json::object o;
  o["payload"] = payload;
  o["timeout"] = timeout_ms;
  o["lull"] = lull;
  o["instant_perform"] = instant_perform;
  o["restart"] = std::string(to_string(restart));
  o["max_restarts"] = max_restarts;
  o["within"] = within_ms;
  if (!options.empty()) o["options"] = options;
  return o;
}

Result<ChildSpec> ChildSpec::from_json(const json::value& v) {
  if (!v.is_object()) return make_error(Errc::kInvalid, "invalid spec: " + dynmgr::to_json(v) + " is not an object");
  ChildSpec s;
  for (const auto& [key, val] : v.get_object()) {
    if (key == "payload") {
      s.payload = val;
    } else if (key == "timeout") {
      auto n = get_u32(val, "timeout");
      if (!n) return n.error();
      s.timeout_ms = *n;
    } else if (key == "lull") {
      if (!val.is_number()) return field_error("lull", val, "a number");
      s.lull = val.to_number<double>();
    } else if (key == "instant_perform") {
      if (!val.is_bool()) return field_error("instant_perform", val, "a boolean");
      s.instant_perform = val.get_bool();
    } else if (key == "restart") {
      if (!val.is_string()) return field_error("restart", val, "a string");
      auto r = parse_restart_type(val.get_string());
      if (!r) return r.error();
      s.restart = *r;
    } else if (key == "max_restarts") {
      auto n = get_u32(val, "max_restarts");
      if (!n) return n.error();
      s.max_restarts = *n;
    } else if (key == "within") {
      auto n = get_u32(val, "within");
      if (!n) return n.error();
      s.within_ms = *n;
    } else if (key == "options") {
      if (!val.is_object()) return field_error("options", val, "an object");
      s.options = val.get_object();
    } else {
      return make_error(Errc::kInvalid, "unknown spec field '" + std::string(key) + "'");
    }
  }
  if (auto st = s.validate(); !st) return st.error();
  return s;
}

}  // namespace dynmgr
