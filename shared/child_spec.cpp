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

// 0..2^63-1 (a byte count, a second count).
Result<std::uint64_t> get_u64(const json::value& v, std::string_view field) {
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<std::uint64_t>(v.get_int64());
  if (v.is_uint64() && v.get_uint64() <= INT64_MAX) return v.get_uint64();
  if (v.is_double() && std::floor(v.get_double()) == v.get_double() && v.get_double() >= 0 &&
      v.get_double() < 9.2e18) {
    return static_cast<std::uint64_t>(v.get_double());
  }
  if (v.is_number()) return field_error(field, v, "in 0..9223372036854775807");
  return field_error(field, v, "an integer");
}

Error rlimit_error(std::string_view name, std::uint64_t n, std::string_view expect) {
  return make_error(Errc::kInvalid, "invalid spec field 'rlimits." + std::string(name) + "': " +
                                        std::to_string(n) + " is not " + std::string(expect));
}

// A user or group: a string, or a JSON integer taken as its decimal id.
Result<std::string> get_identity(const json::value& v, std::string_view field) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_int64() && v.get_int64() >= 0 && v.get_int64() <= UINT32_MAX - 1) {
    return std::to_string(v.get_int64());
  }
  if (v.is_uint64() && v.get_uint64() <= UINT32_MAX - 1) return std::to_string(v.get_uint64());
  return field_error(field, v, "a name or an id in 0..4294967294");
}

Status check_identity(std::string_view field, const std::string& name) {
  const auto bad = [&](std::string_view why) {
    return make_error(Errc::kInvalid, "invalid spec field '" + std::string(field) + "': '" + name +
                                          "' " + std::string(why));
  };
  if (name.empty()) return {};
  if (name.size() > kMaxIdentityName) {
    return bad("is longer than " + std::to_string(kMaxIdentityName) + " bytes");
  }
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || c == '$';
    if (!ok) return bad("is not a user or group name (letters, digits, '.', '_', '-')");
  }
  if (name[0] == '-') return bad("is not a user or group name (it starts with '-')");
  return {};
}

}  // namespace

Result<std::uint64_t> parse_byte_size(std::string_view text) {
  const std::string given(text);
  const auto bad = [&given] {
    return make_error(Errc::kInvalid,
                      "'" + given + "' is not a size in bytes (a number, or with K, M or G)");
  };
  if (text.empty()) return bad();
  std::uint64_t shift = 0;
  switch (text.back()) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    default: break;
  }
  if (shift != 0) text.remove_suffix(1);
  if (text.empty() || text.size() > 19) return bad();
  std::uint64_t n = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return bad();
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n > (std::uint64_t{INT64_MAX} >> shift)) return bad();
  return n << shift;
}

json::object Rlimits::to_json() const {
  json::object o;
  if (nofile) o["nofile"] = *nofile;
  if (as) o["as"] = *as;
  if (cpu) o["cpu"] = *cpu;
  if (core) o["core"] = *core;
  return o;
}

Status ChildSpec::validate() const {
  if (auto st = check_finite(payload, "payload"); !st) return st;
  if (timeout_ms > INT32_MAX) {
    return make_error(Errc::kInvalid, "invalid spec field 'timeout': " +
                                          std::to_string(timeout_ms) + " is not in 0..2147483647");
  }
  if (passivate_after_ms > INT32_MAX) {
    return make_error(Errc::kInvalid, "invalid spec field 'passivate_after': " +
                                          std::to_string(passivate_after_ms) +
                                          " is not in 0..2147483647");
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
  if (max_memory > INT64_MAX) {
    return make_error(Errc::kInvalid, "invalid spec field 'max_memory': " +
                                          std::to_string(max_memory) +
                                          " is not in 0..9223372036854775807");
  }
  if (rlimits.nofile && (*rlimits.nofile < 16 || *rlimits.nofile > 1'048'576)) {
    return rlimit_error("nofile", *rlimits.nofile, "in 16..1048576");
  }
  if (rlimits.as && (*rlimits.as == 0 || *rlimits.as > INT64_MAX)) {
    return rlimit_error("as", *rlimits.as, "in 1..9223372036854775807");
  }
  if (rlimits.cpu && (*rlimits.cpu == 0 || *rlimits.cpu > INT32_MAX)) {
    return rlimit_error("cpu", *rlimits.cpu, "in 1..2147483647");
  }
  if (rlimits.core && *rlimits.core > INT64_MAX) {
    return rlimit_error("core", *rlimits.core, "in 0..9223372036854775807");
  }
  if (auto st = check_identity("user", user); !st) return st;
  if (auto st = check_identity("group", group); !st) return st;
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
  if (on_overrun != OnOverrun::kReport) o["on_overrun"] = std::string(dynmgr::to_string(on_overrun));
  if (max_memory != 0) o["max_memory"] = max_memory;
  if (passivate_after_ms != 0) o["passivate_after"] = passivate_after_ms;
  if (!rlimits.empty()) o["rlimits"] = rlimits.to_json();
  if (!user.empty()) o["user"] = user;
  if (!group.empty()) o["group"] = group;
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
    } else if (key == "passivate_after") {
      auto n = get_u32(val, "passivate_after");
      if (!n) return n.error();
      s.passivate_after_ms = *n;
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
    } else if (key == "on_overrun") {
      if (!val.is_string()) return field_error("on_overrun", val, "a string");
      auto r = parse_on_overrun(val.get_string());
      if (!r) return r.error();
      s.on_overrun = *r;
    } else if (key == "max_memory") {
      // A number of bytes, or a string with a K/M/G suffix.
      if (val.is_string()) {
        auto n = parse_byte_size(val.get_string());
        if (!n) return field_error("max_memory", val, "a size in bytes (a number, or with K, M or G)");
        s.max_memory = *n;
      } else {
        auto n = get_u64(val, "max_memory");
        if (!n) return n.error();
        s.max_memory = *n;
      }
    } else if (key == "rlimits") {
      if (!val.is_object()) return field_error("rlimits", val, "an object");
      for (const auto& [name, limit] : val.get_object()) {
        const std::string field = "rlimits." + std::string(name);
        std::optional<std::uint64_t>* slot = name == "nofile" ? &s.rlimits.nofile
                                             : name == "as"   ? &s.rlimits.as
                                             : name == "cpu"  ? &s.rlimits.cpu
                                             : name == "core" ? &s.rlimits.core
                                                              : nullptr;
        if (slot == nullptr) {
          return make_error(Errc::kInvalid, "unknown spec field '" + field +
                                                "' (expected nofile, as, cpu or core)");
        }
        auto n = get_u64(limit, field);
        if (!n) return n.error();
        *slot = *n;
      }
    } else if (key == "user" || key == "group") {
      auto name = get_identity(val, key);
      if (!name) return name.error();
      if (name->empty()) return field_error(key, val, "a name or an id (empty)");
      (key == "user" ? s.user : s.group) = std::move(*name);
    } else {
      return make_error(Errc::kInvalid, "unknown spec field '" + std::string(key) + "'");
    }
  }
  if (auto st = s.validate(); !st) return st.error();
  return s;
}

}  // namespace dynmgr
