// supervisor/worker_lifecycle.cpp and supervisor/manager_phase.cpp: every
// (state, event) pair against a table row, as s6-supervise's
// actions[state][event]. A pair without a row fails the test, so a new phase
// or event cannot be added without deciding, row by row, what it means.
//
// Each state and event below is one canonical fixture; the rows say what must
// come out: the verdict (applied / ignored / invalid), the next phase and the
// list of action kinds in order. Focused tests after the tables pin the values
// the rows do not show (delays, messages, waiters, replacements).

#include "supervisor/manager_phase.hpp"
#include "supervisor/worker_lifecycle.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace dynmgr {
namespace {

using namespace lifecycle;
using A = ActionKind;

constexpr std::uint64_t kNow = 1'000'000;
constexpr std::uint64_t kToken = 7;

Waiter waiter(const char* name) { return Waiter{name, 1}; }

ChildSpec spec_with_payload(int n) {
  ChildSpec s;
  s.payload = json::value(n);
  s.timeout_ms = 0;
  return s;
}

Context context() {
  Context c;
  c.id = "w";
  c.terminate_timeout_ms = 2000;
  c.kill_timeout_ms = 3000;
  return c;
}

// ---------------------------------------------------------------- states

WorkerState base() {
  WorkerState s = initial_state(spec_with_payload(0), false);
  s.timer_token = kToken;
  return s;
}

WorkerState stopping(Stage stage) {
  WorkerState s = base();
  s.phase = Phase::kStopping;
  s.stage = stage;
  s.cause = StopCause::kDelete;
  s.exit_waiters = {waiter("del")};
  return s;
}

const std::map<std::string, WorkerState>& states() {
  static const std::map<std::string, WorkerState> all = [] {
    std::map<std::string, WorkerState> m;
    WorkerState s = base();
    s.ready_waiters = {waiter("restart")};
    m["starting"] = s;
    s.ready_waiters = {waiter("put")};
    s.put_start = true;
    m["starting/put"] = s;
    s = base();
    s.ever_ready = true;
    s.activating = true;
    s.activate_waiters = {waiter("caller")};
    s.perform_due_ms = kNow;
    m["starting/activation"] = s;
    s = base();
    s.phase = Phase::kRunning;
    s.ever_ready = true;
    m["running"] = s;
    m["stopping/terminate"] = stopping(Stage::kTerminateSent);
    m["stopping/sigterm"] = stopping(Stage::kSigtermSent);
    m["stopping/sigkill"] = stopping(Stage::kSigkillSent);
    for (auto [key, phase] : {std::pair{"restarting", Phase::kRestarting},
                              std::pair{"failed", Phase::kFailed}, std::pair{"exited", Phase::kExited},
                              std::pair{"halting", Phase::kHalting}, std::pair{"gone", Phase::kGone}}) {
      s = base();
      s.phase = phase;
      m[key] = s;
    }
    s = base();
    s.phase = Phase::kReplacing;
    s.replacement = Replacement{"next", spec_with_payload(9)};
    m["replacing"] = s;
    s = base();
    s.phase = Phase::kPassivating;
    s.stage = Stage::kTerminateSent;
    s.cause = StopCause::kPassivate;
    s.ever_ready = true;
    m["passivating"] = s;
    s = base();
    s.phase = Phase::kPassive;
    s.ever_ready = true;
    m["passive"] = s;
    return m;
  }();
  return all;
}

// ---------------------------------------------------------------- events

Event stop_request(StopCause cause) {
  Event e{EventKind::kStopRequested};
  e.cause = cause;
  e.waiter = waiter("client");
  if (cause == StopCause::kReplace) e.replacement = Replacement{"w", spec_with_payload(5)};
  return e;
}

const std::map<std::string, Event>& events() {
  static const std::map<std::string, Event> all = [] {
    std::map<std::string, Event> m;
    m["spawned"] = Event{EventKind::kSpawned};
    Event e{EventKind::kSpawnFailed};
    e.exit.kind = ExitInfo::Kind::kSpawnFailed;
    e.exit.reason = "no such file";
    m["spawn-failed"] = e;
    m["ready"] = Event{EventKind::kReady};
    e = Event{EventKind::kExited};
    e.exit = ExitInfo::from_wait_status(SIGKILL);
    e.uptime_ms = 50;
    m["exited"] = e;
    e = Event{EventKind::kFailing};
    e.reason = "perform threw";
    m["failing"] = e;
    m["stop(del)"] = stop_request(StopCause::kDelete);
    m["stop(replace)"] = stop_request(StopCause::kReplace);
    m["stop(restart)"] = stop_request(StopCause::kRestartAll);
    m["stop(shutdown)"] = stop_request(StopCause::kShutdown);
    m["terminate-lost"] = Event{EventKind::kTerminateLost};
    e = Event{EventKind::kStageTimer};
    e.token = kToken;
    m["stage-timer"] = e;
    e = Event{EventKind::kBackoffTimer};
    e.token = kToken;
    m["backoff-timer"] = e;
    m["halt"] = Event{EventKind::kHalt};
    e = Event{EventKind::kReplaceId};
    e.replacement = Replacement{"next", spec_with_payload(9)};
    m["replace-id"] = e;
    // The fixtures' spec says on_overrun report: an overrun is only reported.
    e = Event{EventKind::kOverLimit};
    e.limit = ExitInfo::Kind::kOverrun;
    e.reason = "overran lull x timeout";
    m["overrun"] = e;
    e = Event{EventKind::kOverLimit};
    e.limit = ExitInfo::Kind::kMaxMemory;
    e.reason = "used too much memory";
    m["over-memory"] = e;
    e = Event{EventKind::kIdle};
    e.next_perform_ms = 500;
    m["idle"] = e;
    e = Event{EventKind::kActivate};
    e.waiter = waiter("caller");
    m["activate"] = e;
    e = Event{EventKind::kPerformDue};
    e.token = kToken;
    m["perform-due"] = e;
    e = Event{EventKind::kCommandExited};
    e.exit = ExitInfo::from_wait_status(SIGKILL);
    e.exit.reason = "command killed by SIGKILL";
    e.uptime_ms = 50;
    e.seq = 3;
    m["command-exited"] = e;
    return m;
  }();
  return all;
}

// ---------------------------------------------------------------- the table

constexpr Verdict kApplied = Verdict::kApplied;
constexpr Verdict kIgnored = Verdict::kIgnored;
constexpr Verdict kInvalid = Verdict::kInvalid;

struct Row {
  const char* state;
  const char* event;
  Verdict verdict;
  const char* next;  // a phase name; "=" for the same state
  std::vector<A> actions;
};

// Rows shared by every phase with a live process that is not stopping.
#define LIVE_STOP_ROWS(S)                                                              \
  Row{S, "stop(del)", kApplied, "stopping", {A::kPublish, A::kSendTerminate, A::kArmTimer}}, \
  Row{S, "stop(restart)", kApplied, "stopping", {A::kPublish, A::kSendTerminate, A::kArmTimer}}, \
  Row{S, "stop(shutdown)", kApplied, "stopping", {A::kPublish, A::kSendTerminate, A::kArmTimer}}, \
  Row{S, "terminate-lost", kIgnored, "=", {}},                                        \
  Row{S, "stage-timer", kIgnored, "=", {}},                                           \
  Row{S, "backoff-timer", kIgnored, "=", {}}

// Rows shared by every stop stage (cause del, one exit waiter).
#define STOPPING_ROWS(S)                                                      \
  Row{S, "spawned", kInvalid, "=", {}},                                       \
  Row{S, "spawn-failed", kInvalid, "=", {}},                                  \
  Row{S, "ready", kApplied, "stopping", {A::kPublish}},                       \
  Row{S, "exited", kApplied, "gone", {A::kRemoveSlot, A::kReplyDeleted}},     \
  Row{S, "failing", kApplied, "stopping", {}},                                \
  Row{S, "stop(del)", kApplied, "stopping", {}},                              \
  Row{S, "stop(replace)", kApplied, "stopping", {A::kReplyError}},            \
  Row{S, "stop(restart)", kApplied, "stopping", {}},                          \
  Row{S, "stop(shutdown)", kApplied, "stopping", {}},                         \
  Row{S, "backoff-timer", kIgnored, "=", {}},                                 \
  Row{S, "halt", kIgnored, "=", {}},                                          \
  Row{S, "replace-id", kIgnored, "=", {}},                                    \
  Row{S, "overrun", kIgnored, "=", {}},                                       \
  Row{S, "over-memory", kIgnored, "=", {}}

// Rows shared by the phases with no process (restarting, failed, exited).
#define IDLE_ROWS(S)                                                          \
  Row{S, "spawned", kInvalid, "=", {}},                                       \
  Row{S, "spawn-failed", kInvalid, "=", {}},                                  \
  Row{S, "ready", kInvalid, "=", {}},                                         \
  Row{S, "exited", kInvalid, "=", {}},                                        \
  Row{S, "failing", kInvalid, "=", {}},                                       \
  Row{S, "stop(del)", kApplied, "gone", {A::kRemoveSlot, A::kReplyDeleted}},  \
  Row{S, "stop(replace)", kApplied, "starting", {A::kApplySpec, A::kSpawn}},  \
  Row{S, "stop(restart)", kApplied, "gone", {A::kRemoveSlot}},                \
  Row{S, "stop(shutdown)", kApplied, "gone", {A::kRemoveSlot}},               \
  Row{S, "terminate-lost", kIgnored, "=", {}},                                \
  Row{S, "stage-timer", kIgnored, "=", {}},                                   \
  Row{S, "halt", kInvalid, "=", {}},                                          \
  Row{S, "replace-id", kInvalid, "=", {}},                                    \
  Row{S, "overrun", kInvalid, "=", {}},                                       \
  Row{S, "over-memory", kInvalid, "=", {}}

// Passivation's events in a phase where they change nothing: idle means
// nothing (`I` the verdict: ignored with a process, invalid without), an
// activation is answered with the record, a perform-due timer is stale.
#define NO_PASSIVATION_ROWS(S, I)                                  \
  Row{S, "idle", I, "=", {}},                                      \
  Row{S, "activate", kApplied, "=", {A::kReplyRecord}},            \
  Row{S, "perform-due", kIgnored, "=", {}}

// Rows shared by halting and replacing (the process is ending by itself).
#define ENDING_ROWS(S)                                                              \
  Row{S, "spawned", kInvalid, "=", {}},                                             \
  Row{S, "spawn-failed", kInvalid, "=", {}},                                        \
  Row{S, "ready", kInvalid, "=", {}},                                               \
  Row{S, "failing", kApplied, "=", {}},                                             \
  Row{S, "stop(replace)", kApplied, "=", {A::kReplyError}},                         \
  Row{S, "halt", kIgnored, "=", {}},                                                \
  Row{S, "replace-id", kIgnored, "=", {}},                                          \
  Row{S, "overrun", kIgnored, "=", {}},                                             \
  Row{S, "over-memory", kIgnored, "=", {}},                                         \
  LIVE_STOP_ROWS(S)

const std::vector<Row>& table() {
  static const std::vector<Row> rows = {
      // starting (a restart ID waiting for ready: a failed start follows the policy)
      Row{"starting", "spawned", kApplied, "starting", {A::kPublish}},
      Row{"starting", "spawn-failed", kApplied, "starting", {A::kLog, A::kSpawn, A::kReplyError}},
      Row{"starting", "ready", kApplied, "running", {A::kPublish, A::kReplyRecord}},
      Row{"starting", "exited", kApplied, "starting", {A::kLog, A::kSpawn, A::kReplyError}},
      Row{"starting", "failing", kApplied, "starting", {}},
      Row{"starting",
          "stop(replace)",
          kApplied,
          "stopping",
          {A::kPublish, A::kSendTerminate, A::kArmTimer}},
      Row{"starting", "halt", kApplied, "halting", {A::kPublish}},
      Row{"starting", "replace-id", kApplied, "replacing", {A::kPublish}},
      Row{"starting", "overrun", kIgnored, "=", {}},
      Row{"starting", "over-memory", kApplied, "starting", {A::kLog, A::kSignalGroup}},
      LIVE_STOP_ROWS("starting"),
      NO_PASSIVATION_ROWS("starting", kIgnored),
      // (never ready yet: a command's end before it is a start that failed)
      Row{"starting", "command-exited", kApplied, "=", {A::kRefuseRestart}},
      // starting/put (started by a put that waits: a failed start removes it)
      Row{"starting/put", "spawned", kApplied, "starting", {A::kPublish}},
      Row{"starting/put",
          "spawn-failed",
          kApplied,
          "gone",
          {A::kLog, A::kRemoveSlot, A::kReplyError}},
      Row{"starting/put", "ready", kApplied, "running", {A::kPublish, A::kReplyRecord}},
      Row{"starting/put", "exited", kApplied, "gone", {A::kLog, A::kRemoveSlot, A::kReplyError}},
      Row{"starting/put", "failing", kApplied, "starting", {}},
      Row{"starting/put",
          "stop(replace)",
          kApplied,
          "stopping",
          {A::kPublish, A::kSendTerminate, A::kArmTimer}},
      Row{"starting/put", "halt", kApplied, "halting", {A::kPublish}},
      Row{"starting/put", "replace-id", kApplied, "replacing", {A::kPublish}},
      Row{"starting/put", "overrun", kIgnored, "=", {}},
      Row{"starting/put", "over-memory", kApplied, "starting", {A::kLog, A::kSignalGroup}},
      LIVE_STOP_ROWS("starting/put"),
      NO_PASSIVATION_ROWS("starting/put", kIgnored),
      Row{"starting/put", "command-exited", kApplied, "=", {A::kRefuseRestart}},
      // starting/activation (from passive, not spawned yet: a spawn that fails
      // leaves it passive and retries; once spawned it is any start)
      Row{"starting/activation", "spawned", kApplied, "starting", {A::kPublish, A::kReplyRecord}},
      Row{"starting/activation",
          "spawn-failed",
          kApplied,
          "passive",
          {A::kLog, A::kReplyError, A::kReleaseMailbox, A::kPublish, A::kArmTimer}},
      Row{"starting/activation", "ready", kApplied, "running", {A::kPublish}},
      Row{"starting/activation",
          "exited",
          kApplied,
          "starting",
          {A::kReplyError, A::kLog, A::kSpawn}},
      Row{"starting/activation", "failing", kApplied, "starting", {}},
      Row{"starting/activation",
          "stop(replace)",
          kApplied,
          "stopping",
          {A::kPublish, A::kSendTerminate, A::kArmTimer}},
      Row{"starting/activation", "halt", kApplied, "halting", {A::kPublish}},
      Row{"starting/activation", "replace-id", kApplied, "replacing", {A::kPublish}},
      Row{"starting/activation", "overrun", kIgnored, "=", {}},
      Row{"starting/activation", "over-memory", kApplied, "starting", {A::kLog, A::kSignalGroup}},
      LIVE_STOP_ROWS("starting/activation"),
      NO_PASSIVATION_ROWS("starting/activation", kIgnored),
      // (ready before it passivated: a command's end is restarted in place)
      Row{"starting/activation",
          "command-exited",
          kApplied,
          "starting",
          {A::kLog, A::kPublish, A::kRestartCommand}},
      // running
      Row{"running", "spawned", kInvalid, "=", {}},
      Row{"running", "spawn-failed", kInvalid, "=", {}},
      Row{"running", "ready", kIgnored, "=", {}},
      Row{"running", "exited", kApplied, "starting", {A::kLog, A::kSpawn}},
      Row{"running", "failing", kApplied, "running", {}},
      Row{"running",
          "stop(replace)",
          kApplied,
          "stopping",
          {A::kPublish, A::kSendTerminate, A::kArmTimer}},
      Row{"running", "halt", kApplied, "halting", {A::kPublish}},
      Row{"running", "replace-id", kApplied, "replacing", {A::kPublish}},
      Row{"running", "overrun", kIgnored, "=", {}},
      Row{"running", "over-memory", kApplied, "running", {A::kLog, A::kSignalGroup}},
      LIVE_STOP_ROWS("running"),
      Row{"running",
          "idle",
          kApplied,
          "passivating",
          {A::kPublish, A::kSendTerminate, A::kArmTimer}},
      Row{"running", "activate", kApplied, "running", {A::kReplyRecord}},
      Row{"running", "perform-due", kIgnored, "=", {}},
      Row{"running",
          "command-exited",
          kApplied,
          "starting",
          {A::kLog, A::kPublish, A::kRestartCommand}},
      // stopping, by stage
      STOPPING_ROWS("stopping/terminate"),
      Row{"stopping/terminate",
          "terminate-lost",
          kApplied,
          "stopping",
          {A::kSignalGroup, A::kArmTimer}},
      Row{"stopping/terminate",
          "stage-timer",
          kApplied,
          "stopping",
          {A::kLog, A::kSignalGroup, A::kArmTimer}},
      NO_PASSIVATION_ROWS("stopping/terminate", kIgnored),
      Row{"stopping/terminate", "command-exited", kApplied, "=", {A::kRefuseRestart}},
      STOPPING_ROWS("stopping/sigterm"),
      Row{"stopping/sigterm", "terminate-lost", kIgnored, "=", {}},
      Row{"stopping/sigterm", "stage-timer", kApplied, "stopping", {A::kLog, A::kSignalGroup}},
      NO_PASSIVATION_ROWS("stopping/sigterm", kIgnored),
      Row{"stopping/sigterm", "command-exited", kApplied, "=", {A::kRefuseRestart}},
      STOPPING_ROWS("stopping/sigkill"),
      Row{"stopping/sigkill", "terminate-lost", kIgnored, "=", {}},
      Row{"stopping/sigkill", "stage-timer", kIgnored, "=", {}},
      NO_PASSIVATION_ROWS("stopping/sigkill", kIgnored),
      Row{"stopping/sigkill", "command-exited", kApplied, "=", {A::kRefuseRestart}},
      // no process
      IDLE_ROWS("restarting"),
      Row{"restarting", "backoff-timer", kApplied, "starting", {A::kSpawn}},
      NO_PASSIVATION_ROWS("restarting", kInvalid),
      Row{"restarting", "command-exited", kInvalid, "=", {}},
      IDLE_ROWS("failed"),
      Row{"failed", "backoff-timer", kIgnored, "=", {}},
      NO_PASSIVATION_ROWS("failed", kInvalid),
      Row{"failed", "command-exited", kInvalid, "=", {}},
      IDLE_ROWS("exited"),
      Row{"exited", "backoff-timer", kIgnored, "=", {}},
      NO_PASSIVATION_ROWS("exited", kInvalid),
      Row{"exited", "command-exited", kInvalid, "=", {}},
      // ending by itself
      ENDING_ROWS("halting"),
      Row{"halting", "exited", kApplied, "gone", {A::kRemoveSlot}},
      NO_PASSIVATION_ROWS("halting", kIgnored),
      Row{"halting", "command-exited", kApplied, "=", {A::kRefuseRestart}},
      ENDING_ROWS("replacing"),
      Row{"replacing", "exited", kApplied, "gone", {A::kRemoveSlot, A::kStartReplacement}},
      NO_PASSIVATION_ROWS("replacing", kIgnored),
      Row{"replacing", "command-exited", kApplied, "=", {A::kRefuseRestart}},
      // passivating (terminate("passivate") sent): a stop like any other,
      // except what its end means; a crash before any signal of ours is a crash
      Row{"passivating", "spawned", kInvalid, "=", {}},
      Row{"passivating", "spawn-failed", kInvalid, "=", {}},
      Row{"passivating", "ready", kInvalid, "=", {}},
      Row{"passivating", "exited", kApplied, "starting", {A::kLog, A::kSpawn}},
      Row{"passivating", "failing", kApplied, "passivating", {}},
      Row{"passivating", "stop(del)", kApplied, "stopping", {A::kPublish}},
      Row{"passivating", "stop(replace)", kApplied, "stopping", {A::kPublish}},
      Row{"passivating", "stop(restart)", kApplied, "stopping", {A::kPublish}},
      Row{"passivating", "stop(shutdown)", kApplied, "stopping", {A::kPublish}},
      Row{"passivating",
          "terminate-lost",
          kApplied,
          "passivating",
          {A::kSignalGroup, A::kArmTimer}},
      Row{"passivating",
          "stage-timer",
          kApplied,
          "passivating",
          {A::kLog, A::kSignalGroup, A::kArmTimer}},
      Row{"passivating", "backoff-timer", kIgnored, "=", {}},
      Row{"passivating", "halt", kIgnored, "=", {}},
      Row{"passivating", "replace-id", kIgnored, "=", {}},
      Row{"passivating", "overrun", kIgnored, "=", {}},
      Row{"passivating", "over-memory", kIgnored, "=", {}},
      NO_PASSIVATION_ROWS("passivating", kIgnored),
      Row{"passivating", "command-exited", kApplied, "=", {A::kRefuseRestart}},
      // passive: no process; a caller or a due perform starts it
      IDLE_ROWS("passive"),
      Row{"passive", "backoff-timer", kIgnored, "=", {}},
      Row{"passive", "idle", kInvalid, "=", {}},
      Row{"passive", "activate", kApplied, "starting", {A::kSpawn}},
      Row{"passive", "perform-due", kApplied, "starting", {A::kSpawn}},
      Row{"passive", "command-exited", kInvalid, "=", {}},
      // gone: the loop has dropped the slot; nothing may reach it
      Row{"gone", "spawned", kInvalid, "=", {}},
      Row{"gone", "spawn-failed", kInvalid, "=", {}},
      Row{"gone", "ready", kInvalid, "=", {}},
      Row{"gone", "exited", kInvalid, "=", {}},
      Row{"gone", "failing", kInvalid, "=", {}},
      Row{"gone", "stop(del)", kInvalid, "=", {}},
      Row{"gone", "stop(replace)", kInvalid, "=", {}},
      Row{"gone", "stop(restart)", kInvalid, "=", {}},
      Row{"gone", "stop(shutdown)", kInvalid, "=", {}},
      Row{"gone", "terminate-lost", kIgnored, "=", {}},
      Row{"gone", "stage-timer", kIgnored, "=", {}},
      Row{"gone", "backoff-timer", kIgnored, "=", {}},
      Row{"gone", "halt", kInvalid, "=", {}},
      Row{"gone", "replace-id", kInvalid, "=", {}},
      Row{"gone", "overrun", kInvalid, "=", {}},
      Row{"gone", "over-memory", kInvalid, "=", {}},
      Row{"gone", "idle", kInvalid, "=", {}},
      Row{"gone", "activate", kInvalid, "=", {}},
      Row{"gone", "perform-due", kIgnored, "=", {}},
      Row{"gone", "command-exited", kInvalid, "=", {}},
  };
  return rows;
}

std::string kinds(const std::vector<Action>& actions) {
  std::ostringstream os;
  for (const auto& a : actions) os << to_string(a.kind) << ' ';
  return os.str();
}

std::string kinds(const std::vector<A>& actions) {
  std::ostringstream os;
  for (A a : actions) os << to_string(a) << ' ';
  return os.str();
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kApplied: return "applied";
    case Verdict::kIgnored: return "ignored";
    case Verdict::kInvalid: return "invalid";
  }
  return "?";
}

