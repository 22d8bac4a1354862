#pragma once
// Test helpers that walk the described members of WorkerInfo, so tests of
// every encoding cover a new member without being edited.

#include <boost/describe/members.hpp>
#include <boost/mp11/algorithm.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "shared/enum_names.hpp"
#include "shared/worker_info.hpp"

namespace dynmgr::testing {

using WorkerMembers = boost::describe::describe_members<WorkerInfo, boost::describe::mod_public>;

// A value for member number i that differs from the default and from the
// other members.
template <class T>
T distinct_value(std::size_t i) {
  if constexpr (std::is_same_v<T, JsonText>) {
    return JsonText("{\"member\":" + std::to_string(i) + "}");
  } else if constexpr (std::is_same_v<T, std::string>) {
    return "member-" + std::to_string(i);
  } else if constexpr (std::is_same_v<T, ExitInfo>) {
    ExitInfo e;
    e.kind = ExitInfo::Kind::kSignaled;
    e.code = 9;
    e.reason = "killed by SIGKILL";
    return e;
  } else if constexpr (std::is_same_v<T, std::vector<ExitRecord>>) {
    std::vector<ExitRecord> v(2);
    v[0].at_ms = 2000 + i;
    v[0].uptime_ms = 30;
    v[0].exit = distinct_value<ExitInfo>(i);
    v[0].restarted = true;
    v[0].restart_in_ms = 400;
    v[1].at_ms = 1000 + i;
    v[1].exit.kind = ExitInfo::Kind::kExited;
    v[1].exit.code = 3;
    v[1].exit.reason = "exited with code 3";
    return v;
  } else if constexpr (boost::describe::has_describe_enumerators<T>::value) {
    return enums::kTable<T>.back().value;  // the last enumerator: never the default here
  } else if constexpr (std::is_same_v<T, bool>) {
    return true;
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(i) + 0.25;
  } else {
    return static_cast<T>(1000 + i);
  }
}

inline WorkerInfo every_member_set() {
  WorkerInfo r;
  std::size_t i = 0;
  boost::mp11::mp_for_each<WorkerMembers>([&](auto d) {
    using T = std::remove_cvref_t<decltype(r.*d.pointer)>;
    r.*d.pointer = distinct_value<T>(i++);
  });
  return r;
}

inline bool same(const ExitInfo& a, const ExitInfo& b) {
  return a.kind == b.kind && a.code == b.code && a.reason == b.reason;
}
template <class T>
inline bool same(const T& a, const T& b) {
  return a == b;
}

}  // namespace dynmgr::testing
