// An idle fleet costs the machine nothing: a worker whose manager keeps the
// base idle() never wakes while it has nothing to do, however short its
// idle_interval(). On this project's 2-core VM, 8 000 idle workers that each
// woke every 5 s for housekeeping used up both cores and wedged the machine.
//
// Wake-ups are counted, not timed: every time a sleeping worker wakes and goes
// back to sleep the kernel counts a context switch in /proc/PID/status. The
// contrast case (a manager that does override idle()) shows that the count
// sees the wake-ups it is meant to see, so the main case cannot pass vacuously.

#include "probe_harness.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <thread>
#include <string>
#include <vector>

namespace dynmgr {
namespace {

using testing::ProbeStart;
using testing::process_state;
using testing::spec;
using testing::wait_until;
using namespace std::chrono_literals;

// voluntary + nonvoluntary context switches of pid so far (0 if unreadable).
std::uint64_t context_switches(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  std::uint64_t total = 0;
  while (std::getline(in, line)) {
    for (const char* key : {"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"}) {
      if (line.rfind(key, 0) == 0) total += std::stoull(line.substr(std::string(key).size()));
    }
  }
  return total;
}

class IdleFleet : public testing::ProbeTest {
 protected:
  // Puts n idle workers (timeout 0) and returns their pids once every one is
  // asleep.
  std::vector<pid_t> put_idle_fleet(int n) {
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) {
      auto r = put("idle" + std::to_string(i), spec(json::value(i), 0));
      EXPECT_TRUE(r) << "put " << i << ": " << (r ? "" : r.error().message);
      if (!r) return {};
      pids.push_back(r->pid);
    }
    EXPECT_TRUE(wait_until(
        [&] {
          for (pid_t p : pids) {
            if (process_state(p) != 'S') return false;
          }
          return true;
        },
        testing::kWait));
    return pids;
  }

  // Context switches of every pid over a window in which nothing is asked of
  // them (the window is the measurement, not a synchronisation).
  static std::uint64_t wakeups_over(const std::vector<pid_t>& pids, std::chrono::milliseconds window) {
    std::vector<std::uint64_t> before;
    for (pid_t p : pids) before.push_back(context_switches(p));
    std::this_thread::sleep_for(window);
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < pids.size(); ++i) total += context_switches(pids[i]) - before[i];
    return total;
  }
};

constexpr int kFleet = 100;
constexpr auto kWindow = 1500ms;

// idle_interval() is 100 ms but idle() is the base one: 1 500 ms of 100 idle
// workers would be about 1 500 wake-ups on a timer; there must be none.
TEST_F(IdleFleet, WorkersWithTheBaseIdleNeverWake) {
  ASSERT_TRUE(start(ProbeStart{}
                        .with_flags({"--max-workers", "256", "--log-level", "warn"})
                        .with_env({"PROBE_IDLE_MS=100"})));
  const auto pids = put_idle_fleet(kFleet);
  ASSERT_EQ(pids.size(), static_cast<std::size_t>(kFleet));
  const std::uint64_t woke = wakeups_over(pids, kWindow);
  std::cout << kFleet << " idle workers, " << kWindow.count() << " ms: " << woke << " context switches\n";
  // A few stray switches (page reclaim, a signal to the group) are not a timer.
  EXPECT_LE(woke, static_cast<std::uint64_t>(kFleet / 20))
      << "context switches of " << kFleet << " idle workers in " << kWindow.count() << " ms";
  // And they still answer at once: idle is not deaf.
  auto r = client().call("idle7", json::value("get"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, json::value(7));
}

// The contrast: an overridden idle() every 100 ms does wake each worker about
// 15 times in the window, and the count sees it.
TEST_F(IdleFleet, WorkersThatOverrideIdleWakeOnTheirInterval) {
  ASSERT_TRUE(start(ProbeStart{}
                        .with_flags({"--max-workers", "256", "--log-level", "warn"})
                        .with_env({"PROBE_IDLE_MS=100", "PROBE_IDLE_OVERRIDE=1"})));
  const auto pids = put_idle_fleet(kFleet);
  ASSERT_EQ(pids.size(), static_cast<std::size_t>(kFleet));
  const std::uint64_t woke = wakeups_over(pids, kWindow);
  std::cout << kFleet << " idle workers, " << kWindow.count() << " ms: " << woke << " context switches\n";
  EXPECT_GE(woke, static_cast<std::uint64_t>(kFleet * 5))
      << "context switches of " << kFleet << " workers with a 100 ms idle() in "
      << kWindow.count() << " ms";
}

}  // namespace
}  // namespace dynmgr
