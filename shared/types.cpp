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

std::string_view to_string(OnOverrun o) noexcept { return enums::enum_name(o); }

Result<OnOverrun> parse_on_overrun(std::string_view s) {
  if (auto r = enums::parse_enum<OnOverrun>(s)) return *r;
  return make_error(Errc::kInvalid, "invalid spec field 'on_overrun': '" + std::string(s) +
                                        "' is not " + enums::expected_names<OnOverrun>());
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

namespace {
// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. Ids
// travel as JSON strings, which must be UTF-8.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}
}  // namespace

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
  if (!valid_utf8(id)) return make_error(Errc::kInvalid, "invalid id: not valid UTF-8");
  return {};
}

}  // namespace dynmgr
