#include "shared/types.hpp"

#include "shared/enum_names.hpp"

#include <sys/wait.h>

#include <cstring>

namespace dynmgr {

std::string_view to_string(ManagerState s) noexcept { return enums::enum_name(s); }
std::string_view to_string(WorkerStatus s) noexcept { return enums::enum_name(s); }
std::string_view to_string(RestartType r) noexcept { return enums::enum_name(r, "permanent"); }
std::string_view to_string(ExitInfo::Kind k) noexcept { return enums::enum_name(k); }
std::string_view to_string(PoolStrategy s) noexcept { return enums::enum_name(s, "none"); }

std::optional<ManagerState> parse_manager_state(std::string_view s) noexcept {
  return enums::parse_enum<ManagerState>(s);
}
std::optional<WorkerStatus> parse_worker_status(std::string_view s) noexcept {
  return enums::parse_enum<WorkerStatus>(s);
}
std::optional<ExitInfo::Kind> parse_exit_kind(std::string_view s) noexcept {
  return enums::parse_enum<ExitInfo::Kind>(s);
}

Result<PoolStrategy> parse_pool_strategy(std::string_view s) {
  // kNone names "not a pool"; it is no strategy one can choose.
  if (auto p = enums::parse_enum<PoolStrategy>(s); p && *p != PoolStrategy::kNone) return *p;
  return make_error(Errc::kInvalid, "invalid pickup strategy '" + std::string(s) +
                                        "': expected hashring, random or stream");
}

Result<RestartType> parse_restart_type(std::string_view s) {
  if (auto r = enums::parse_enum<RestartType>(s)) return *r;
  return make_error(Errc::kInvalid, "invalid restart type '" + std::string(s) +
                                        "': expected " + enums::expected_names<RestartType>());
}

ExitInfo ExitInfo::from_wait_status(int status) {
  ExitInfo e;
  if (WIFEXITED(status)) {
    e.kind = Kind::kExited;
    e.code = WEXITSTATUS(status);
    e.reason = "exited with code " + std::to_string(e.code);
  } else if (WIFSIGNALED(status)) {
    e.kind = Kind::kSignaled;
    e.code = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(e.code);
    e.reason = std::string("killed by SIG") + (abbrev != nullptr ? abbrev : std::to_string(e.code));
    if (WCOREDUMP(status)) e.reason += " (core dumped)";
  }
  return e;
}

std::string ExitInfo::describe() const {
  if (kind == Kind::kNone) return "none";
  return reason;
}

Status validate_id(std::string_view id) {
  if (id.empty()) return make_error(Errc::kInvalid, "invalid id: must not be empty");
  if (id.size() > kMaxIdLength) {
    return make_error(Errc::kInvalid, "invalid id: " + std::to_string(id.size()) +
                                          " bytes, the limit is " + std::to_string(kMaxIdLength));
  }
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f) {
      return make_error(Errc::kInvalid, "invalid id: contains a control character");
    }
  }
  return {};
}

}  // namespace dynmgr
