#pragma once
// The supervisor side's one adapter for Manager callbacks. Every call of user
// code on the loop thread goes through here: an exception is logged with the
// callback's name and replaced by a safe answer, so it never crosses the loop.
// (The worker side has its own, in worker/worker_runtime.cpp.)

#include "dynmgr/manager.hpp"

#include <map>
#include <optional>
#include <string>

namespace dynmgr {

class ManagerCalls {
 public:
  explicit ManagerCalls(Manager& m) : m_(m) {}

  std::map<std::string, ChildSpec> children_specs();        // {} if it throws
  std::optional<PoolSpec> pool();                           // not a pool if it throws
  StateChangeAnswer handle_state_change(ManagerState s);    // kOk if it throws
  void handle_timeout(const TimeoutInfo& info);
  Status check_spec(const std::string& id, ChildSpec& spec);  // kFailed if it throws
  Result<std::map<std::string, ChildSpec>> reload_children(const std::string& file);  // kFailed if it throws

 private:
  Manager& m_;
};

}  // namespace dynmgr
