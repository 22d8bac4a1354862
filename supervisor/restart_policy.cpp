#include "supervisor/restart_policy.hpp"

#include <algorithm>

namespace dynmgr {

RestartDecision decide_restart(const RestartLimits& limits, const BackoffConfig& backoff,
                               RestartHistory& history, bool abnormal_exit, std::uint64_t now_ms,
                               std::uint64_t uptime_ms) {
  if (limits.type == RestartType::kTemporary) {
    return {RestartVerdict::kDone, 0, "temporary workers are not restarted"};
  }
  if (limits.type == RestartType::kTransient && !abnormal_exit) {
    return {RestartVerdict::kDone, 0, "transient worker exited normally"};
  }
  if (uptime_ms >= backoff.healthy_uptime_ms) history.consecutive = 0;
  auto& recent = history.recent_ms;
  const auto expired = std::find_if(recent.begin(), recent.end(), [&](std::uint64_t t) {
    return t + limits.window_ms > now_ms;
  });
  recent.erase(recent.begin(), expired);
  if (history.recent_ms.size() >= limits.max_restarts) {
    return {RestartVerdict::kFailed, 0,
            "more than " + std::to_string(limits.max_restarts) + " restarts within " +
                std::to_string(limits.window_ms) + " ms"};
  }
  history.recent_ms.push_back(now_ms);
  std::uint64_t delay = 0;
  if (history.consecutive > 0) {
    const std::uint32_t shift = std::min<std::uint32_t>(history.consecutive - 1, 30);
    delay = std::min<std::uint64_t>(std::uint64_t{backoff.base_ms} << shift, backoff.cap_ms);
  }
  ++history.consecutive;
  return {RestartVerdict::kRestart, delay, {}};
}

}  // namespace dynmgr
