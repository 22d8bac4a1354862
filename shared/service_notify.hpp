#pragma once
// Tells systemd how the supervisor is doing: the sd_notify(3) datagram
// protocol, written out here instead of linked from libsystemd.
//
// Why not libsystemd: dynmgr's executables are linked fully static (start-up
// speed, cmake/warnings.cmake, BENCHMARKS.md), and Debian 12's libsystemd-dev
// ships only libsystemd.so, no libsystemd.a (the top CMakeLists.txt checks
// and says so at configure time). The protocol is documented as stable and
// is one datagram: "KEY=VALUE" lines sent to the AF_UNIX socket named by
// $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
//
// Contract: a ServiceNotifier is inactive (every send a no-op returning ok)
// when NOTIFY_SOCKET is unset or empty, so a supervisor outside systemd pays
// nothing. A send waits at most 100 ms (SO_SNDTIMEO; systemd's queue is
// never full in practice) and never raises SIGPIPE; a failure is a value the caller logs, never a
// reason to stop. Thread-compatible: const methods may be called from any thread.

#include <string>
#include <string_view>

#include "shared/error.hpp"

namespace dynmgr {

class ServiceNotifier {
 public:
  ServiceNotifier() = default;  // inactive
  explicit ServiceNotifier(std::string socket) : socket_(std::move(socket)) {}

  // From $NOTIFY_SOCKET (read once, now). Leaves the variable set: a
  // re-executed supervisor reads it again; workers must not see it (the
  // spawner leaves it out of their environment).
  static ServiceNotifier from_environment();

  bool active() const noexcept { return !socket_.empty(); }
  const std::string& socket() const noexcept { return socket_; }

  // Sends one datagram; state is newline-separated "KEY=VALUE" assignments
  // ("READY=1\nSTATUS=up, 3 workers"). kInvalid for a socket address that is
  // neither absolute nor "@abstract", or too long; the syscall's error otherwise.
  Status notify(std::string_view state) const;

 private:
  std::string socket_;
};

// The value of a STATUS= line: newlines would start another assignment, so
// they become spaces.
std::string notify_status_line(std::string_view text);

}  // namespace dynmgr
