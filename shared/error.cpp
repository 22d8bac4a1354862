#include "shared/error.hpp"

#include <cstring>
#include <stdexcept>

namespace dynmgr {

int exit_code(Errc code) noexcept {
  switch (code) {
    case Errc::kInvalid:
    case Errc::kTooLarge:
    case Errc::kExists:
      return 2;
    case Errc::kNotFound:
      return 3;
    case Errc::kTimeout:
      return 4;
    case Errc::kNoSupervisor:
    case Errc::kStale:
      return 5;
    default:
      return 1;
  }
}

std::string_view errc_name(Errc code) noexcept {
  switch (code) {
    case Errc::kFailed: return "failed";
    case Errc::kInvalid: return "invalid";
    case Errc::kTooLarge: return "too_large";
    case Errc::kNotFound: return "not_found";
    case Errc::kExists: return "exists";
    case Errc::kFull: return "full";
    case Errc::kTimeout: return "timeout";
    case Errc::kNoSupervisor: return "no_supervisor";
    case Errc::kAlreadyRunning: return "already_running";
    case Errc::kDeadQueue: return "dead_queue";
    case Errc::kCrashed: return "crashed";
    case Errc::kNoFreeWorker: return "no_free_worker";
    case Errc::kNotPool: return "not_pool";
    case Errc::kTorn: return "torn";
    case Errc::kStale: return "stale";
    case Errc::kSystem: return "system";
  }
  return "failed";
}

Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

Error errno_error(std::string_view what, int err) {
  return Error{Errc::kSystem, std::string(what) + ": " + std::strerror(err)};
}

void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

}  // namespace dynmgr
