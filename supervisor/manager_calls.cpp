#include "supervisor/manager_calls.hpp"

#include "shared/log.hpp"

#include <exception>

namespace dynmgr {
namespace {

template <class T, class F>
T guarded(const char* callback, F&& f, T fallback) {
  try {
    return f();
  } catch (const std::exception& e) {
    log_error(std::string(callback) + " threw: " + e.what());
  } catch (...) {
    log_error(std::string(callback) + " threw a non-standard exception");
  }
  return fallback;
}

}  // namespace

std::map<std::string, ChildSpec> ManagerCalls::children_specs() {
  return guarded("children_specs", [&] { return m_.children_specs(); }, std::map<std::string, ChildSpec>{});
}

std::optional<PoolSpec> ManagerCalls::pool() {
  return guarded("pool", [&] { return m_.pool(); }, std::optional<PoolSpec>{});
}

StateChangeAnswer ManagerCalls::handle_state_change(ManagerState s) {
  return guarded("handle_state_change", [&] { return m_.handle_state_change(s); }, StateChangeAnswer::kOk);
}

void ManagerCalls::handle_timeout(const TimeoutInfo& info) {
  guarded("handle_timeout", [&] { m_.handle_timeout(info); return 0; }, 0);
}

Status ManagerCalls::check_spec(const std::string& id, ChildSpec& spec) {
  try {
    return m_.check_spec(id, spec);
  } catch (const std::exception& e) {
    return make_error(Errc::kFailed, std::string("check_spec threw: ") + e.what());
  } catch (...) {
    return make_error(Errc::kFailed, "check_spec threw a non-standard exception");
  }
}

Result<std::map<std::string, ChildSpec>> ManagerCalls::reload_children(const std::string& file) {
  try {
    return m_.reload_children(file);
  } catch (const std::exception& e) {
    return make_error(Errc::kFailed, std::string("reload_children threw: ") + e.what());
  } catch (...) {
    return make_error(Errc::kFailed, "reload_children threw a non-standard exception");
  }
}

}  // namespace dynmgr
