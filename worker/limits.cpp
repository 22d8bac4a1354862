#include "worker/limits.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "shared/json.hpp"

namespace dynmgr {
namespace {

Status set_limit(const char* name, int resource, std::uint64_t soft, std::uint64_t hard) {
  const rlimit rl{static_cast<rlim_t>(soft), static_cast<rlim_t>(hard)};
  if (::setrlimit(resource, &rl) != 0) {
    const int err = errno;
    return make_error(Errc::kFailed, std::string("unable to set rlimits.") + name + " to " +
                                         std::to_string(soft) + ": " + std::strerror(err));
  }
  return {};
}

}  // namespace

Status apply_rlimits(const Rlimits& limits) {
  if (limits.nofile) {
    if (auto st = set_limit("nofile", RLIMIT_NOFILE, *limits.nofile, *limits.nofile); !st) return st;
  }
  if (limits.as) {
    if (auto st = set_limit("as", RLIMIT_AS, *limits.as, *limits.as); !st) return st;
  }
  if (limits.cpu) {
    if (auto st = set_limit("cpu", RLIMIT_CPU, *limits.cpu, *limits.cpu + 1); !st) return st;
  }
  if (limits.core) {
    if (auto st = set_limit("core", RLIMIT_CORE, *limits.core, *limits.core); !st) return st;
  }
  return {};
}

Status apply_worker_rlimits() {
  const char* text = std::getenv(kRlimitsEnv);
  if (text == nullptr) return {};
  auto v = parse_json(text, "rlimits");
  if (!v) return v.error();
  json::object o;
  o["rlimits"] = std::move(*v);
  auto spec = ChildSpec::from_json(json::value(std::move(o)));
  if (!spec) return spec.error();
  ::unsetenv(kRlimitsEnv);
  return apply_rlimits(spec->rlimits);
}

}  // namespace dynmgr
