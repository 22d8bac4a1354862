#include "dynmgr/manager.hpp"

#include "shared/log.hpp"

namespace dynmgr {

Response Response::ok(json::value result) {
  Response r;
  r.kind_ = Kind::kOk;
  r.value_ = std::move(result);
  return r;
}

Response Response::replace(json::value payload) {
  Response r;
  r.kind_ = Kind::kReplace;
  r.value_ = std::move(payload);
  return r;
}

Response Response::replace(std::string new_id, json::value payload) {
  Response r;
  r.kind_ = Kind::kReplaceId;
  r.new_id_ = std::move(new_id);
  r.value_ = std::move(payload);
  return r;
}

Response Response::timeout(std::uint32_t ms, json::value result) {
  Response r;
  r.kind_ = Kind::kTimeout;
  r.timeout_ms_ = ms;
  r.value_ = std::move(result);
  return r;
}

Response Response::halt() {
  Response r;
  r.kind_ = Kind::kHalt;
  return r;
}

// The defaults log, as Tarearbol's do.
StateChangeAnswer Manager::handle_state_change(ManagerState state) {
  log_info("manager state: " + std::string(to_string(state)));
  return StateChangeAnswer::kOk;
}

void Manager::handle_timeout(const TimeoutInfo& info) {
  log_warn("worker '" + info.id + "' (pid " + std::to_string(info.pid) + ") busy for " +
           std::to_string(info.busy_ms) + " ms, over its limit of " +
           std::to_string(info.limit_ms) + " ms");
}

// The exec options are dynmgrd's: a manager that ignores them must not accept
// them silently (a `put --exec` to the Counter example would start a counter).
Status Manager::check_spec(const std::string& id, ChildSpec& spec) {
  for (const char* key : {"exec", "env", "cwd", "response_timeout", "ready_timeout"}) {
    if (spec.options.contains(key)) {
      return make_error(Errc::kInvalid, "worker '" + id + "': this manager runs no commands, so '" +
                                            key +
                                            "' (--exec, --env, --cwd, --ready-timeout) is not "
                                            "accepted; exec workers are dynmgrd's");
    }
  }
  return {};
}

Result<std::map<std::string, ChildSpec>> Manager::reload_children(const std::string& file) {
  if (!file.empty()) {
    return make_error(Errc::kInvalid, "this manager reads no children file (only dynmgrd does); "
                                      "reload without FILE applies its children_specs() again");
  }
  return children_specs();
}

void Manager::idle(const WorkerState&) { idle_is_default_ = true; }

json::value Manager::init(const std::string&, const json::value& payload) { return payload; }

Response Manager::call(const json::value& message, const WorkerState& state) {
  log_warn("worker '" + state.id + "': unhandled call " + to_json(message));
  return Response::ok(nullptr);
}

Response Manager::cast(const json::value& message, const WorkerState& state) {
  log_warn("worker '" + state.id + "': unhandled cast " + to_json(message));
  return Response::ok(nullptr);
}

void Manager::terminate(std::string_view reason, const WorkerState& state) {
  log_debug("worker '" + state.id + "' terminating: " + std::string(reason));
}

}  // namespace dynmgr
