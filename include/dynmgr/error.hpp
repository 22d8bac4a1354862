#pragma once
// Error values for every expected failure in dynmgr. Exceptions from Boost or
// CLI11 are caught at the adapter that calls them and turned into an Error here;
// they never cross a module boundary or the event loop.

#include <boost/system/result.hpp>

#include <string>
#include <string_view>

namespace dynmgr {

// The kinds of failure a caller can act on. Each maps to one CLI exit code
// (see exit_code()), documented in README "Exit codes".
enum class Errc : int {
  kFailed = 1,        // the operation failed (generic)
  kInvalid,           // bad input: JSON, id, spec field, flag
  kTooLarge,          // payload / message over the configured limit
  kNotFound,          // no such worker
  kExists,            // put_new on an existing id
  kFull,              // registry capacity reached
  kTimeout,           // deadline passed
  kNoSupervisor,      // nothing running under the instance name
  kAlreadyRunning,    // a supervisor already holds the instance lock
  kDeadQueue,         // a message queue is unusable (robust mutex owner died)
  kCrashed,           // the worker died while handling a call
  kNoFreeWorker,      // pool: every worker is busy
  kNotPool,           // --any on a manager that is not a pool
  kTorn,              // a registry slot stayed mid-update (writer died)
  kStale,             // a shared object is stale / of another layout
  kSystem,            // a syscall failed (errno in the message)
};

// Process exit code for the CLI: 1 failed, 2 usage/invalid, 3 not found,
// 4 timed out, 5 no supervisor.
int exit_code(Errc code) noexcept;
std::string_view errc_name(Errc code) noexcept;

struct Error {
  Errc code = Errc::kFailed;
  std::string message;  // "<what failed>: <why>" without a program prefix
};

Error make_error(Errc code, std::string message);
// An Error for a failed syscall: "<what>: <strerror(err)>".
Error errno_error(std::string_view what, int err);

template <class T>
using Result = boost::system::result<T, Error>;
using Status = boost::system::result<void, Error>;

// Found by ADL when .value() is called on a Result holding an Error.
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

}  // namespace dynmgr