TEST(WorkerLifecycle, EveryStateEventPairHasExactlyOneRow) {
  for (const auto& [skey, state] : states()) {
    for (const auto& [ekey, event] : events()) {
      int found = 0;
      for (const auto& r : table()) found += (skey == r.state && ekey == r.event) ? 1 : 0;
      EXPECT_EQ(found, 1) << "(" << skey << ", " << ekey << ") has " << found
                          << " rows in the table; it needs exactly one";
    }
  }
  for (const auto& r : table()) {
    EXPECT_TRUE(states().count(r.state)) << "row for unknown state " << r.state;
    EXPECT_TRUE(events().count(r.event)) << "row for unknown event " << r.event;
  }
  // Every phase and every event kind is covered by some fixture.
  std::vector<bool> phases(kPhaseCount), kinds_seen(kEventKindCount);
  for (const auto& [k, s] : states()) phases[static_cast<int>(s.phase)] = true;
  for (const auto& [k, e] : events()) kinds_seen[static_cast<int>(e.kind)] = true;
  for (int i = 0; i < kPhaseCount; ++i) EXPECT_TRUE(phases[i]) << "no state fixture for phase " << i;
  for (int i = 0; i < kEventKindCount; ++i) EXPECT_TRUE(kinds_seen[i]) << "no event fixture for kind " << i;
}

