// supervisor/fleet_events.cpp: what `dynmgrctl watch` shows and what the exit
// history records, for the transitions of the real (pure) life-cycle machine.
#include "supervisor/fleet_events.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

namespace dynmgr {
namespace {

using namespace lifecycle;
namespace fe = fleet_events;

constexpr std::uint64_t kNow = 1'000'000;

ChildSpec spec(RestartType restart = RestartType::kPermanent, std::uint32_t max_restarts = 5) {
  ChildSpec s;
  s.timeout_ms = 0;
  s.restart = restart;
  s.max_restarts = max_restarts;
  return s;
}

Context context() {
  Context c;
  c.id = "w";
  return c;
}

WorkerState running(const ChildSpec& s = spec()) {
  WorkerState st = initial_state(s, false);
  st.phase = Phase::kRunning;
  st.ever_ready = true;
  return st;
}

Event killed(std::uint64_t uptime_ms) {
  Event e{EventKind::kExited};
  e.exit = ExitInfo::from_wait_status(SIGKILL);
  e.uptime_ms = uptime_ms;
  e.pid = 41;
  return e;
}

std::vector<EventType> types(const std::vector<FleetEvent>& v) {
  std::vector<EventType> t;
  for (const auto& e : v) t.push_back(e.type);
  return t;
}

struct Observed {
  std::vector<FleetEvent> events;
  std::optional<ExitRecord> exit;
  Transition t;
};

Observed observe(const WorkerState& before, const Event& ev, pid_t pid = 40) {
  Observed o;
  o.t = step(before, ev, kNow, context());
  EXPECT_EQ(o.t.verdict, Verdict::kApplied);
  o.events = fe::observe("w", pid, before, ev, o.t);
  o.exit = fe::exit_record(ev, o.t, 5000);
  return o;
}

TEST(FleetEvents, SpawnedAndReadyAreReportedOnce) {
  WorkerState starting = initial_state(spec(), false);
  auto o = observe(starting, Event{EventKind::kSpawned});
  EXPECT_EQ(types(o.events), std::vector<EventType>{EventType::kSpawned});
  EXPECT_EQ(o.events[0].pid, 40);
  o = observe(starting, Event{EventKind::kReady});
  EXPECT_EQ(types(o.events), std::vector<EventType>{EventType::kReady});
  EXPECT_FALSE(o.exit);
}

// A put's worker that exits before it is ready: exited, then deleted with
// cause start_failed; no exit history (the id is gone).
TEST(FleetEvents, AFailedPutStartIsExitedThenDeleted) {
  WorkerState starting = initial_state(spec(), false);
  starting.put_start = true;
  auto o = observe(starting, killed(10));
  EXPECT_EQ(types(o.events), (std::vector<EventType>{EventType::kExited, EventType::kDeleted}));
  EXPECT_EQ(o.events[1].detail, "start_failed");
  EXPECT_FALSE(o.exit);
}

TEST(FleetEvents, AHealthyWorkerKilledIsExitedThenRestartingAtOnce) {
  auto o = observe(running(), killed(60'000));
  EXPECT_EQ(types(o.events), (std::vector<EventType>{EventType::kExited, EventType::kRestarting}));
  EXPECT_EQ(o.events[0].exit.kind, ExitInfo::Kind::kSignaled);
  EXPECT_EQ(o.events[0].exit.code, SIGKILL);
  EXPECT_EQ(o.events[0].pid, 40);  // the loop passes the pid that ended
  EXPECT_EQ(o.events[0].uptime_ms, 60'000u);
  EXPECT_EQ(o.events[1].delay_ms, 0u);
  EXPECT_EQ(o.events[1].restarts, 1u);
  ASSERT_TRUE(o.exit);
  EXPECT_EQ(o.exit->at_ms, 5000u);
  EXPECT_EQ(o.exit->uptime_ms, 60'000u);
  EXPECT_TRUE(o.exit->restarted);
  EXPECT_EQ(o.exit->restart_in_ms, 0u);
}

TEST(FleetEvents, AQuickCrashAfterARestartWaitsOutTheBackoff) {
  auto first = observe(running(), killed(10));
  WorkerState again = first.t.next;  // starting (immediate restart)
  again.phase = Phase::kRunning;
  auto o = observe(again, killed(10));
  ASSERT_EQ(types(o.events), (std::vector<EventType>{EventType::kExited, EventType::kRestarting}));
  EXPECT_GT(o.events[1].delay_ms, 0u);
  EXPECT_EQ(o.events[1].restarts, 2u);
  ASSERT_TRUE(o.exit);
  EXPECT_TRUE(o.exit->restarted);
  EXPECT_EQ(o.exit->restart_in_ms, o.events[1].delay_ms);
}

TEST(FleetEvents, OverItsIntensityAWorkerFailsAndSaysWhy) {
  WorkerState st = running(spec(RestartType::kPermanent, 0));
  auto o = observe(st, killed(10));
  ASSERT_EQ(types(o.events), (std::vector<EventType>{EventType::kExited, EventType::kFailed}));
  EXPECT_FALSE(o.events[1].detail.empty());
  EXPECT_EQ(o.t.next.phase, Phase::kFailed);
  ASSERT_TRUE(o.exit);
  EXPECT_FALSE(o.exit->restarted);
}

TEST(FleetEvents, ATemporaryWorkerThatEndsStaysExitedAndNotRestarted) {
  auto o = observe(running(spec(RestartType::kTemporary)), killed(10));
  EXPECT_EQ(types(o.events), std::vector<EventType>{EventType::kExited});
  EXPECT_EQ(o.t.next.phase, Phase::kExited);
  ASSERT_TRUE(o.exit);
  EXPECT_FALSE(o.exit->restarted);
  EXPECT_EQ(o.exit->restart_in_ms, 0u);
}

TEST(FleetEvents, DeletionsNameTheirCause) {
  for (auto [cause, name] :
       {std::pair{StopCause::kDelete, "del"}, std::pair{StopCause::kShutdown, "shutdown"},
        std::pair{StopCause::kRestartAll, "restart"}}) {
    Event stop{EventKind::kStopRequested};
    stop.cause = cause;
    auto asked = observe(running(), stop);
    EXPECT_TRUE(asked.events.empty()) << name;
    auto o = observe(asked.t.next, killed(10));
    EXPECT_EQ(types(o.events), (std::vector<EventType>{EventType::kExited, EventType::kDeleted}))
        << name;
    EXPECT_EQ(o.events.back().detail, name);
    EXPECT_FALSE(o.exit);
  }
}

TEST(FleetEvents, HaltAndReplaceIdAreReportedThenTheWorkerIsDeleted) {
  auto halt = observe(running(), Event{EventKind::kHalt});
  EXPECT_EQ(types(halt.events), std::vector<EventType>{EventType::kHalted});
  auto gone = observe(halt.t.next, killed(10));
  EXPECT_EQ(gone.events.back().type, EventType::kDeleted);
  EXPECT_EQ(gone.events.back().detail, "halt");

  Event rep{EventKind::kReplaceId};
  rep.replacement = Replacement{"next", spec()};
  auto replaced = observe(running(), rep);
  ASSERT_EQ(types(replaced.events), std::vector<EventType>{EventType::kReplaced});
  EXPECT_EQ(replaced.events[0].detail, "next");
  gone = observe(replaced.t.next, killed(10));
  EXPECT_EQ(gone.events.back().detail, "replace");
}

TEST(FleetEvents, APutOverIsNotARestart) {
  Event over{EventKind::kStopRequested};
  over.cause = StopCause::kReplace;
  over.replacement = Replacement{"w", spec()};
  auto asked = observe(running(), over);
  auto o = observe(asked.t.next, killed(10));
  EXPECT_EQ(types(o.events), std::vector<EventType>{EventType::kExited});
  ASSERT_TRUE(o.exit);
  EXPECT_FALSE(o.exit->restarted);
}

TEST(FleetEvents, ASpawnFailureIsAnExit) {
  Event failed{EventKind::kSpawnFailed};
  failed.exit.kind = ExitInfo::Kind::kSpawnFailed;
  failed.exit.code = 2;
  failed.exit.reason = "no such file";
  auto o = observe(initial_state(spec(), false), failed, 0);
  ASSERT_FALSE(o.events.empty());
  EXPECT_EQ(o.events[0].type, EventType::kExited);
  EXPECT_EQ(o.events[0].exit.kind, ExitInfo::Kind::kSpawnFailed);
  ASSERT_TRUE(o.exit);
  EXPECT_EQ(o.exit->exit.reason, "no such file");
}

}  // namespace
}  // namespace dynmgr
