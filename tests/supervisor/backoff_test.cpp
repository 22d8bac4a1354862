// Restart backoff measured on real processes: the gaps between a crashing
// worker's starts (from probe's init log). Its bounds are wall-clock times, so
// under sanitizers, where a worker start on a loaded 2-core VM can take
// seconds, this file joins the "slow" label (as scale_test does); the plain
// build runs it in `make test`. The policy itself is pinned without a clock in
// restart_policy_test and worker_lifecycle_test.

#include "probe_harness.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace dynmgr {
namespace {

using testing::kWait;
using testing::P;
using testing::ProbeStart;
using testing::spec;
using testing::wait_until;
using namespace std::chrono_literals;

class Backoff : public testing::ProbeTest {
 protected:
  // Monotonic start times (ms) of every incarnation of id, from probe's init log.
  std::vector<std::uint64_t> starts_of(const std::string& id) const {
    std::vector<std::uint64_t> out;
    for (const auto& l : log_lines("init", id + " ")) {
      std::istringstream in(l.substr(id.size() + 1));
      long pid = 0;
      std::uint64_t ms = 0;
      in >> pid >> ms;
      out.push_back(ms);
    }
    return out;
  }
  static std::vector<std::uint64_t> gaps(const std::vector<std::uint64_t>& t) {
    std::vector<std::uint64_t> g;
    for (std::size_t i = 1; i < t.size(); ++i) g.push_back(t[i] - t[i - 1]);
    return g;
  }
  std::string gaps_text(const std::vector<std::uint64_t>& g) const {
    std::string s;
    for (auto x : g) s += std::to_string(x) + " ";
    return "gaps between starts (ms): " + s;
  }
};

TEST_F(Backoff, BackoffGrowsFromImmediateAndIsCapped) {
  // Delays: 0, base, 2 base = cap, cap, cap. The base is well above what one
  // crash and a new start take, even for an ASan worker on a slow VM (217 ms
  // measured there, over the 200 ms base used before), and the cap is far
  // below the uncapped fifth delay (8 base), so a stall of seconds on a loaded
  // CI machine cannot pass for a missing cap (it did at 500/2000: 4.8 s).
  ASSERT_TRUE(start(ProbeStart{}.with_flags(
      {"--backoff-base", "1000", "--backoff-cap", "2000", "--healthy-uptime", "60000"})));
  ChildSpec s = spec(P(R"({"on_perform": "crash"})"), 10);
  s.instant_perform = true;
  s.max_restarts = 10;
  s.within_ms = 600'000;
  ASSERT_TRUE(put("b", s));
  ASSERT_TRUE(wait_until([&] { return starts_of("b").size() >= 6; }, kWait, 5ms));
  const auto g = gaps(starts_of("b"));
  SCOPED_TRACE(gaps_text(g));
  ASSERT_GE(g.size(), 5u);
  EXPECT_LT(g[0], 1000u) << "the first restart is immediate";
  EXPECT_GE(g[1], 1000u);
  EXPECT_GE(g[2], 2000u);
  EXPECT_GE(g[3], 2000u);
  EXPECT_GE(g[4], 2000u);
  EXPECT_LT(g[4], 8000u) << "not capped (uncapped, the fifth delay is 8 s)";
  auto r = get("b");
  ASSERT_TRUE(r);
  EXPECT_GE(r->restarts, 5u);
}

TEST_F(Backoff, BackoffResetsAfterAHealthyRun) {
  // Each run lasts one 400 ms timeout (>= the 300 ms healthy uptime), so every
  // restart is immediate; without the reset the gaps would grow by 600, 1200, ...
  ASSERT_TRUE(start(ProbeStart{}.with_flags(
      {"--backoff-base", "600", "--backoff-cap", "5000", "--healthy-uptime", "300"})));
  ChildSpec s = spec(P(R"({"on_perform": "crash"})"), 400);
  s.max_restarts = 20;
  s.within_ms = 600'000;
  ASSERT_TRUE(put("h", s));
  ASSERT_TRUE(wait_until([&] { return starts_of("h").size() >= 5; }, kWait, 5ms));
  const auto g = gaps(starts_of("h"));
  SCOPED_TRACE(gaps_text(g));
  for (auto x : g) {
    EXPECT_GE(x, 400u);
    EXPECT_LT(x, 1000u) << "a backoff delay after a healthy run";
  }
  auto r = get("h");
  ASSERT_TRUE(r);
  EXPECT_NE(r->status, WorkerStatus::kFailed);
}

}  // namespace
}  // namespace dynmgr