TEST(WorkerLifecycle, EveryRowHolds) {
  const Context ctx = context();
  for (const auto& r : table()) {
    const auto s = states().find(r.state);
    const auto e = events().find(r.event);
    if (s == states().end() || e == events().end()) continue;  // reported above
    const Transition t = step(s->second, e->second, kNow, ctx);
    SCOPED_TRACE(std::string("(") + r.state + ", " + r.event + ")");
    EXPECT_EQ(verdict_name(t.verdict), std::string(verdict_name(r.verdict)));
    const std::string next = r.next == std::string("=") ? std::string(to_string(s->second.phase)) : r.next;
    EXPECT_EQ(std::string(to_string(t.next.phase)), next);
    EXPECT_EQ(kinds(t.actions), kinds(r.actions));
    if (r.verdict != kApplied) {
      EXPECT_TRUE(t.actions.empty());
      EXPECT_EQ(t.next.phase, s->second.phase);
      EXPECT_EQ(t.next.stage, s->second.stage);
      EXPECT_EQ(t.next.timer_token, s->second.timer_token);
    }
  }
}

// ---------------------------------------------------------------- values behind the rows

const Action* find(const Transition& t, A kind) {
  for (const auto& a : t.actions) {
    if (a.kind == kind) return &a;
  }
  return nullptr;
}

