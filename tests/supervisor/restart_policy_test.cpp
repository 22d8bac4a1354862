// supervisor/restart_policy.cpp: decide_restart, row by row from tables.
//
// Each scenario is one worker's life: a list of exits fed in order to the same
// RestartHistory. Every row names the exit (normal/abnormal, when, after how
// long a run) and what must come out (verdict, backoff delay) and what the
// history must look like afterwards (restarts inside the window, consecutive
// restarts since the last healthy run).

#include "supervisor/restart_policy.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dynmgr {
namespace {

constexpr bool kNormal = false;
constexpr bool kAbnormal = true;
constexpr RestartVerdict kRestart = RestartVerdict::kRestart;
constexpr RestartVerdict kFailed = RestartVerdict::kFailed;
constexpr RestartVerdict kDone = RestartVerdict::kDone;

struct Row {
  bool abnormal;
  std::uint64_t now_ms;
  std::uint64_t uptime_ms;
  RestartVerdict verdict;
  std::uint64_t delay_ms;
  std::size_t in_window;     // history.recent_ms.size() afterwards
  std::uint32_t consecutive;  // history.consecutive afterwards
};

struct Scenario {
  std::string name;
  RestartLimits limits;
  BackoffConfig backoff;
  std::vector<Row> rows;
};

std::ostream& operator<<(std::ostream& os, const Scenario& s) { return os << s.name; }

const char* verdict_name(RestartVerdict v) {
  switch (v) {
    case RestartVerdict::kRestart: return "restart";
    case RestartVerdict::kFailed: return "failed";
    case RestartVerdict::kDone: return "done";
  }
  return "?";
}

RestartLimits limits(RestartType type, std::uint32_t max_restarts = 5,
                     std::uint32_t window_ms = 10'000) {
  return RestartLimits{type, max_restarts, window_ms};
}

BackoffConfig backoff(std::uint32_t base = 100, std::uint32_t cap = 1000,
                      std::uint32_t healthy = 5000) {
  return BackoffConfig{base, cap, healthy};
}

constexpr auto kPermanent = RestartType::kPermanent;
constexpr auto kTransient = RestartType::kTransient;
constexpr auto kTemporary = RestartType::kTemporary;

// A crash loop of `n` quick abnormal exits 10 ms apart, for long backoff tables.
std::vector<Row> quick_crashes(std::size_t n, std::uint32_t base, std::uint32_t cap) {
  std::vector<Row> rows;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t delay = 0;
    if (i > 0) {
      const std::size_t shift = std::min<std::size_t>(i - 1, 30);
      delay = std::min<std::uint64_t>(std::uint64_t{base} << shift, cap);
    }
    rows.push_back({kAbnormal, 10 * i, 1, kRestart, delay, i + 1,
                    static_cast<std::uint32_t>(i + 1)});
  }
  return rows;
}

