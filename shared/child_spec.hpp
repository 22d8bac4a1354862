#pragma once
// A worker's specification (Tarearbol's child spec), validated up front: every
// error names the field and the value.

#include "shared/error.hpp"
#include "shared/json.hpp"
#include "shared/types.hpp"

#include <cstdint>

namespace dynmgr {

struct ChildSpec {
  json::value payload = nullptr;        // initial payload
  std::uint32_t timeout_ms = 1000;      // between performs; 0 = never perform
  double lull = 1.1;                    // overrun when a perform/call takes > lull * timeout
  bool instant_perform = false;         // perform right after init, not after one timeout
  RestartType restart = RestartType::kPermanent;
  std::uint32_t max_restarts = 5;       // intensity: at most this many restarts ...
  union {  // ... within this window, else `failed`. restart_window_ms: the old
           // name, until supervisor.cpp says within_ms.
    std::uint32_t within_ms = 30'000;
    std::uint32_t restart_window_ms;
  };
  json::object options;                 // manager-specific (exec manager: command, env, cwd)

  Status validate() const;
  json::object to_json() const;
  // Fields absent from o keep their defaults; unknown fields are rejected.
  static Result<ChildSpec> from_json(const json::value& v);
};

}  // namespace dynmgr