// An exec worker's command ended while the worker is sound: the restart
// policy decides on the command's exit, and an immediate restart happens in
// the same process (README "Exec workers").
TEST(WorkerLifecycle, ACommandThatEndsIsRestartedInPlaceAndCountedAsARestart) {
  const Context ctx = context();
  const Event ended = events().at("command-exited");
  Transition t = step(states().at("running"), ended, kNow, ctx);
  ASSERT_EQ(t.next.phase, Phase::kStarting);
  EXPECT_EQ(find(t, A::kRestartCommand)->seq, 3u);  // the worker's number, echoed
  EXPECT_EQ(find(t, A::kRefuseRestart), nullptr);
  EXPECT_EQ(t.next.restarts, 1u);
  EXPECT_EQ(t.next.last_exit.kind, ExitInfo::Kind::kSignaled);
  EXPECT_EQ(t.next.last_exit.reason, "command killed by SIGKILL");
  EXPECT_EQ(t.next.history.recent_ms, std::vector<std::uint64_t>{kNow});
  EXPECT_EQ(find(t, A::kSpawn), nullptr);  // no new process
  // It reports ready again: running, its first restart answered.
  t = step(t.next, events().at("ready"), kNow + 1, ctx);
  EXPECT_EQ(t.next.phase, Phase::kRunning);
  // A command that ends again before that ready is decided again, in
  // starting: with no backoff configured, restarted in place again...
  Context no_backoff = ctx;
  no_backoff.backoff.base_ms = 0;
  const WorkerState restarting = step(states().at("running"), ended, kNow, no_backoff).next;
  Transition again = step(restarting, ended, kNow + 2, no_backoff);
  EXPECT_NE(find(again, A::kRestartCommand), nullptr);
  EXPECT_EQ(again.next.restarts, 2u);
  // ...and with the default backoff, the second consecutive one would wait:
  // refused, the worker ends and its exit waits out the backoff.
  again = step(restarting, ended, kNow + 2, ctx);
  EXPECT_NE(find(again, A::kRefuseRestart), nullptr);
}

TEST(WorkerLifecycle, ACommandRestartThePolicyWouldDelayOrRefuseEndsTheWorkerInstead) {
  const Context ctx = context();
  const Event ended = events().at("command-exited");
  auto refused = [&](const WorkerState& s, const Context& c) {
    const Transition t = step(s, ended, kNow, c);
    EXPECT_EQ(t.verdict, Verdict::kApplied);
    ASSERT_NE(find(t, A::kRefuseRestart), nullptr);
    EXPECT_EQ(find(t, A::kRefuseRestart)->seq, 3u);
    EXPECT_EQ(find(t, A::kRestartCommand), nullptr);
    // Nothing is counted: the worker's own exit is decided as every exit,
    // from the same history, and so comes out the same.
    EXPECT_EQ(t.next.phase, s.phase);
    EXPECT_EQ(t.next.restarts, s.restarts);
    EXPECT_EQ(t.next.history.recent_ms, s.history.recent_ms);
    EXPECT_EQ(t.next.history.consecutive, s.history.consecutive);
    EXPECT_EQ(t.next.last_exit.kind, s.last_exit.kind);
  };
  WorkerState s = states().at("running");
  // Over its intensity: one restart allowed in the window, one already made.
  s.limits.max_restarts = 1;
  s.history.recent_ms = {kNow - 10};
  refused(s, ctx);
  // A backoff delay: not a restart in place (the worker ends, the timer waits).
  s = states().at("running");
  s.history.consecutive = 2;
  refused(s, ctx);
  // temporary: never restarted.
  s = states().at("running");
  s.limits.type = RestartType::kTemporary;
  refused(s, ctx);
  // The supervisor is stopping.
  Context stopping = ctx;
  stopping.shutting_down = true;
  refused(states().at("running"), stopping);
  // transient and a clean exit: done.
  s = states().at("running");
  s.limits.type = RestartType::kTransient;
  Event clean = ended;
  clean.exit = ExitInfo::from_wait_status(0);
  const Transition t = step(s, clean, kNow, ctx);
  EXPECT_NE(find(t, A::kRefuseRestart), nullptr);
}

TEST(WorkerLifecycle, StopStagesEscalateWithTheirTimeouts) {
  const Context ctx = context();
  WorkerState s = states().at("running");
  Transition t = step(s, events().at("stop(del)"), kNow, ctx);
  ASSERT_EQ(t.next.stage, Stage::kTerminateSent);
  EXPECT_EQ(find(t, A::kSendTerminate)->message, "del");
  EXPECT_EQ(find(t, A::kArmTimer)->delay_ms, 2000u);
  EXPECT_EQ(t.next.exit_waiters, std::vector<Waiter>{waiter("client")});
  Event timer{EventKind::kStageTimer};
  timer.token = t.next.timer_token;
  t = step(t.next, timer, kNow, ctx);
  EXPECT_EQ(find(t, A::kSignalGroup)->signal, SIGTERM);
  EXPECT_EQ(find(t, A::kArmTimer)->delay_ms, 3000u);
  t = step(t.next, timer, kNow, ctx);
  EXPECT_EQ(find(t, A::kSignalGroup)->signal, SIGKILL);
  EXPECT_EQ(t.next.stage, Stage::kSigkillSent);
}

TEST(WorkerLifecycle, AStaleTimerIsIgnored) {
  const Context ctx = context();
  Event timer{EventKind::kStageTimer};
  timer.token = kToken - 1;
  EXPECT_EQ(step(states().at("stopping/terminate"), timer, kNow, ctx).verdict, Verdict::kIgnored);
  timer.kind = EventKind::kBackoffTimer;
  EXPECT_EQ(step(states().at("restarting"), timer, kNow, ctx).verdict, Verdict::kIgnored);
  // An exit moves the token on: the process's stop timers can no longer fire.
  const Transition t = step(states().at("stopping/terminate"), events().at("exited"), kNow, ctx);
  EXPECT_NE(t.next.timer_token, kToken);
}

