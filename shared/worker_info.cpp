#include "shared/worker_info.hpp"

#include <algorithm>
#include <array>
#include <boost/describe/members.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/mp11/algorithm.hpp>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <type_traits>

#include "shared/clock.hpp"
#include "shared/enum_names.hpp"

namespace dynmgr {
namespace {

using Members = boost::describe::describe_members<WorkerInfo, boost::describe::mod_public>;
constexpr std::size_t kMemberCount = boost::mp11::mp_size<Members>::value;

template <class T>
constexpr bool kIsDescribedEnum = boost::describe::has_describe_enumerators<T>::value;

// The one computed field: "status" is the display status.
template <class D>
constexpr bool is_status() {
  if constexpr (std::is_same_v<std::remove_cv_t<decltype(D::pointer)>,
                               WorkerStatus WorkerInfo::*>) {
    return D::pointer == &WorkerInfo::status;
  } else {
    return false;
  }
}

json::value parse_or_string(std::string_view text, const json::storage_ptr& sp) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, sp);
  if (ec) return json::value(json::string(text, sp));  // never fails a display: show the raw text
  return v;
}

// ---- last_exit: null, or {"kind", <code under its kind's name>, "reason"}
const char* exit_code_key(ExitInfo::Kind k) {
  switch (k) {
    case ExitInfo::Kind::kSignaled:
    case ExitInfo::Kind::kOverrun:    // killed by the supervisor (code: the signal)
    case ExitInfo::Kind::kMaxMemory:
      return "signal";
    case ExitInfo::Kind::kSpawnFailed:
      return "errno";
    case ExitInfo::Kind::kExited:
    case ExitInfo::Kind::kUnknown:
    case ExitInfo::Kind::kNone:
      break;
  }
  return "code";
}

json::value exit_json(const ExitInfo& e, const json::storage_ptr& sp) {
  if (e.kind == ExitInfo::Kind::kNone) return nullptr;
  json::object o(sp);
  o.reserve(3);
  o.emplace("kind", json::string(to_string(e.kind), sp));
  o.emplace(exit_code_key(e.kind), e.code);
  o.emplace("reason", json::string(e.reason, sp));
  return o;
}

ExitInfo exit_from_json(const json::value& v) {
  ExitInfo e;
  if (!v.is_object()) return e;
  const auto& o = v.get_object();
  const auto kind = parse_exit_kind(get_string(o, "kind").value_or(""));
  if (!kind || *kind == ExitInfo::Kind::kNone) return e;
  e.kind = *kind;
  e.code = static_cast<int>(get_int(o, exit_code_key(e.kind)).value_or(0));
  e.reason = std::string(get_string(o, "reason").value_or(""));
  return e;
}

// ---- exits: [{"at", "at_ms", "uptime_ms", "exit", "restarted", "restart_in_ms"}], newest first
json::value exits_json(const std::vector<ExitRecord>& v, const json::storage_ptr& sp) {
  json::array a(sp);
  a.reserve(v.size());
  for (const auto& x : v) {
    json::object o(sp);
    o.reserve(6);
    o.emplace("at", json::string(utc_timestamp(x.at_ms), sp));
    o.emplace("at_ms", x.at_ms);
    o.emplace("uptime_ms", x.uptime_ms);
    o.emplace("exit", exit_json(x.exit, sp));
    o.emplace("restarted", x.restarted);
    o.emplace("restart_in_ms", x.restart_in_ms);
    a.push_back(std::move(o));
  }
  return a;
}

bool exits_from_json(const json::value& v, std::vector<ExitRecord>& out) {
  if (!v.is_array()) return false;
  out.clear();
  for (const auto& item : v.get_array()) {
    if (!item.is_object()) return false;
    const auto& o = item.get_object();
    ExitRecord x;
    x.at_ms = static_cast<std::uint64_t>(get_int(o, "at_ms").value_or(0));
    x.uptime_ms = static_cast<std::uint64_t>(get_int(o, "uptime_ms").value_or(0));
    if (const auto* e = get_field(o, "exit")) x.exit = exit_from_json(*e);
    x.restarted = get_bool(o, "restarted").value_or(false);
    x.restart_in_ms = static_cast<std::uint64_t>(get_int(o, "restart_in_ms").value_or(0));
    out.push_back(std::move(x));
  }
  return true;
}

