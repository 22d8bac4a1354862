#include "worker/identity.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "shared/run_as.hpp"

namespace dynmgr {
namespace {

Error step_failed(const std::string& what, int err) {
  return make_error(Errc::kFailed, "unable to " + what + ": " + std::strerror(err));
}

// "uid:gid" -> the ids; nullopt for anything else.
std::optional<RunAs> parse_run_as(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), text.data() + colon, uid);
  if (ec != std::errc() || p != text.data() + colon) return std::nullopt;
  auto [q, ec2] = std::from_chars(text.data() + colon + 1, end, gid);
  if (ec2 != std::errc() || q != end) return std::nullopt;
  return RunAs{static_cast<uid_t>(uid), static_cast<gid_t>(gid)};
}

// The uid's supplementary groups with gid, as login would set them; only gid
// for a uid without a passwd entry.
Status set_groups(const RunAs& who) {
  use_only_files_when_static();
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = 0;
  while ((rc = ::getpwuid_r(who.uid, &pw, buf.data(), buf.size(), &found)) == ERANGE &&
         buf.size() < (1U << 20)) {
    buf.resize(buf.size() * 2);
  }
  if (found != nullptr) {
    if (::initgroups(pw.pw_name, who.gid) != 0) {
      return step_failed("set the supplementary groups of user '" + std::string(pw.pw_name) + "'",
                         errno);
    }
    return {};
  }
  if (::setgroups(1, &who.gid) != 0) {
    return step_failed("set the supplementary groups to gid " + std::to_string(who.gid), errno);
  }
  return {};
}

}  // namespace

Status drop_worker_identity(ControlSender& control) {
  const char* text = std::getenv(kRunAsEnv);
  if (text == nullptr) return {};
  const std::string given = text;
  ::unsetenv(kRunAsEnv);
  const auto who = parse_run_as(given);
  if (!who) {
    return make_error(Errc::kInvalid, std::string(kRunAsEnv) + " is '" + given + "', not uid:gid");
  }
  const std::string target = "uid " + std::to_string(who->uid) + " gid " + std::to_string(who->gid);
  // Root-owned (0600) and shared by all workers: opened now or never.
  if (auto st = control.open(); !st) {
    return make_error(Errc::kFailed, "unable to open the control queue before running as " +
                                         target + ": " + st.error().message);
  }
  if (auto st = set_groups(*who); !st) return st;
  if (::setresgid(who->gid, who->gid, who->gid) != 0) {
    return step_failed("set gid " + std::to_string(who->gid), errno);
  }
  if (::setresuid(who->uid, who->uid, who->uid) != 0) {
    return step_failed("set uid " + std::to_string(who->uid), errno);
  }
  if (who->uid != 0 && ::setuid(0) == 0) {
    return make_error(Errc::kFailed, "running as " + target + " could still become root again");
  }
  return {};
}

}  // namespace dynmgr