TEST(WorkerLifecycle, RepeatedCrashesBackOffThenFail) {
  Context ctx = context();
  ctx.backoff = BackoffConfig{100, 1000, 10'000};
  WorkerState s = states().at("running");
  s.limits = RestartLimits{RestartType::kPermanent, 3, 60'000};
  Event crash = events().at("exited");
  // First crash: at once. Second: after 100 ms (restarting, timer armed).
  Transition t = step(s, crash, kNow, ctx);
  EXPECT_EQ(t.next.phase, Phase::kStarting);
  EXPECT_EQ(t.next.restarts, 1u);
  t = step(t.next, crash, kNow + 10, ctx);
  ASSERT_EQ(t.next.phase, Phase::kRestarting);
  EXPECT_EQ(find(t, A::kArmTimer)->delay_ms, 100u);
  EXPECT_EQ(find(t, A::kArmTimer)->timer, TimerKind::kBackoff);
  Event backoff{EventKind::kBackoffTimer};
  backoff.token = t.next.timer_token;
  t = step(t.next, backoff, kNow + 110, ctx);
  ASSERT_EQ(t.next.phase, Phase::kStarting);
  t = step(t.next, crash, kNow + 120, ctx);
  ASSERT_EQ(t.next.phase, Phase::kRestarting);
  backoff.token = t.next.timer_token;
  t = step(t.next, backoff, kNow + 400, ctx);
  t = step(t.next, crash, kNow + 410, ctx);
  EXPECT_EQ(t.next.phase, Phase::kFailed);
  EXPECT_EQ(t.next.restarts, 3u);
  const Action* log = find(t, A::kLog);
  ASSERT_NE(log, nullptr);
  EXPECT_NE(t.actions.back().kind, A::kSpawn);
}

TEST(WorkerLifecycle, TemporaryAndTransientFollowThePolicy) {
  const Context ctx = context();
  WorkerState s = states().at("running");
  s.limits.type = RestartType::kTemporary;
  EXPECT_EQ(step(s, events().at("exited"), kNow, ctx).next.phase, Phase::kExited);
  s.limits.type = RestartType::kTransient;
  Event clean{EventKind::kExited};
  clean.exit = ExitInfo::from_wait_status(0);
  EXPECT_EQ(step(s, clean, kNow, ctx).next.phase, Phase::kExited);
  EXPECT_EQ(step(s, events().at("exited"), kNow, ctx).next.phase, Phase::kStarting);
}

TEST(WorkerLifecycle, NoImmediateRespawnWhileTheSupervisorStops) {
  Context ctx = context();
  ctx.shutting_down = true;
  const Transition t = step(states().at("running"), events().at("exited"), kNow, ctx);
  EXPECT_EQ(t.next.phase, Phase::kRestarting);
  EXPECT_EQ(find(t, A::kSpawn), nullptr);
}

TEST(WorkerLifecycle, TheWorkersLastWordsBecomeTheExitReason) {
  const Context ctx = context();
  Transition t = step(states().at("running"), events().at("failing"), kNow, ctx);
  t = step(t.next, events().at("exited"), kNow, ctx);
  EXPECT_EQ(t.next.last_exit.reason, "perform threw (killed by SIGKILL)");
  EXPECT_TRUE(t.next.failing_reason.empty());
}

TEST(WorkerLifecycle, OnOverrunKillKillsOnceAndTheExitIsCountedAsAnOverrun) {
  const Context ctx = context();
  WorkerState running = states().at("running");
  running.on_overrun = OnOverrun::kKill;
  Transition t = step(running, events().at("overrun"), kNow, ctx);
  ASSERT_EQ(t.verdict, Verdict::kApplied);
  const Action* kill = find(t, A::kSignalGroup);
  ASSERT_NE(kill, nullptr);
  EXPECT_EQ(kill->signal, SIGKILL);
  EXPECT_EQ(t.next.phase, Phase::kRunning);  // until its exit is seen
  // Reported again (or over memory too) before the exit: killed once.
  EXPECT_EQ(step(t.next, events().at("overrun"), kNow, ctx).verdict, Verdict::kIgnored);
  EXPECT_EQ(step(t.next, events().at("over-memory"), kNow, ctx).verdict, Verdict::kIgnored);
  // The exit is the overrun (code: the signal), and the policy restarts it.
  t = step(t.next, events().at("exited"), kNow, ctx);
  EXPECT_EQ(t.next.last_exit.kind, ExitInfo::Kind::kOverrun);
  EXPECT_EQ(t.next.last_exit.code, SIGKILL);
  EXPECT_EQ(t.next.last_exit.reason, "overran lull x timeout (killed by SIGKILL)");
  EXPECT_EQ(t.next.phase, Phase::kStarting);
  EXPECT_NE(find(t, A::kSpawn), nullptr);
  EXPECT_FALSE(t.next.killed_for);
  // The spec's choice goes with a put-over's new spec.
  ChildSpec report = spec_with_payload(1);
  Event put_over = stop_request(StopCause::kReplace);
  put_over.replacement->spec = report;
  t = step(running, put_over, kNow, ctx);
  t = step(t.next, events().at("exited"), kNow, ctx);
  EXPECT_EQ(t.next.on_overrun, OnOverrun::kReport);
}

TEST(WorkerLifecycle, OverMemoryKillsWhateverOnOverrunSays) {
  const Context ctx = context();
  Transition t = step(states().at("running"), events().at("over-memory"), kNow, ctx);
  ASSERT_NE(find(t, A::kSignalGroup), nullptr);
  t = step(t.next, events().at("exited"), kNow, ctx);
  EXPECT_EQ(t.next.last_exit.kind, ExitInfo::Kind::kMaxMemory);
  EXPECT_EQ(t.next.last_exit.reason, "used too much memory (killed by SIGKILL)");
  EXPECT_TRUE(t.next.last_exit.abnormal());
}

// A put's failed start: the put is answered with the exit and the id removed
// (README "Exit codes": a failed command changes nothing).
TEST(WorkerLifecycle, AFailedStartAnswersThePutWithTheExitAndRemovesIt) {
  const Context ctx = context();
  const Transition t = step(states().at("starting/put"), events().at("exited"), kNow, ctx);
  const Action* err = find(t, A::kReplyError);
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->waiters, std::vector<Waiter>{waiter("put")});
  EXPECT_EQ(err->message, "worker 'w' exited during start: killed by SIGKILL");
  EXPECT_TRUE(t.next.ready_waiters.empty());
  EXPECT_EQ(t.next.phase, Phase::kGone);
  EXPECT_NE(find(t, A::kRemoveSlot), nullptr);
  EXPECT_EQ(find(t, A::kSpawn), nullptr);
  // Once ready, it is a worker like any other: a later crash is the policy's.
  Transition r = step(states().at("starting/put"), events().at("ready"), kNow, ctx);
  EXPECT_FALSE(r.next.put_start);
  r = step(r.next, events().at("exited"), kNow, ctx);
  EXPECT_EQ(r.next.phase, Phase::kStarting);
  EXPECT_NE(find(r, A::kSpawn), nullptr);
}

// Any other start that fails (restart ID here) answers its waiter with the
// exit and leaves the worker to its restart policy.
TEST(WorkerLifecycle, AFailedRestartAnswersWithTheExitAndThePolicyApplies) {
  const Context ctx = context();
  const Transition t = step(states().at("starting"), events().at("exited"), kNow, ctx);
  const Action* err = find(t, A::kReplyError);
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->waiters, std::vector<Waiter>{waiter("restart")});
  EXPECT_EQ(err->message, "worker 'w' exited during start: killed by SIGKILL");
  EXPECT_EQ(t.next.phase, Phase::kStarting);
  EXPECT_NE(find(t, A::kSpawn), nullptr);
}

// put over an existing id: the new spec's start is the put's, restart ID's is not.
TEST(WorkerLifecycle, OnlyAPutOverMarksItsStartAsThePuts) {
  const Context ctx = context();
  Transition t = step(states().at("running"), events().at("stop(replace)"), kNow, ctx);
  t = step(t.next, events().at("exited"), kNow, ctx);
  ASSERT_EQ(t.next.phase, Phase::kStarting);
  EXPECT_TRUE(t.next.put_start);
  t = step(t.next, events().at("exited"), kNow, ctx);
  EXPECT_EQ(t.next.phase, Phase::kGone);
  EXPECT_EQ(find(t, A::kReplyError)->waiters, std::vector<Waiter>{waiter("client")});

  Event restart = events().at("stop(replace)");
  restart.replacement = Replacement{"w", spec_with_payload(5), /*restart=*/true};
  t = step(states().at("running"), restart, kNow, ctx);
  t = step(t.next, events().at("exited"), kNow, ctx);
  ASSERT_EQ(t.next.phase, Phase::kStarting);
  EXPECT_FALSE(t.next.put_start);
}

TEST(WorkerLifecycle, PutOverStartsTheLatestSpecInTheSameSlot) {
  const Context ctx = context();
  Transition t = step(states().at("running"), events().at("stop(replace)"), kNow, ctx);
  ASSERT_EQ(t.next.cause, StopCause::kReplace);
  EXPECT_EQ(find(t, A::kSendTerminate)->message, "replace");
  Event second = events().at("stop(replace)");
  second.waiter = waiter("second");
  second.replacement = Replacement{"w", spec_with_payload(6)};
  t = step(t.next, second, kNow, ctx);
  EXPECT_TRUE(t.actions.empty());
  t = step(t.next, events().at("exited"), kNow, ctx);
  ASSERT_EQ(t.next.phase, Phase::kStarting);
  const Action* apply = find(t, A::kApplySpec);
  ASSERT_NE(apply, nullptr);
  EXPECT_EQ(apply->replacement->spec.payload, json::value(6));
  EXPECT_EQ(t.next.restarts, 0u);
  EXPECT_EQ(t.next.last_exit.kind, ExitInfo::Kind::kNone);
  // Both puts are answered by the new process's ready.
  t = step(t.next, events().at("ready"), kNow, ctx);
  EXPECT_EQ(find(t, A::kReplyRecord)->waiters,
            (std::vector<Waiter>{waiter("client"), waiter("second")}));
}

TEST(WorkerLifecycle, RestartOfOneWorkerKeepsItsCountAndLastExit) {
  const Context ctx = context();
  WorkerState s = states().at("running");
  s.restarts = 2;
  s.last_exit = ExitInfo::from_wait_status(SIGKILL);
  s.history.recent_ms = {kNow - 10};
  s.history.consecutive = 2;
  Event restart = events().at("stop(replace)");
  restart.replacement = Replacement{"w", spec_with_payload(5), /*restart=*/true};
  Transition t = step(s, restart, kNow, ctx);
  ASSERT_EQ(t.next.cause, StopCause::kReplace);
  EXPECT_EQ(find(t, A::kSendTerminate)->message, "restart");  // the worker is told why
  Event clean{EventKind::kExited};
  clean.exit = ExitInfo::from_wait_status(0);
  t = step(t.next, clean, kNow, ctx);
  ASSERT_EQ(t.next.phase, Phase::kStarting);
  EXPECT_EQ(find(t, A::kApplySpec)->replacement->spec.payload, json::value(5));
  EXPECT_EQ(t.next.restarts, 3u);                       // counted, as PM2 counts a restart
  EXPECT_EQ(t.next.last_exit.kind, ExitInfo::Kind::kExited);  // the stop's own exit
  EXPECT_TRUE(t.next.history.recent_ms.empty());        // a fresh intensity window
  EXPECT_EQ(t.next.history.consecutive, 0u);
  EXPECT_NE(find(t, A::kSpawn), nullptr);
  // A failed worker (no process) starts again at once.
  s = states().at("failed");
  t = step(s, restart, kNow, ctx);
  EXPECT_EQ(t.next.phase, Phase::kStarting);
  EXPECT_EQ(t.next.restarts, 1u);
  EXPECT_NE(find(t, A::kSpawn), nullptr);
}