// One exit per line: "<UTC> killed by SIGKILL, up 1.2 s, restarted after 100 ms".
std::string exits_text(const std::vector<ExitRecord>& v) {
  if (v.empty()) return "-";
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += '\n';
    char up[32];
    std::snprintf(up, sizeof up, "%.1f s", static_cast<double>(x.uptime_ms) / 1000.0);
    s += utc_timestamp(x.at_ms) + " " + x.exit.describe() + ", up " + up +
         (x.restarted ? ", restarted after " + std::to_string(x.restart_in_ms) + " ms"
                      : ", not restarted");
  }
  return s;
}

// ---- one member to JSON, by type
template <class T>
json::value to_value(const T& v, const json::storage_ptr& sp) {
  if constexpr (std::is_same_v<T, JsonText>) {
    return parse_or_string(v, sp);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return json::string(v, sp);
  } else if constexpr (std::is_same_v<T, ExitInfo>) {
    return exit_json(v, sp);
  } else if constexpr (std::is_same_v<T, std::vector<ExitRecord>>) {
    return exits_json(v, sp);
  } else if constexpr (kIsDescribedEnum<T>) {
    return json::string(to_string(v), sp);
  } else {
    static_assert(std::is_arithmetic_v<T>, "describe how this member type is encoded");
    return json::value(v, sp);
  }
}

// ---- one member as JSON text, by type (append_worker_json)
// A string as Boost.JSON's serializer writes it: the common one, with nothing
// to escape, as it is.
void append_string(std::string& out, std::string_view s) {
  const bool plain = std::none_of(s.begin(), s.end(), [](char c) {
    return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
  });
  if (plain) {
    // One growth, not three appends (std::string's members are not inlined).
    const std::size_t at = out.size();
    out.resize(at + s.size() + 2);
    char* p = out.data() + at;
    *p = '"';
    std::memcpy(p + 1, s.data(), s.size());
    p[s.size() + 1] = '"';
  } else {
    out += json::serialize(json::string_view(s.data(), s.size()));
  }
}

template <class T>
void append_member(std::string& out, const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    append_string(out, v);
  } else if constexpr (kIsDescribedEnum<T>) {
    append_string(out, to_string(v));
  } else if constexpr (std::is_same_v<T, bool>) {
    out += v ? "true" : "false";
  } else if constexpr (std::is_integral_v<T>) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  } else {
    // JSON texts, exits, doubles: as worker_to_json makes them, from a stack
    // arena, through the same to_json.
    unsigned char arena[2048];
    json::monotonic_resource mr(arena, sizeof arena);
    out += to_json(to_value(v, json::storage_ptr(&mr)));
  }
}

// ---- one member from JSON, by type; false when the field has the wrong shape
template <class T>
bool from_value(const json::value& v, T& out) {
  if constexpr (std::is_same_v<T, JsonText>) {
    out = to_json(v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return false;
    out.assign(v.get_string().data(), v.get_string().size());
  } else if constexpr (std::is_same_v<T, ExitInfo>) {
    out = exit_from_json(v);
  } else if constexpr (std::is_same_v<T, std::vector<ExitRecord>>) {
    return exits_from_json(v, out);
  } else if constexpr (kIsDescribedEnum<T>) {
    if (!v.is_string()) return false;
    const auto parsed = enums::parse_enum<T>(v.get_string());
    if (!parsed) return false;
    out = *parsed;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_bool()) return false;
    out = v.get_bool();
  } else {
    static_assert(std::is_arithmetic_v<T>, "describe how this member type is decoded");
    boost::system::error_code ec;
    const T n = v.to_number<T>(ec);
    if (ec) return false;
    out = n;
  }
  return true;
}