const std::vector<Scenario>& scenarios() {
  static const std::vector<Scenario> all = {
      // ---- restart type x exit kind
      {"PermanentNormalExitRestarts", limits(kPermanent), backoff(),
       {{kNormal, 0, 1, kRestart, 0, 1, 1}}},
      {"PermanentAbnormalExitRestarts", limits(kPermanent), backoff(),
       {{kAbnormal, 0, 1, kRestart, 0, 1, 1}}},
      {"TransientNormalExitIsDoneAndLeavesHistoryAlone", limits(kTransient), backoff(),
       {{kNormal, 0, 1, kDone, 0, 0, 0}}},
      {"TransientAbnormalExitRestarts", limits(kTransient), backoff(),
       {{kAbnormal, 0, 1, kRestart, 0, 1, 1}}},
      {"TransientNormalExitAfterCrashesIsDone", limits(kTransient), backoff(),
       {{kAbnormal, 0, 1, kRestart, 0, 1, 1},
        {kAbnormal, 10, 1, kRestart, 100, 2, 2},
        {kNormal, 20, 1, kDone, 0, 2, 2}}},
      {"TemporaryNormalExitIsDone", limits(kTemporary), backoff(),
       {{kNormal, 0, 1, kDone, 0, 0, 0}}},
      {"TemporaryAbnormalExitIsDone", limits(kTemporary), backoff(),
       {{kAbnormal, 0, 1, kDone, 0, 0, 0}, {kAbnormal, 10, 1, kDone, 0, 0, 0}}},

      // ---- backoff: 0, base, 2*base, 4*base, ... capped
      {"BackoffDoublesThenCaps", limits(kPermanent, 100), backoff(100, 1000),
       {{kAbnormal, 0, 1, kRestart, 0, 1, 1},
        {kAbnormal, 10, 1, kRestart, 100, 2, 2},
        {kAbnormal, 20, 1, kRestart, 200, 3, 3},
        {kAbnormal, 30, 1, kRestart, 400, 4, 4},
        {kAbnormal, 40, 1, kRestart, 800, 5, 5},
        {kAbnormal, 50, 1, kRestart, 1000, 6, 6},
        {kAbnormal, 60, 1, kRestart, 1000, 7, 7}}},
      {"BackoffNeverOverflowsOnALongCrashLoop", limits(kPermanent, 1000), backoff(100, 5000),
       quick_crashes(70, 100, 5000)},
      {"BackoffShiftStopsAt30", limits(kPermanent, 1000), backoff(1, 0xFFFF'FFFFu),
       quick_crashes(40, 1, 0xFFFF'FFFFu)},
      {"BackoffBaseZeroMeansNoDelay", limits(kPermanent, 100), backoff(0, 1000),
       {{kAbnormal, 0, 1, kRestart, 0, 1, 1},
        {kAbnormal, 10, 1, kRestart, 0, 2, 2},
        {kAbnormal, 20, 1, kRestart, 0, 3, 3}}},
      {"BackoffCapBelowBaseCapsFirstDelay", limits(kPermanent, 100), backoff(500, 300),
       {{kAbnormal, 0, 1, kRestart, 0, 1, 1}, {kAbnormal, 10, 1, kRestart, 300, 2, 2}}},

      // ---- reset after a healthy run (uptime >= healthy_uptime_ms)
      {"HealthyUptimeResetsBackoff", limits(kPermanent, 100), backoff(100, 1000, 5000),
       {{kAbnormal, 0, 1, kRestart, 0, 1, 1},
        {kAbnormal, 10, 1, kRestart, 100, 2, 2},
        {kAbnormal, 20, 1, kRestart, 200, 3, 3},
        {kAbnormal, 6000, 5000, kRestart, 0, 4, 1},  // exactly healthy: reset
        {kAbnormal, 6010, 4999, kRestart, 100, 5, 2},  // one ms short: no reset
        {kAbnormal, 6020, 1, kRestart, 200, 6, 3}}},
      {"HealthyUptimeDoesNotClearTheIntensityWindow", limits(kPermanent, 2, 10'000),
       backoff(100, 1000, 5000),
       {{kAbnormal, 0, 1, kRestart, 0, 1, 1},
        {kAbnormal, 100, 6000, kRestart, 0, 2, 1},
        {kAbnormal, 200, 6000, kFailed, 0, 2, 0}}},

      // ---- intensity: at most max_restarts restarts within window_ms
      {"FailedWhenOverMaxRestarts", limits(kPermanent, 3, 1000), backoff(10, 1000),
       {{kAbnormal, 0, 1, kRestart, 0, 1, 1},
        {kAbnormal, 100, 1, kRestart, 10, 2, 2},
        {kAbnormal, 200, 1, kRestart, 20, 3, 3},
        {kAbnormal, 300, 1, kFailed, 0, 3, 3}}},
      {"NormalExitsCountTowardsIntensityOfPermanent", limits(kPermanent, 2, 1000), backoff(10),
       {{kNormal, 0, 1, kRestart, 0, 1, 1},
        {kNormal, 100, 1, kRestart, 10, 2, 2},
        {kNormal, 200, 1, kFailed, 0, 2, 2}}},
      {"WindowSlides", limits(kPermanent, 3, 1000), backoff(10, 1000),
       {{kAbnormal, 0, 1, kRestart, 0, 1, 1},
        {kAbnormal, 100, 1, kRestart, 10, 2, 2},
        {kAbnormal, 200, 1, kRestart, 20, 3, 3},
        {kAbnormal, 999, 1, kFailed, 0, 3, 3},      // 0 still inside (0 + 1000 > 999)
        {kAbnormal, 1000, 1, kRestart, 40, 3, 4},   // 0 left the window (0 + 1000 <= 1000)
        {kAbnormal, 1050, 1, kFailed, 0, 3, 4},     // 100, 200, 1000 inside
        {kAbnormal, 1200, 1, kRestart, 80, 2, 5},   // 100 and 200 left
        {kAbnormal, 5000, 1, kRestart, 160, 1, 6}}},  // everything left
      {"SpacedRestartsNeverFail", limits(kPermanent, 1, 250), backoff(10, 1000, 300),
       {{kAbnormal, 0, 300, kRestart, 0, 1, 1},
        {kAbnormal, 300, 300, kRestart, 0, 1, 1},
        {kAbnormal, 600, 300, kRestart, 0, 1, 1},
        {kAbnormal, 900, 300, kRestart, 0, 1, 1}}},

      // ---- max_restarts 0: never restarted, failed on the first exit that would restart
      {"MaxRestartsZeroPermanentFailsAtOnce", limits(kPermanent, 0), backoff(),
       {{kAbnormal, 0, 1, kFailed, 0, 0, 0}}},
      {"MaxRestartsZeroPermanentNormalExitFails", limits(kPermanent, 0), backoff(),
       {{kNormal, 0, 100'000, kFailed, 0, 0, 0}}},
      {"MaxRestartsZeroTransientAbnormalFails", limits(kTransient, 0), backoff(),
       {{kAbnormal, 0, 1, kFailed, 0, 0, 0}}},
      {"MaxRestartsZeroTransientNormalIsDone", limits(kTransient, 0), backoff(),
       {{kNormal, 0, 1, kDone, 0, 0, 0}}},
      {"MaxRestartsZeroTemporaryIsDone", limits(kTemporary, 0), backoff(),
       {{kAbnormal, 0, 1, kDone, 0, 0, 0}}},
  };
  return all;
}

class RestartPolicyTable : public ::testing::TestWithParam<Scenario> {};

TEST_P(RestartPolicyTable, EveryRow) {
  const Scenario& s = GetParam();
  RestartHistory history;
  for (std::size_t i = 0; i < s.rows.size(); ++i) {
    const Row& r = s.rows[i];
    SCOPED_TRACE("row " + std::to_string(i) + ": " + (r.abnormal ? "abnormal" : "normal") +
                 " exit at " + std::to_string(r.now_ms) + " ms after " +
                 std::to_string(r.uptime_ms) + " ms up");
    const RestartDecision d =
        decide_restart(s.limits, s.backoff, history, r.abnormal, r.now_ms, r.uptime_ms);
    EXPECT_STREQ(verdict_name(d.verdict), verdict_name(r.verdict));
    EXPECT_EQ(d.delay_ms, r.delay_ms);
    EXPECT_EQ(history.recent_ms.size(), r.in_window);
    EXPECT_EQ(history.consecutive, r.consecutive);
    if (d.verdict == RestartVerdict::kRestart) {
      EXPECT_TRUE(d.reason.empty()) << d.reason;
      ASSERT_FALSE(history.recent_ms.empty());
      EXPECT_EQ(history.recent_ms.back(), r.now_ms) << "a restart records its time";
    } else {
      EXPECT_FALSE(d.reason.empty()) << "a verdict other than restart says why";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, RestartPolicyTable, ::testing::ValuesIn(scenarios()),
                         [](const ::testing::TestParamInfo<Scenario>& param_info) {
                           return param_info.param.name;
                         });

TEST(RestartPolicy, FailedReasonNamesTheLimitAndTheWindow) {
  RestartHistory h;
  const RestartLimits l{RestartType::kPermanent, 2, 1500};
  ASSERT_EQ(decide_restart(l, BackoffConfig{}, h, true, 0, 1).verdict, RestartVerdict::kRestart);
  ASSERT_EQ(decide_restart(l, BackoffConfig{}, h, true, 1, 1).verdict, RestartVerdict::kRestart);
  const auto d = decide_restart(l, BackoffConfig{}, h, true, 2, 1);
  ASSERT_EQ(d.verdict, RestartVerdict::kFailed);
  EXPECT_NE(d.reason.find("2 restarts"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("1500 ms"), std::string::npos) << d.reason;
}

TEST(RestartPolicy, DefaultsMatchTheDocumentedOnes) {
  const RestartLimits l;
  EXPECT_EQ(l.type, RestartType::kPermanent);
  EXPECT_EQ(l.max_restarts, 5u);
  EXPECT_EQ(l.window_ms, 30'000u);
  const BackoffConfig b;
  EXPECT_EQ(b.base_ms, 100u);
  EXPECT_EQ(b.cap_ms, 5'000u);
  EXPECT_EQ(b.healthy_uptime_ms, 10'000u);
}

}  // namespace
}  // namespace dynmgr