TEST(WorkerLifecycle, ReplaceIdHandsTheNewIdOnOnceTheProcessIsGone) {
  const Context ctx = context();
  Transition t = step(states().at("running"), events().at("replace-id"), kNow, ctx);
  EXPECT_EQ(status_of(t.next.phase), WorkerStatus::kStopping);
  t = step(t.next, events().at("exited"), kNow, ctx);
  const Action* start = find(t, A::kStartReplacement);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->replacement->id, "next");
  EXPECT_EQ(start->replacement->spec.payload, json::value(9));
}

TEST(WorkerLifecycle, ADelDuringAStopIsAnsweredWhenTheSlotIsRemoved) {
  const Context ctx = context();
  Transition t = step(states().at("running"), events().at("stop(shutdown)"), kNow, ctx);
  t = step(t.next, events().at("stop(del)"), kNow, ctx);
  EXPECT_EQ(t.next.cause, StopCause::kDelete);
  t = step(t.next, events().at("exited"), kNow, ctx);
  EXPECT_EQ(find(t, A::kReplyDeleted)->waiters, std::vector<Waiter>{waiter("client")});
}

TEST(WorkerLifecycle, StatusesFollowThePhase) {
  EXPECT_EQ(status_of(Phase::kStarting), WorkerStatus::kStarting);
  EXPECT_EQ(status_of(Phase::kRunning), WorkerStatus::kRunning);
  EXPECT_EQ(status_of(Phase::kStopping), WorkerStatus::kStopping);
  EXPECT_EQ(status_of(Phase::kRestarting), WorkerStatus::kRestarting);
  EXPECT_EQ(status_of(Phase::kFailed), WorkerStatus::kFailed);
  EXPECT_EQ(status_of(Phase::kExited), WorkerStatus::kExited);
  EXPECT_EQ(status_of(Phase::kHalting), WorkerStatus::kHalted);
  EXPECT_EQ(status_of(Phase::kReplacing), WorkerStatus::kStopping);
  EXPECT_EQ(status_of(Phase::kPassivating), WorkerStatus::kPassivating);
  EXPECT_EQ(status_of(Phase::kPassive), WorkerStatus::kPassive);
  EXPECT_EQ(status_of(Phase::kGone), WorkerStatus::kFree);
}

// ---------------------------------------------------------------- passivation

WorkerState running_state(std::uint32_t timeout_ms = 0) {
  ChildSpec spec = spec_with_payload(0);
  spec.timeout_ms = timeout_ms;
  WorkerState s = initial_state(spec, false);
  s.phase = Phase::kRunning;
  s.ever_ready = true;
  s.timer_token = kToken;
  return s;
}

Event clean_exit() {
  Event e{EventKind::kExited};
  e.exit = ExitInfo::from_wait_status(0);
  e.uptime_ms = 5000;
  return e;
}

TEST(WorkerLifecycle, AnIdleWorkerIsToldToPassivateAndIsPassiveOnceGone) {
  const Context ctx = context();
  WorkerState s = running_state();
  s.last_exit = ExitInfo::from_wait_status(SIGKILL);  // an earlier crash
  Event idle{EventKind::kIdle};
  Transition t = step(s, idle, kNow, ctx);
  ASSERT_EQ(t.next.phase, Phase::kPassivating);
  const Action* term = find(t, A::kSendTerminate);
  ASSERT_NE(term, nullptr);
  EXPECT_EQ(term->message, "passivate");
  EXPECT_EQ(t.next.perform_due_ms, 0u);  // it does not perform: nothing to wake it
  t = step(t.next, clean_exit(), kNow + 10, ctx);
  EXPECT_EQ(t.next.phase, Phase::kPassive);
  EXPECT_EQ(kinds(t.actions), kinds(std::vector<A>{A::kReleaseMailbox, A::kPublish}));
  EXPECT_EQ(t.next.passivations, 1u);
  EXPECT_EQ(t.next.restarts, 0u);
  // Not an exit of the restart policy's: the last exit stays the crash.
  EXPECT_EQ(t.next.last_exit.kind, ExitInfo::Kind::kSignaled);
  EXPECT_TRUE(t.next.history.recent_ms.empty());
}

TEST(WorkerLifecycle, APassiveWorkerWhosePerformIsDueIsStartedThen) {
  const Context ctx = context();
  Event idle{EventKind::kIdle};
  idle.next_perform_ms = 700;
  Transition t = step(running_state(5000), idle, kNow, ctx);
  EXPECT_EQ(t.next.perform_due_ms, kNow + 700);
  t = step(t.next, clean_exit(), kNow + 200, ctx);
  ASSERT_EQ(t.next.phase, Phase::kPassive);
  const Action* timer = find(t, A::kArmTimer);
  ASSERT_NE(timer, nullptr);
  EXPECT_EQ(timer->timer, TimerKind::kPerformDue);
  EXPECT_EQ(timer->delay_ms, 500u);
  Event due{EventKind::kPerformDue};
  due.token = t.next.timer_token;
  const Transition started = step(t.next, due, kNow + 700, ctx);
  EXPECT_EQ(started.next.phase, Phase::kStarting);
  // The spawn reads it: the new process performs at once.
  EXPECT_EQ(started.next.perform_due_ms, kNow + 700);
  const Transition ready = step(started.next, Event{EventKind::kReady}, kNow + 710, ctx);
  EXPECT_EQ(ready.next.perform_due_ms, 0u);
  // A due timer from before a caller's activation is stale.
  due.token = t.next.timer_token;
  Event call{EventKind::kActivate};
  const Transition by_call = step(t.next, call, kNow + 300, ctx);
  EXPECT_EQ(step(by_call.next, due, kNow + 700, ctx).verdict, Verdict::kIgnored);
}

TEST(WorkerLifecycle, ManyCallersActivateOneProcessAndAreAnsweredOnceItExists) {
  const Context ctx = context();
  WorkerState s = running_state();
  s.phase = Phase::kPassive;
  Event first{EventKind::kActivate};
  first.waiter = waiter("first");
  Transition t = step(s, first, kNow, ctx);
  EXPECT_EQ(kinds(t.actions), kinds(std::vector<A>{A::kSpawn}));
  Event second{EventKind::kActivate};
  second.waiter = waiter("second");
  Transition t2 = step(t.next, second, kNow, ctx);
  EXPECT_EQ(kinds(t2.actions), kinds(std::vector<A>{A::kReplyRecord}));  // no second spawn
  EXPECT_EQ(t2.actions[0].waiters, std::vector<Waiter>{waiter("second")});
  Transition spawned = step(t2.next, Event{EventKind::kSpawned}, kNow, ctx);
  EXPECT_EQ(kinds(spawned.actions), kinds(std::vector<A>{A::kPublish, A::kReplyRecord}));
  EXPECT_EQ(spawned.actions[1].waiters, std::vector<Waiter>{waiter("first")});
  // A start that fails answers them with why.
  Event failed{EventKind::kSpawnFailed};
  failed.exit.kind = ExitInfo::Kind::kSpawnFailed;
  failed.exit.reason = "no memory";
  const Transition f = step(t2.next, failed, kNow, ctx);
  const Action* err = find(f, A::kReplyError);
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->waiters, std::vector<Waiter>{waiter("first")});
}

