// Resource limits and hangs (README "Resource limits"): on_overrun kill,
// rlimits, max_memory — each really done to a real probe worker: a perform
// that never returns, files opened past nofile, a CPU spin past cpu, memory
// allocated and touched past max_memory. Every wait is a condition with a
// deadline (ProbeTest::wait_record); nothing is timed.

#include "probe_harness.hpp"
#include "shared/registry.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace dynmgr {
namespace {

using namespace dynmgr::testing;

class Limits : public ProbeTest {
 protected:
  // The slot's exit counter for one kind (the exit metrics' source).
  std::uint64_t exits_of(const WorkerInfo& r, ExitInfo::Kind kind) {
    auto reader = RegistryReader::open(names_);
    if (!reader) return 0;
    return reader->stats(r.slot).exits[static_cast<std::size_t>(kind)];
  }
  static bool has_exit(const WorkerInfo& r, ExitInfo::Kind kind) {
    for (const auto& x : r.exits) {
      if (x.exit.kind == kind) return true;
    }
    return false;
  }
};

// A perform that never returns, with on_overrun kill: killed, counted as an
// overrun, restarted by its policy.
TEST_F(Limits, OnOverrunKillKillsAHungPerformAndRestartsIt) {
  ASSERT_TRUE(start());
  ChildSpec s = spec(P(R"({"on_perform": "sleep", "sleep_ms": 600000})"), 200);
  s.instant_perform = true;
  s.on_overrun = OnOverrun::kKill;
  auto first = put("hung", s);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->on_overrun, OnOverrun::kKill);
  const pid_t pid = first->pid;
  auto r = wait_record("hung", [&](const WorkerInfo& w) {
    return w.restarts >= 1 && w.last_exit.kind == ExitInfo::Kind::kOverrun;
  });
  ASSERT_TRUE(r) << supervisor_output();
  EXPECT_EQ(r->last_exit.code, SIGKILL);
  EXPECT_NE(r->last_exit.reason.find("overran lull x timeout"), std::string::npos)
      << r->last_exit.reason;
  EXPECT_TRUE(has_exit(*r, ExitInfo::Kind::kOverrun));
  EXPECT_TRUE(process_gone(pid));
  EXPECT_GE(exits_of(*r, ExitInfo::Kind::kOverrun), 1u);
  EXPECT_EQ(exits_of(*r, ExitInfo::Kind::kSignaled), 0u) << "counted as an overrun, not a signal";
  // handle_timeout still heard of it.
  EXPECT_FALSE(log_lines("timeout", "hung ").empty());
  // The restarted worker is running again (a new process).
  auto again = wait_record("hung", [&](const WorkerInfo& w) { return w.pid > 0 && w.pid != pid; });
  ASSERT_TRUE(again);
}

// With on_overrun report (the default) the same overrun is only reported.
TEST_F(Limits, OnOverrunReportOnlyReports) {
  ASSERT_TRUE(start());
  ChildSpec s = spec(P(R"({"on_perform": "sleep", "sleep_ms": 1500})"), 200);
  s.instant_perform = true;
  auto first = put("slow", s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->on_overrun, OnOverrun::kReport);
  ASSERT_TRUE(wait_until([&] { return !log_lines("timeout", "slow ").empty(); }));
  auto r = wait_record("slow", [](const WorkerInfo& w) { return w.value == "\"slept\""; });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->pid, first->pid);
  EXPECT_EQ(r->restarts, 0u);
  EXPECT_EQ(r->last_exit.kind, ExitInfo::Kind::kNone);
}

// AddressSanitizer reserves about 20 TiB of address space for its shadow at
// start: an `as` limit below that kills an ASan-built worker before main.
#if defined(__SANITIZE_ADDRESS__)
constexpr std::uint64_t kAsLimit = std::uint64_t{1} << 45;
#else
constexpr std::uint64_t kAsLimit = std::uint64_t{2} << 30;
#endif

TEST_F(Limits, RlimitsAreSetInTheWorkerAndNofileIsReallyEnforced) {
  ASSERT_TRUE(start());
  ChildSpec s = spec(json::value(nullptr));
  s.rlimits.nofile = 64;
  s.rlimits.core = 0;
  s.rlimits.cpu = 3600;
  s.rlimits.as = kAsLimit;
  const json::value expected =
      P(R"({"nofile": 64, "as": )" + std::to_string(kAsLimit) + R"(, "cpu": 3600, "core": 0})");
  auto w = put("limited", s);
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(parse(w->rlimits), expected);
  auto limits = client().call("limited", json::value("limits"));
  ASSERT_TRUE(limits) << limits.error().message;
  EXPECT_EQ(*limits, expected);
  auto opened = client().call("limited", P(R"(["open_files", 1000])"));
  ASSERT_TRUE(opened) << opened.error().message;
  const auto& o = opened->as_object();
  EXPECT_LT(o.at("opened").as_int64(), 64);
  EXPECT_GT(o.at("opened").as_int64(), 0);
  EXPECT_EQ(o.at("errno").as_string(), "Too many open files");
}

