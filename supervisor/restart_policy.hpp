#pragma once
// Restart policy: a pure function of (history, exit) -> (history', decision).
// No syscalls, no clock reads: time comes in as arguments, so every row of the
// policy is tested from a table (tests/supervisor/restart_policy_test.cpp).
//
//   permanent  always restarted
//   transient  restarted only after an abnormal exit (non-zero code or a signal)
//   temporary  never restarted
//
// Intensity (OTP's MaxR/MaxT), per worker: if restarting would make more than
// max_restarts restarts within window_ms, the worker is `failed` instead.
// Backoff: the first restart after a healthy run is immediate; each further
// consecutive restart waits base * 2^(n-1), capped. A run of at least
// healthy_uptime_ms resets the count.

#include "shared/types.hpp"

#include <cstdint>
#include <vector>
#include <string>

namespace dynmgr {

struct RestartLimits {
  RestartType type = RestartType::kPermanent;
  std::uint32_t max_restarts = 5;
  std::uint32_t window_ms = 30'000;
};

struct BackoffConfig {
  std::uint32_t base_ms = 100;
  std::uint32_t cap_ms = 5'000;
  std::uint32_t healthy_uptime_ms = 10'000;
};

struct RestartHistory {
  // Times of restarts inside the window, oldest first. A vector, not a deque:
  // an empty std::deque allocates ~600 bytes, once per worker.
  std::vector<std::uint64_t> recent_ms;
  std::uint32_t consecutive = 0;        // restarts since the last healthy run
};

enum class RestartVerdict { kRestart, kFailed, kDone };

struct RestartDecision {
  RestartVerdict verdict = RestartVerdict::kDone;
  std::uint64_t delay_ms = 0;
  std::string reason;
};

RestartDecision decide_restart(const RestartLimits& limits, const BackoffConfig& backoff,
                               RestartHistory& history, bool abnormal_exit, std::uint64_t now_ms,
                               std::uint64_t uptime_ms);

}  // namespace dynmgr