// An activation whose process cannot be started (a full /dev/shm): nothing
// crashed, so the restart policy is not asked and the id never fails; it
// stays passive, its callers get the reason, and the retry backs off.
TEST(WorkerLifecycle, AnActivationThatCannotSpawnStaysPassiveAndRetriesWithBackoff) {
  const Context ctx = context();
  WorkerState s = running_state();
  s.phase = Phase::kPassive;
  s.perform_due_ms = kNow - 10;
  Event call{EventKind::kActivate};
  call.waiter = waiter("caller");
  Event failed{EventKind::kSpawnFailed};
  failed.exit.kind = ExitInfo::Kind::kSpawnFailed;
  failed.exit.reason = "unable to create its mailbox: No space left on device";
  std::uint64_t now = kNow;
  std::vector<std::uint64_t> retries;
  for (int i = 0; i < 8; ++i) {
    Transition t = step(s, call, now, ctx);
    ASSERT_EQ(t.next.phase, Phase::kStarting);
    t = step(t.next, failed, now, ctx);
    ASSERT_EQ(t.next.phase, Phase::kPassive) << i;
    const Action* err = find(t, A::kReplyError);
    ASSERT_NE(err, nullptr);
    EXPECT_EQ(err->waiters, std::vector<Waiter>{waiter("caller")});
    EXPECT_NE(err->message.find("No space left on device"), std::string::npos) << err->message;
    const Action* release = find(t, A::kReleaseMailbox);
    ASSERT_NE(release, nullptr);
    const Action* timer = find(t, A::kArmTimer);
    ASSERT_NE(timer, nullptr);
    EXPECT_EQ(timer->timer, TimerKind::kPerformDue);
    EXPECT_EQ(timer->delay_ms, release->delay_ms);
    retries.push_back(release->delay_ms);
    EXPECT_EQ(t.next.restarts, s.restarts);
    EXPECT_TRUE(t.next.history.recent_ms.empty());
    s = t.next;
    now += 1;
  }
  EXPECT_EQ(retries, (std::vector<std::uint64_t>{100, 200, 400, 800, 1600, 3200, 5000, 5000}));
  // The retry is the perform's own timer: due, it starts the worker again.
  Event due{EventKind::kPerformDue};
  due.token = s.timer_token;
  Transition t = step(s, due, now + 5000, ctx);
  ASSERT_EQ(t.next.phase, Phase::kStarting);
  EXPECT_TRUE(t.next.activating);
  // Once a process exists, the count starts again and a crash is a crash.
  t = step(t.next, Event{EventKind::kSpawned}, now + 5000, ctx);
  EXPECT_EQ(t.next.failed_activations, 0u);
  EXPECT_FALSE(t.next.activating);
  Event crash{EventKind::kExited};
  crash.exit = ExitInfo::from_wait_status(SIGKILL);
  t = step(t.next, crash, now + 5001, ctx);
  EXPECT_EQ(t.next.restarts, s.restarts + 1);
  // A passive worker with no perform due retries only for what waits in
  // its mailbox (the release's delay); no timer of its own.
  s.perform_due_ms = 0;
  t = step(step(s, call, now, ctx).next, failed, now, ctx);
  EXPECT_EQ(find(t, A::kArmTimer), nullptr);
  EXPECT_EQ(find(t, A::kReleaseMailbox)->delay_ms, 5000u);
}

TEST(WorkerLifecycle, APassivationThatNeedsOurSignalsStillEndsPassive) {
  const Context ctx = context();
  Transition t = step(running_state(), Event{EventKind::kIdle}, kNow, ctx);
  Event timer{EventKind::kStageTimer};
  timer.token = t.next.timer_token;
  t = step(t.next, timer, kNow + 2000, ctx);  // no stop after terminate: SIGTERM
  ASSERT_EQ(t.next.stage, Stage::kSigtermSent);
  Event killed{EventKind::kExited};
  killed.exit = ExitInfo::from_wait_status(SIGTERM);
  t = step(t.next, killed, kNow + 2100, ctx);
  EXPECT_EQ(t.next.phase, Phase::kPassive);
  EXPECT_EQ(t.next.restarts, 0u);
}

TEST(WorkerLifecycle, PutPassiveOverARunningWorkerRegistersTheNewSpecPassive) {
  const Context ctx = context();
  Event put{EventKind::kStopRequested};
  put.cause = StopCause::kReplace;
  put.waiter = waiter("put");
  put.replacement = Replacement{"w", spec_with_payload(5)};
  put.replacement->passive = true;
  Transition t = step(running_state(), put, kNow, ctx);
  ASSERT_EQ(t.next.phase, Phase::kStopping);
  t = step(t.next, clean_exit(), kNow + 5, ctx);
  EXPECT_EQ(t.next.phase, Phase::kPassive);
  EXPECT_EQ(kinds(t.actions),
            kinds(std::vector<A>{A::kApplySpec, A::kReleaseMailbox, A::kPublish, A::kReplyRecord}));
  // A spec that performs is started for its first perform.
  put.replacement->spec.timeout_ms = 250;
  t = step(running_state(), put, kNow, ctx);
  t = step(t.next, clean_exit(), kNow + 5, ctx);
  const Action* timer = find(t, A::kArmTimer);
  ASSERT_NE(timer, nullptr);
  EXPECT_EQ(timer->timer, TimerKind::kPerformDue);
  EXPECT_EQ(timer->delay_ms, 250u);
}

TEST(WorkerLifecycle, ARegisteredPassiveWorkerThatPerformsIsStartedForItsFirstPerform) {
  ChildSpec spec = spec_with_payload(1);
  EXPECT_EQ(kinds(register_passive(spec, kNow, context()).actions),
            kinds(std::vector<A>{A::kPublish}));
  spec.timeout_ms = 300;
  Transition t = register_passive(spec, kNow, context());
  EXPECT_EQ(t.next.phase, Phase::kPassive);
  const Action* timer = find(t, A::kArmTimer);
  ASSERT_NE(timer, nullptr);
  EXPECT_EQ(timer->delay_ms, 300u);
  spec.instant_perform = true;
  EXPECT_EQ(find(register_passive(spec, kNow, context()), A::kArmTimer)->delay_ms, 0u);
}

// ================================================================ manager phase

namespace mp = manager_phase;
using MA = mp::ActionKind;

const std::map<std::string, mp::State>& manager_states() {
  static const std::map<std::string, mp::State> all = [] {
    std::map<std::string, mp::State> m;
    for (auto [key, phase] : {std::pair{"idle", mp::Phase::kIdle}, std::pair{"starting", mp::Phase::kStarting},
                              std::pair{"up", mp::Phase::kUp}, std::pair{"restarting", mp::Phase::kRestarting},
                              std::pair{"stopping", mp::Phase::kStopping}, std::pair{"down", mp::Phase::kDown}}) {
      mp::State s;
      s.phase = phase;
      s.announced = phase != mp::Phase::kIdle && phase != mp::Phase::kStarting;
      m[key] = s;
    }
    mp::State s = m["starting"];
    s.restart_asked = true;
    s.restart_waiters = {waiter("restart")};
    m["starting/restart-asked"] = s;
    return m;
  }();
  return all;
}

const std::map<std::string, mp::Event>& manager_events() {
  static const std::map<std::string, mp::Event> all = [] {
    std::map<std::string, mp::Event> m;
    m["boot"] = mp::Event{mp::EventKind::kBoot};
    m["boot-settled"] = mp::Event{mp::EventKind::kBootSettled};
    m["restart-requested"] = mp::Event{mp::EventKind::kRestartRequested, waiter("client")};
    m["restart-asked"] = mp::Event{mp::EventKind::kRestartAsked};
    m["workers-gone"] = mp::Event{mp::EventKind::kWorkersGone};
    m["shutdown-requested"] = mp::Event{mp::EventKind::kShutdownRequested, waiter("client")};
    return m;
  }();
  return all;
}

struct ManagerRow {
  const char* state;
  const char* event;
  Verdict verdict;
  const char* next;
  std::vector<MA> actions;
};

const std::vector<ManagerRow>& manager_table() {
  static const std::vector<ManagerRow> rows = {
      {"idle", "boot", kApplied, "starting", {MA::kSetState, MA::kBootChildren}},
      {"idle", "boot-settled", kInvalid, "=", {}},
      {"idle", "restart-requested", kInvalid, "=", {}},
      {"idle", "restart-asked", kIgnored, "=", {}},
      {"idle", "workers-gone", kIgnored, "=", {}},
      {"idle", "shutdown-requested", kApplied, "stopping", {MA::kSetState, MA::kStopAll}},
      {"starting", "boot", kInvalid, "=", {}},
      {"starting", "boot-settled", kApplied, "up", {MA::kSetState, MA::kAnnounceReady}},
      {"starting", "restart-requested", kApplied, "restarting", {MA::kSetState, MA::kStopAll}},
      {"starting", "restart-asked", kApplied, "starting", {}},
      {"starting", "workers-gone", kIgnored, "=", {}},
      {"starting", "shutdown-requested", kApplied, "stopping", {MA::kSetState, MA::kStopAll}},
      {"starting/restart-asked", "boot", kInvalid, "=", {}},
      {"starting/restart-asked", "boot-settled", kApplied, "restarting",
       {MA::kSetState, MA::kReplyUp, MA::kAnnounceReady, MA::kSetState, MA::kStopAll}},
      {"starting/restart-asked", "restart-requested", kApplied, "restarting", {MA::kSetState, MA::kStopAll}},
      {"starting/restart-asked", "restart-asked", kApplied, "starting", {}},
      {"starting/restart-asked", "workers-gone", kIgnored, "=", {}},
      {"starting/restart-asked", "shutdown-requested", kApplied, "stopping",
       {MA::kSetState, MA::kReplyStopping, MA::kStopAll}},
      {"up", "boot", kInvalid, "=", {}},
      {"up", "boot-settled", kIgnored, "=", {}},
      {"up", "restart-requested", kApplied, "restarting", {MA::kSetState, MA::kStopAll}},
      {"up", "restart-asked", kApplied, "restarting", {MA::kSetState, MA::kStopAll}},
      {"up", "workers-gone", kIgnored, "=", {}},
      {"up", "shutdown-requested", kApplied, "stopping", {MA::kSetState, MA::kStopAll}},
      {"restarting", "boot", kInvalid, "=", {}},
      {"restarting", "boot-settled", kIgnored, "=", {}},
      {"restarting", "restart-requested", kApplied, "restarting", {}},
      {"restarting", "restart-asked", kApplied, "restarting", {}},
      {"restarting", "workers-gone", kApplied, "starting", {MA::kSetState, MA::kBootChildren}},
      {"restarting", "shutdown-requested", kApplied, "stopping", {MA::kSetState, MA::kStopAll}},
      {"stopping", "boot", kInvalid, "=", {}},
      {"stopping", "boot-settled", kIgnored, "=", {}},
      {"stopping", "restart-requested", kApplied, "stopping", {MA::kReplyStopping}},
      {"stopping", "restart-asked", kIgnored, "=", {}},
      {"stopping", "workers-gone", kApplied, "down", {MA::kFinish}},
      {"stopping", "shutdown-requested", kApplied, "stopping", {}},
      {"down", "boot", kInvalid, "=", {}},
      {"down", "boot-settled", kIgnored, "=", {}},
      {"down", "restart-requested", kApplied, "down", {MA::kReplyStopping}},
      {"down", "restart-asked", kIgnored, "=", {}},
      {"down", "workers-gone", kIgnored, "=", {}},
      {"down", "shutdown-requested", kIgnored, "=", {}},
  };
  return rows;
}