TEST_F(Limits, AWorkerSpinningPastItsCpuLimitIsKilledBySigxcpu) {
  ASSERT_TRUE(start());
  ChildSpec s = spec(json::value(nullptr));
  s.rlimits.cpu = 1;
  s.max_restarts = 0;  // one life: the exit stays to be read
  s.restart = RestartType::kTemporary;
  auto w = put("spinner", s);
  ASSERT_TRUE(w);
  ASSERT_TRUE(client().cast("spinner", json::value("spin")));
  auto r = wait_record("spinner",
                       [](const WorkerInfo& x) { return x.last_exit.kind != ExitInfo::Kind::kNone; });
  ASSERT_TRUE(r) << supervisor_output();
  EXPECT_EQ(r->last_exit.kind, ExitInfo::Kind::kSignaled) << r->last_exit.describe();
  EXPECT_EQ(r->last_exit.code, SIGXCPU) << r->last_exit.describe();
  EXPECT_NE(r->last_exit.reason.find("SIGXCPU"), std::string::npos) << r->last_exit.reason;
}

// Memory allocated and touched past max_memory: sampled, killed, counted as
// max_memory, restarted (from its last payload, under the same id).
TEST_F(Limits, AWorkerOverMaxMemoryIsRestartedAndCounted) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "an ASan-built worker's resident memory (its shadow and allocator) is "
                  "already near the limit this test sets; the plain build runs it";
#endif
  ASSERT_TRUE(start());
  ChildSpec s = spec(json::value(nullptr));
  s.max_memory = std::uint64_t{48} << 20;
  auto w = put("hog", s);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->max_memory, std::uint64_t{48} << 20);
  const pid_t pid = w->pid;
  ASSERT_TRUE(client().cast("hog", P(R"(["alloc", 100000000])")));
  auto r = wait_record("hog", [&](const WorkerInfo& x) {
    return x.last_exit.kind == ExitInfo::Kind::kMaxMemory && x.restarts >= 1;
  });
  ASSERT_TRUE(r) << supervisor_output();
  EXPECT_EQ(r->last_exit.code, SIGKILL);
  EXPECT_NE(r->last_exit.reason.find("over its max_memory of 50331648"), std::string::npos)
      << r->last_exit.reason;
  EXPECT_TRUE(has_exit(*r, ExitInfo::Kind::kMaxMemory));
  EXPECT_EQ(exits_of(*r, ExitInfo::Kind::kMaxMemory), 1u);
  EXPECT_TRUE(process_gone(pid));
  auto again = wait_record("hog", [&](const WorkerInfo& x) {
    return x.status == WorkerStatus::kRunning && x.pid > 0 && x.pid != pid;
  });
  ASSERT_TRUE(again);
  // Under the limit, it is left alone: a call is answered by the same process.
  auto answered = client().call("hog", json::value("pid"));
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->as_int64(), again->pid);
}

// The limits are part of the spec a successor adopts from the registry.
TEST_F(Limits, LimitsSurviveAdoption) {
  ASSERT_TRUE(start());
  ChildSpec s = spec(json::value(nullptr));
  s.on_overrun = OnOverrun::kKill;
  s.max_memory = std::uint64_t{1} << 30;
  s.rlimits.nofile = 100;
  auto w = put("kept", s);
  ASSERT_TRUE(w);
  ASSERT_EQ(::kill(supervisor_pid(), SIGKILL), 0);
  ASSERT_TRUE(wait_supervisor_exit());
  ASSERT_TRUE(take_over());
  auto r = wait_record("kept", [](const WorkerInfo& x) { return x.status == WorkerStatus::kRunning; });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->pid, w->pid) << "adopted, not restarted";
  EXPECT_EQ(r->on_overrun, OnOverrun::kKill);
  EXPECT_EQ(r->max_memory, std::uint64_t{1} << 30);
  EXPECT_EQ(parse(r->rlimits), P(R"({"nofile": 100})"));
  // And a restart under the successor still applies them.
  const pid_t pid = r->pid;
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  auto again = wait_record("kept", [&](const WorkerInfo& x) {
    return x.status == WorkerStatus::kRunning && x.pid > 0 && x.pid != pid;
  });
  ASSERT_TRUE(again) << supervisor_output();
  auto limits = client().call("kept", json::value("limits"));
  ASSERT_TRUE(limits);
  EXPECT_EQ(limits->as_object().at("nofile").as_int64(), 100);
}

}  // namespace
}  // namespace dynmgr