// ---- one member as text, for `get`
template <class T>
std::string to_text(const T& v) {
  if constexpr (std::is_same_v<T, JsonText> || std::is_same_v<T, std::string>) {
    return v;
  } else if constexpr (std::is_same_v<T, ExitInfo>) {
    return v.kind == ExitInfo::Kind::kNone ? "-" : v.describe();
  } else if constexpr (std::is_same_v<T, std::vector<ExitRecord>>) {
    return exits_text(v);
  } else if constexpr (kIsDescribedEnum<T>) {
    return std::string(to_string(v));
  } else if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_floating_point_v<T>) {
    std::ostringstream s;
    s << v;
    return s.str();
  } else {
    static_assert(std::is_integral_v<T>, "describe how this member type is shown");
    return std::to_string(v);
  }
}

}  // namespace

json::value exit_to_json(const ExitInfo& e, const json::storage_ptr& sp) {
  return exit_json(e, sp);
}

std::string_view display_status(const WorkerInfo& r) noexcept {
  if (r.status == WorkerStatus::kRunning && r.busy_since_ms != 0) return "busy";
  return to_string(r.status);
}

json::object worker_to_json(const WorkerInfo& r, json::storage_ptr sp) {
  // Reserved up front and filled with emplace: `state --json` builds 10 000 of
  // these, and rehashing plus operator[] lookups were a third of its time.
  json::object o(sp);
  o.reserve(kMemberCount);
  boost::mp11::mp_for_each<Members>([&](auto d) {
    if constexpr (is_status<decltype(d)>()) {
      o.emplace(d.name, json::string(display_status(r), sp));
    } else {
      o.emplace(d.name, to_value(r.*d.pointer, sp));
    }
  });
  return o;
}

void append_worker_json(const WorkerInfo& r, std::string& out) {
  // Each member's `{"name":` or `,"name":`, made once.
  static const std::array<std::string, kMemberCount> keys = [] {
    std::array<std::string, kMemberCount> k;
    std::size_t i = 0;
    boost::mp11::mp_for_each<Members>([&](auto d) {
      std::string name;
      append_string(name, d.name);
      k[i] = (i == 0 ? "{" : ",") + name + ":";
      ++i;
    });
    return k;
  }();
  std::size_t i = 0;
  boost::mp11::mp_for_each<Members>([&](auto d) {
    out += keys[i++];
    if constexpr (is_status<decltype(d)>()) {
      append_string(out, display_status(r));
    } else {
      append_member(out, r.*d.pointer);
    }
  });
  out += '}';
}

Result<WorkerInfo> worker_from_json(const json::object& o) {
  if (!get_string(o, "id") || !get_int(o, "slot") || !get_string(o, "status")) {
    return make_error(Errc::kInvalid, "not a worker record");
  }
  WorkerInfo r;
  std::string bad;
  boost::mp11::mp_for_each<Members>([&](auto d) {
    const json::value* v = o.if_contains(d.name);
    if (v == nullptr || !bad.empty()) return;
    if constexpr (is_status<decltype(d)>()) {
      if (v->is_string() && v->get_string() == "busy") {  // display_status()
        r.status = WorkerStatus::kRunning;
        return;
      }
    }
    if (!from_value(*v, r.*d.pointer)) bad = d.name;
  });
  if (!bad.empty()) {
    return make_error(Errc::kInvalid, "not a worker record: field '" + bad + "' is " +
                                          to_json(*o.if_contains(bad)));
  }
  return r;
}

std::vector<WorkerField> worker_fields(const WorkerInfo& r) {
  std::vector<WorkerField> out;
  out.reserve(kMemberCount);
  boost::mp11::mp_for_each<Members>([&](auto d) {
    if constexpr (is_status<decltype(d)>()) {
      out.push_back({d.name, std::string(display_status(r))});
    } else {
      out.push_back({d.name, to_text(r.*d.pointer)});
    }
  });
  return out;
}

}  // namespace dynmgr
