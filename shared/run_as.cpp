#include "shared/run_as.hpp"

#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <vector>

namespace dynmgr {
namespace {

// A decimal id below 2^32 - 1 ((uid_t)-1 means "unchanged" to setreuid).
std::optional<std::uint32_t> parse_id(const std::string& s) {
  std::uint32_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || p != s.data() + s.size() || n == UINT32_MAX) return std::nullopt;
  return n;
}

std::size_t buffer_size(int which) {
  const long n = ::sysconf(which);
  return n > 0 ? static_cast<std::size_t>(n) : 16384;
}

struct User {
  uid_t uid = 0;
  gid_t gid = 0;
};

// nullopt: no such user. The *_r calls return the error (0 with no entry).
Result<std::optional<User>> lookup_user(const std::string& name, std::optional<uid_t> by_id) {
  std::vector<char> buf(buffer_size(_SC_GETPW_R_SIZE_MAX));
  for (;;) {
    passwd pw{};
    passwd* found = nullptr;
    const int rc = by_id ? ::getpwuid_r(*by_id, &pw, buf.data(), buf.size(), &found)
                         : ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < (1U << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0 && rc != ENOENT && rc != ESRCH) {
      return errno_error("unable to look up user '" + name + "'", rc);
    }
    if (found == nullptr) return std::optional<User>{};
    return std::optional<User>{User{pw.pw_uid, pw.pw_gid}};
  }
}

Result<std::optional<gid_t>> lookup_group(const std::string& name) {
  std::vector<char> buf(buffer_size(_SC_GETGR_R_SIZE_MAX));
  for (;;) {
    group gr{};
    group* found = nullptr;
    const int rc = ::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < (1U << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0 && rc != ENOENT && rc != ESRCH) {
      return errno_error("unable to look up group '" + name + "'", rc);
    }
    if (found == nullptr) return std::optional<gid_t>{};
    return std::optional<gid_t>{gr.gr_gid};
  }
}

}  // namespace

void use_only_files_when_static() noexcept {
  // AT_BASE is the program interpreter's load address: 0 when there is none,
  // i.e. in a statically linked executable.
  static const bool done = [] {
    if (::getauxval(AT_BASE) == 0) {
      ::__nss_configure_lookup("passwd", "files");
      ::__nss_configure_lookup("group", "files");
    }
    return true;
  }();
  (void)done;
}

Result<std::optional<RunAs>> resolve_run_as(const ChildSpec& spec) {
  if (spec.user.empty() && spec.group.empty()) return std::optional<RunAs>{};
  use_only_files_when_static();
  RunAs who{::geteuid(), ::getegid()};
  std::optional<gid_t> primary;
  if (!spec.user.empty()) {
    const auto id = parse_id(spec.user);
    // A name first: a name made of digits is a name when it exists (as
    // useradd would refuse to create one, this is only for odd databases).
    auto u = lookup_user(spec.user, std::nullopt);
    if (!u) return u.error();
    if (!*u && id) {
      u = lookup_user(spec.user, static_cast<uid_t>(*id));
      if (!u) return u.error();
      if (!*u) {
        if (spec.group.empty()) {
          return make_error(Errc::kInvalid,
                            "user " + spec.user + " has no passwd entry: give its group too");
        }
        *u = User{static_cast<uid_t>(*id), 0};
      }
    }
    if (!*u) return make_error(Errc::kInvalid, "unknown user '" + spec.user + "'");
    who.uid = (*u)->uid;
    primary = (*u)->gid;
  }
  if (!spec.group.empty()) {
    auto g = lookup_group(spec.group);
    if (!g) return g.error();
    if (!*g) {
      const auto id = parse_id(spec.group);
      if (!id) return make_error(Errc::kInvalid, "unknown group '" + spec.group + "'");
      *g = static_cast<gid_t>(*id);
    }
    who.gid = **g;
  } else if (primary) {
    who.gid = *primary;
  }
  return std::optional<RunAs>{who};
}

Result<std::optional<RunAs>> check_run_as(const ChildSpec& spec) {
  auto who = resolve_run_as(spec);
  if (!who || !*who) return who;
  const uid_t self = ::geteuid();
  if (self != 0 && (**who != RunAs{self, ::getegid()})) {
    const std::string asked = !spec.user.empty() && !spec.group.empty()
                                  ? "user '" + spec.user + "' and group '" + spec.group + "'"
                              : !spec.user.empty() ? "user '" + spec.user + "'"
                                                   : "group '" + spec.group + "'";
    return make_error(Errc::kInvalid, "cannot run a worker as " + asked +
                                          ": the supervisor runs as uid " + std::to_string(self) +
                                          ", not root");
  }
  return who;
}

bool restart_to_reopen_shared(std::optional<uid_t> uid) noexcept {
  return uid && *uid != ::geteuid();
}

}  // namespace dynmgr