std::string kinds(const std::vector<mp::Action>& actions) {
  std::ostringstream os;
  for (const auto& a : actions) os << mp::to_string(a.kind) << ' ';
  return os.str();
}

std::string kinds(const std::vector<MA>& actions) {
  std::ostringstream os;
  for (MA a : actions) os << mp::to_string(a) << ' ';
  return os.str();
}

// ---------------------------------------------------------------- adoption

// lifecycle::adopt, for every status a registry record can show, with its
// process alive or found dead. A permanent spec; the record's restarts 2.
struct AdoptRow {
  WorkerStatus status;
  bool alive;
  const char* next;
  std::vector<A> actions;
  std::uint32_t restarts;  // published afterwards
};

TEST(WorkerLifecycle, AdoptionFromEveryRecordedStatus) {
  const std::vector<AdoptRow> rows = {
      {WorkerStatus::kStarting, true, "starting", {A::kPublish}, 2},
      {WorkerStatus::kRunning, true, "running", {A::kPublish}, 2},
      {WorkerStatus::kStopping, true, "stopping", {A::kLog, A::kPublish, A::kSendTerminate, A::kArmTimer}, 2},
      {WorkerStatus::kHalted, true, "halting", {A::kPublish}, 2},
      // Dead: the restart policy decides (a first crash after no history restarts at once).
      {WorkerStatus::kStarting, false, "starting", {A::kLog, A::kSpawn}, 3},
      {WorkerStatus::kRunning, false, "starting", {A::kLog, A::kSpawn}, 3},
      {WorkerStatus::kStopping, false, "gone", {A::kLog, A::kRemoveSlot}, 2},
      {WorkerStatus::kRestarting, false, "restarting", {A::kPublish, A::kArmTimer}, 2},
      {WorkerStatus::kFailed, false, "failed", {A::kPublish}, 2},
      {WorkerStatus::kExited, false, "exited", {A::kPublish}, 2},
      // Passivation: a passive one stays (its spec does not perform: no
      // timer); a passivating one is stopped on, or found passive already.
      {WorkerStatus::kPassive, false, "passive", {A::kPublish}, 2},
      {WorkerStatus::kPassivating, true, "passivating", {A::kPublish, A::kSendTerminate, A::kArmTimer}, 2},
      {WorkerStatus::kPassivating, false, "passive", {A::kReleaseMailbox, A::kPublish}, 2},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(std::string(to_string(r.status)) + (r.alive ? " alive" : " dead"));
    Found f;
    f.status = r.status;
    f.alive = r.alive;
    f.restarts = 2;
    const Transition t = adopt(spec_with_payload(1), f, kNow, context());
    EXPECT_EQ(t.verdict, Verdict::kApplied);
    EXPECT_EQ(std::string(to_string(t.next.phase)), r.next);
    EXPECT_EQ(kinds(t.actions), kinds(r.actions));
    EXPECT_EQ(t.next.restarts, r.restarts);
    EXPECT_FALSE(t.next.boot_child);
  }
}

TEST(WorkerLifecycle, AnAdoptedWorkerFoundDeadHasAnUnknownExit) {
  Found f;
  f.status = WorkerStatus::kRunning;
  f.alive = false;
  const Transition t = adopt(spec_with_payload(1), f, kNow, context());
  EXPECT_EQ(t.next.last_exit.kind, ExitInfo::Kind::kUnknown);
  // A stop in progress is carried on as a delete.
  f.status = WorkerStatus::kStopping;
  f.alive = true;
  const Transition s = adopt(spec_with_payload(1), f, kNow, context());
  EXPECT_EQ(s.next.cause, StopCause::kDelete);
  EXPECT_EQ(s.next.stage, Stage::kTerminateSent);
}

TEST(ManagerPhase, EveryStateEventPairHasExactlyOneRow) {
  for (const auto& [skey, state] : manager_states()) {
    for (const auto& [ekey, event] : manager_events()) {
      int found = 0;
      for (const auto& r : manager_table()) found += (skey == r.state && ekey == r.event) ? 1 : 0;
      EXPECT_EQ(found, 1) << "(" << skey << ", " << ekey << ") has " << found << " rows";
    }
  }
  std::vector<bool> phases(mp::kPhaseCount), kinds_seen(mp::kEventKindCount);
  for (const auto& [k, s] : manager_states()) phases[static_cast<int>(s.phase)] = true;
  for (const auto& [k, e] : manager_events()) kinds_seen[static_cast<int>(e.kind)] = true;
  for (int i = 0; i < mp::kPhaseCount; ++i) EXPECT_TRUE(phases[i]) << "no fixture for phase " << i;
  for (int i = 0; i < mp::kEventKindCount; ++i) EXPECT_TRUE(kinds_seen[i]) << "no fixture for event " << i;
}

TEST(ManagerPhase, EveryRowHolds) {
  for (const auto& r : manager_table()) {
    const auto s = manager_states().find(r.state);
    const auto e = manager_events().find(r.event);
    ASSERT_NE(s, manager_states().end()) << r.state;
    ASSERT_NE(e, manager_events().end()) << r.event;
    const mp::Transition t = mp::step(s->second, e->second);
    SCOPED_TRACE(std::string("(") + r.state + ", " + r.event + ")");
    EXPECT_EQ(verdict_name(t.verdict), std::string(verdict_name(r.verdict)));
    const std::string next = r.next == std::string("=") ? std::string(mp::to_string(s->second.phase)) : r.next;
    EXPECT_EQ(std::string(mp::to_string(t.next.phase)), next);
    EXPECT_EQ(kinds(t.actions), kinds(r.actions));
  }
}

TEST(ManagerPhase, ShutdownAnswersWaitersOnlyWhenEveryWorkerIsGone) {
  mp::Transition t = mp::step(manager_states().at("up"), manager_events().at("shutdown-requested"));
  EXPECT_EQ(t.actions.front().state, ManagerState::kDown);
  EXPECT_EQ(t.actions.back().cause, StopCause::kShutdown);
  t = mp::step(t.next, mp::Event{mp::EventKind::kShutdownRequested, waiter("second")});
  t = mp::step(t.next, manager_events().at("workers-gone"));
  ASSERT_EQ(t.actions.size(), 1u);
  EXPECT_EQ(t.actions[0].waiters, (std::vector<Waiter>{waiter("client"), waiter("second")}));
}

TEST(ManagerPhase, RestartWaitersAreAnsweredUpAfterTheReboot) {
  mp::Transition t = mp::step(manager_states().at("up"), manager_events().at("restart-requested"));
  EXPECT_EQ(t.actions.back().cause, StopCause::kRestartAll);
  t = mp::step(t.next, manager_events().at("workers-gone"));
  t = mp::step(t.next, manager_events().at("boot-settled"));
  ASSERT_EQ(t.next.phase, mp::Phase::kUp);
  const auto up = std::find_if(t.actions.begin(), t.actions.end(),
                               [](const mp::Action& a) { return a.kind == MA::kReplyUp; });
  ASSERT_NE(up, t.actions.end());
  EXPECT_EQ(up->waiters, std::vector<Waiter>{waiter("client")});
  // Announced once, at the first `up` only.
  EXPECT_EQ(std::count_if(t.actions.begin(), t.actions.end(),
                          [](const mp::Action& a) { return a.kind == MA::kAnnounceReady; }),
            0);
}

}  // namespace
}  // namespace dynmgr
