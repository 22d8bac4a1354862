#pragma once
// dynmgr::Client — the C++ way to drive a running dynmgr instance.
//
//  * put / put_new / del / restart / stop / ping go to the supervisor over the
//    control queue and are synchronous: they return once the supervisor says
//    what happened (put: once the worker is registered and has finished init).
//  * get / state read the registry directly from shared memory (no round trip).
//  * call / cast go straight to the worker's mailbox; the supervisor is not on
//    the data path. call waits for the reply, and reports kCrashed (found through
//    the registry, not by timing out) when the worker dies before replying.
//
// Errors are values (Result/Status); error.code maps to the CLI's exit codes.
// A Client is not thread-safe; use one per thread. It owns one reply queue,
// created on first use and removed by the destructor (the supervisor removes
// those of clients that died).

#include "shared/child_spec.hpp"
#include "shared/clock.hpp"
#include "shared/error.hpp"
#include "shared/json.hpp"
#include "shared/registry.hpp"

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dynmgr {

class Client {
 public:
  struct Options {
    std::string instance;        // empty: $DYNMGR_NAME or "default"
    Millis timeout{10'000};      // per request
  };

  // Opens the instance's registry. kNoSupervisor if nothing runs under the name.
  static Result<Client> connect(Options options);
  static Result<Client> connect();

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  void set_timeout(Millis timeout) noexcept { timeout_ = timeout; }
  Millis timeout() const noexcept { return timeout_; }
  const std::string& instance() const noexcept;

  Status ping();
  Result<SlotRecord> put(std::string_view id, const ChildSpec& spec);
  // kExists (nothing changed) when id is present.
  Result<SlotRecord> put_new(std::string_view id, const ChildSpec& spec);
  Status del(std::string_view id);
  // Back to children_specs(): every worker is stopped, the initial ones started.
  Status restart();
  // Stops the supervisor and every worker; returns once they are gone.
  Status stop();

  Result<SlotRecord> get(std::string_view id) const;
  Result<std::vector<SlotRecord>> state() const;
  RegistryHeaderInfo header() const;

  Result<json::value> call(std::string_view id, const json::value& message);
  Status cast(std::string_view id, const json::value& message);
  // Pool dispatch: the supervisor's manager must be a pool.
  Result<json::value> call_any(const json::value& message);
  Status cast_any(const json::value& message);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl, Millis timeout);
  std::unique_ptr<Impl> impl_;
  Millis timeout_;
};

}  // namespace dynmgr
