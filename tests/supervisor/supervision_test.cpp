// Supervision with real processes (DESIGN.md §6): restart with the last
// committed payload, restart types, crash loops ending `failed` while siblings
// keep running, backoff growth / cap / reset, per-spec intensity limits, and
// the terminate -> SIGTERM -> SIGKILL escalation. Workers are killed with
// SIGKILL or crash on purpose through the probe manager's scripted modes.

#include "probe_harness.hpp"

#include "shared/process_identity.hpp"
#include "shared/protocol.hpp"
#include "shared/queue.hpp"
#include "shared/registry.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

namespace dynmgr {
namespace {

using testing::int_field;
using testing::kWait;
using testing::mono_now_ms;
using testing::parse;
using testing::P;
using testing::ProbeStart;
using testing::spec;
using testing::wait_until;
using namespace std::chrono_literals;

class Supervision : public testing::ProbeTest {
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

// ---------------------------------------------------------------- restart after SIGKILL

TEST_F(Supervision, SigkilledWorkerIsRestartedWithItsLastCommittedPayload) {
  ASSERT_TRUE(start());
  // Counts every 200 ms from a payload without "n": the put payload would
  // restart the count at 1, the committed one continues it.
  auto first = put("k", spec(P(R"({"tag": "k"})"), 200));
  ASSERT_TRUE(first) << first.error().message;
  auto before = wait_record("k", [](const WorkerInfo& r) { return int_field(r.payload, "n") >= 3; });
  ASSERT_TRUE(before);
  ASSERT_EQ(::kill(before->pid, SIGKILL), 0);
  auto after = wait_record("k", [&](const WorkerInfo& r) {
    return r.pid != before->pid && r.pid != 0 && r.status == WorkerStatus::kRunning;
  });
  ASSERT_TRUE(after);
  EXPECT_EQ(after->restarts, 1u);
  EXPECT_EQ(after->last_exit.kind, ExitInfo::Kind::kSignaled);
  EXPECT_EQ(after->last_exit.code, SIGKILL);
  EXPECT_GE(int_field(after->payload, "n"), 3) << after->payload;
  EXPECT_EQ(parse(after->payload).at("tag"), json::value("k"));
  // The new process itself holds the committed payload, not just the registry.
  auto seen = client().call("k", json::value("get"));
  ASSERT_TRUE(seen) << seen.error().message;
  ASSERT_TRUE(seen->is_object());
  EXPECT_GE(get_int(seen->get_object(), "n").value_or(-1), 3) << to_json(*seen);
  EXPECT_EQ(log_lines("init", "k ").size(), 2u);
  EXPECT_TRUE(process_gone(before->pid));
}

// ---------------------------------------------------------------- restart types

enum class Ending { kExit0, kExit3, kSigkill };
enum class Expect { kRestarted, kExited };

struct TypeRow {
  const char* name;
  RestartType type;
  Ending ending;
  Expect expect;
};

std::ostream& operator<<(std::ostream& os, const TypeRow& row) { return os << row.name; }

class RestartTypes : public testing::ProbeTest,
                     public ::testing::WithParamInterface<TypeRow> {};

TEST_P(RestartTypes, ExitIsHandledByTheRestartType) {
  const TypeRow row = GetParam();
  ASSERT_TRUE(start());
  ChildSpec s = row.ending == Ending::kSigkill
                    ? spec(P("{}"), 0)
                    : spec(P(row.ending == Ending::kExit0 ? R"({"on_perform": "exit0"})"
                                                          : R"({"on_perform": "exit3"})"),
                           50);
  s.restart = row.type;
  auto first = put("w", s);
  ASSERT_TRUE(first) << first.error().message;
  if (row.ending == Ending::kSigkill) {
    ASSERT_EQ(::kill(first->pid, SIGKILL), 0);
  }

  auto ended_as_expected = [&](const ExitInfo& e) {
    switch (row.ending) {
      case Ending::kExit0: return e.kind == ExitInfo::Kind::kExited && e.code == 0;
      case Ending::kExit3: return e.kind == ExitInfo::Kind::kExited && e.code == 3;
      case Ending::kSigkill: return e.kind == ExitInfo::Kind::kSignaled && e.code == SIGKILL;
    }
    return false;
  };
  if (row.expect == Expect::kRestarted) {
    auto r = wait_record("w", [](const WorkerInfo& x) { return x.restarts >= 1; });
    ASSERT_TRUE(r);
    EXPECT_TRUE(ended_as_expected(r->last_exit)) << r->last_exit.describe();
    EXPECT_NE(r->status, WorkerStatus::kExited);
    ASSERT_TRUE(wait_until([&] { return log_lines("init", "w ").size() >= 2; }))
        << "no second incarnation started";
  } else {
    auto r = wait_record("w", [](const WorkerInfo& x) { return x.status == WorkerStatus::kExited; });
    ASSERT_TRUE(r);
    EXPECT_TRUE(ended_as_expected(r->last_exit)) << r->last_exit.describe();
    EXPECT_EQ(r->restarts, 0u);
    EXPECT_EQ(r->pid, 0);
    ASSERT_TRUE(client().ping());
    EXPECT_EQ(log_lines("init", "w ").size(), 1u) << "restarted although it should not be";
    // An exited worker stays listed until deleted; del removes it.
    ASSERT_TRUE(client().del("w"));
    EXPECT_TRUE(wait_absent("w"));
  }
  EXPECT_TRUE(wait_until([&] { return process_gone(first->pid); }));
}

INSTANTIATE_TEST_SUITE_P(
    Table, RestartTypes,
    ::testing::Values(
        TypeRow{"PermanentExit0", RestartType::kPermanent, Ending::kExit0, Expect::kRestarted},
        TypeRow{"PermanentExit3", RestartType::kPermanent, Ending::kExit3, Expect::kRestarted},
        TypeRow{"PermanentSigkill", RestartType::kPermanent, Ending::kSigkill, Expect::kRestarted},
        TypeRow{"TransientExit0", RestartType::kTransient, Ending::kExit0, Expect::kExited},
        TypeRow{"TransientExit3", RestartType::kTransient, Ending::kExit3, Expect::kRestarted},
        TypeRow{"TransientSigkill", RestartType::kTransient, Ending::kSigkill, Expect::kRestarted},
        TypeRow{"TemporaryExit0", RestartType::kTemporary, Ending::kExit0, Expect::kExited},
        TypeRow{"TemporaryExit3", RestartType::kTemporary, Ending::kExit3, Expect::kExited},
        TypeRow{"TemporarySigkill", RestartType::kTemporary, Ending::kSigkill, Expect::kExited}),
    [](const ::testing::TestParamInfo<TypeRow>& param_info) { return std::string(param_info.param.name); });

// ---------------------------------------------------------------- crash loops

TEST_F(Supervision, CrashLoopEndsFailedWhileASiblingKeepsPerforming) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--backoff-base", "10", "--backoff-cap", "40"})));
  auto sib = put("sibling", spec(P(R"({"n": 0})"), 30));
  ASSERT_TRUE(sib);
  ChildSpec loop = spec(P(R"({"on_perform": "crash"})"), 20);
  loop.instant_perform = true;
  loop.max_restarts = 4;
  loop.within_ms = 60'000;
  ASSERT_TRUE(put("loop", loop));
  auto failed = wait_record("loop", [](const WorkerInfo& r) { return r.status == WorkerStatus::kFailed; });
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->restarts, 4u);
  EXPECT_EQ(failed->pid, 0);
  EXPECT_EQ(failed->last_exit.kind, ExitInfo::Kind::kSignaled);
  EXPECT_EQ(failed->last_exit.code, SIGABRT);
  EXPECT_EQ(log_lines("init", "loop ").size(), 5u);
  // The manager and the sibling are unaffected, and the sibling keeps performing.
  EXPECT_TRUE(client().ping());
  EXPECT_EQ(client().header().manager_state, ManagerState::kUp);
  auto now = get("sibling");
  ASSERT_TRUE(now);
  EXPECT_EQ(now->pid, sib->pid);
  EXPECT_EQ(now->restarts, 0u);
  EXPECT_EQ(now->status, WorkerStatus::kRunning);
  const auto n = int_field(now->payload, "n");
  ASSERT_TRUE(wait_record("sibling", [&](const WorkerInfo& r) { return int_field(r.payload, "n") >= n + 3; }));
  // A failed worker stays failed (not restarted) and can be put again.
  EXPECT_EQ(get("loop")->status, WorkerStatus::kFailed);
  auto again = put("loop", spec(P("{}"), 0));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->status, WorkerStatus::kRunning);
  EXPECT_EQ(again->restarts, 0u);
}

TEST_F(Supervision, MaxRestartsAndWithinComeFromTheChildSpec) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--backoff-base", "10", "--backoff-cap", "20"})));
  ChildSpec two = spec(P(R"({"on_perform": "crash"})"), 10);
  two.instant_perform = true;
  two.max_restarts = 2;
  two.within_ms = 60'000;
  {
    auto r = put("two", two);
    ASSERT_TRUE(r) << r.error().message;
  }
  ChildSpec zero = two;
  zero.max_restarts = 0;
  {
    auto r = put("zero", zero);
    ASSERT_TRUE(r) << r.error().message;
  }
  // One restart allowed per 250 ms, but each run lasts 400 ms: the window
  // slides past every earlier restart, so it never fails.
  ChildSpec spaced = spec(P(R"({"on_perform": "crash"})"), 400);
  spaced.max_restarts = 1;
  spaced.within_ms = 250;
  {
    auto r = put("spaced", spaced);
    ASSERT_TRUE(r) << r.error().message;
  }

  auto r2 = wait_record("two", [](const WorkerInfo& r) { return r.status == WorkerStatus::kFailed; });
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->restarts, 2u);
  EXPECT_EQ(r2->max_restarts, 2u);
  EXPECT_EQ(r2->within_ms, 60'000u);
  EXPECT_EQ(log_lines("init", "two ").size(), 3u);

  auto r0 = wait_record("zero", [](const WorkerInfo& r) { return r.status == WorkerStatus::kFailed; });
  ASSERT_TRUE(r0);
  EXPECT_EQ(r0->restarts, 0u);
  EXPECT_EQ(log_lines("init", "zero ").size(), 1u);

  auto rs = wait_record("spaced", [](const WorkerInfo& r) { return r.restarts >= 4; });
  ASSERT_TRUE(rs);
  EXPECT_NE(rs->status, WorkerStatus::kFailed);
}

// ---------------------------------------------------------------- exits racing messages

// A worker's last messages (ready, halt, an update) are in the control queue
// before its exit can be noticed; the supervisor must act on them before it
// reaps the worker, even when another worker's exit woke it up first. Forty
// boot children that halt at once make those wake-ups overlap.
TEST_F(Supervision, LastMessagesOfAnExitingWorkerAreHandledBeforeItsExit) {
  constexpr int kChildren = 40;
  std::string children = "{";
  for (int i = 0; i < kChildren; ++i) {
    children += std::string(i ? "," : "") + "\"h" + std::to_string(i) +
                "\": {\"timeout\": 1, \"instant_perform\": true, \"payload\": {\"on_perform\": \"halt\"}}";
  }
  children += "}";
  ASSERT_TRUE(start(ProbeStart{}.with_children(children).with_flags({"--backoff-base", "10"})));
  ASSERT_TRUE(wait_until([&] {
    auto all = client().state();
    return all && all->empty();
  }));
  for (int i = 0; i < kChildren; ++i) {
    const std::string id = "h" + std::to_string(i);
    EXPECT_EQ(log_lines("init", id + " ").size(), 1u) << id << " was restarted after halting";
    EXPECT_EQ(log_lines("terminate", id + " "), (std::vector<std::string>{id + " halt"}));
  }
}

// ---------------------------------------------------------------- stop escalation

// A stop signal sent straight to an idle worker (an operator's `kill PID`)
// ends its wait at once: terminate("shutdown") runs and the worker exits 0,
// long before its next housekeeping (idle_interval, 5 s). As `permanent` it is
// then restarted. Each of the four stop signals, with the same outcome.
class StopSignals : public testing::ProbeTest, public ::testing::WithParamInterface<int> {};

TEST_P(StopSignals, AnIdleWorkerStopsAtOnce) {
  ASSERT_TRUE(start());
  auto w = put("idle", spec(json::value(1), 0));  // timeout 0: never performs
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE(wait_until([&] { return log_lines("init", "idle ").size() == 1; }, kWait));
  ASSERT_EQ(::kill(w->pid, GetParam()), 0);
  // Well inside the 5 s housekeeping interval: only a woken wait gets there.
  EXPECT_TRUE(wait_until([&] { return log_lines("terminate", "idle shutdown").size() == 1; }, 2s))
      << "terminate lines: " << log_lines("terminate", "").size();
  auto after = wait_record("idle", [&](const WorkerInfo& r) {
    return r.pid != w->pid && r.status == WorkerStatus::kRunning;
  });
  ASSERT_TRUE(after);
  EXPECT_EQ(after->last_exit.kind, ExitInfo::Kind::kExited);
  EXPECT_EQ(after->last_exit.code, 0);
  EXPECT_TRUE(process_gone(w->pid));
}

INSTANTIATE_TEST_SUITE_P(Supervision, StopSignals,
                         ::testing::Values(SIGTERM, SIGINT, SIGHUP, SIGQUIT),
                         [](const auto& tp) { return std::string(sigabbrev_np(tp.param)); });

TEST_F(Supervision, WorkerDeafToTerminateAndSigtermIsKilledAfterBothTimeouts) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--terminate-timeout", "300", "--kill-timeout", "300"})));
  ChildSpec s = spec(P(R"({"on_perform": "ignore_term"})"), 10);
  s.instant_perform = true;
  auto deaf = put("deaf", s);
  ASSERT_TRUE(deaf) << deaf.error().message;
  ASSERT_TRUE(wait_record("deaf", [](const WorkerInfo& r) { return r.busy_since_ms != 0; }));
  const auto t0 = mono_now_ms();
  ASSERT_TRUE(client().del("deaf"));
  const auto elapsed = mono_now_ms() - t0;
  EXPECT_GE(elapsed, 600u - 20) << "killed before the terminate and kill timeouts";
  EXPECT_LT(elapsed, 5000u);
  EXPECT_TRUE(process_gone(deaf->pid));
  EXPECT_TRUE(group_gone(deaf->pid));
  EXPECT_TRUE(log_lines("terminate", "deaf ").empty()) << "terminate cannot have run";
  const std::string out = supervisor_output();
  EXPECT_NE(out.find("worker 'deaf' did not stop after terminate; sending SIGTERM"), std::string::npos) << out;
  EXPECT_NE(out.find("worker 'deaf' did not stop after SIGTERM; sending SIGKILL"), std::string::npos) << out;
  EXPECT_TRUE(wait_absent("deaf", 0ms));
}

TEST_F(Supervision, ShutdownKillsADeafWorkerAndStillCleansUp) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--terminate-timeout", "200", "--kill-timeout", "200"})));
  ChildSpec s = spec(P(R"({"on_perform": "ignore_term"})"), 10);
  s.instant_perform = true;
  auto deaf = put("deaf", s);
  ASSERT_TRUE(deaf);
  auto polite = put("polite", spec(P("{}"), 0));
  ASSERT_TRUE(polite);
  ASSERT_TRUE(wait_record("deaf", [](const WorkerInfo& r) { return r.busy_since_ms != 0; }));
  ASSERT_TRUE(client().stop());
  auto status = wait_supervisor_exit();
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_TRUE(process_gone(deaf->pid));
  EXPECT_TRUE(group_gone(deaf->pid));
  EXPECT_TRUE(process_gone(polite->pid));
  EXPECT_EQ(log_lines("terminate", ""), (std::vector<std::string>{"polite shutdown"}));
  drop_client();
  EXPECT_TRUE(testing::shm_objects(names_).empty())
      << ::testing::PrintToString(testing::shm_objects(names_));
}

}  // namespace
}  // namespace dynmgr

// ---------------------------------------------------------------- the loop never waits on a client

namespace dynmgr {
namespace {

// A client that stops reading its replies (its reply queue full) cannot stall
// the supervisor: the other clients are still answered. Each reply to a full
// queue used to block the loop for 200 ms, so the 36 replies below that cannot
// go in would have held every later request back for about 7 s.
TEST_F(Supervision, AClientThatDoesNotReadItsRepliesCannotStallTheLoop) {
  ASSERT_TRUE(start());
  const auto self = ProcessIdentity::self();
  const std::string deaf = names_.reply(self.pid, self.start_time, 999'999);
  const auto header = RegistryReader::open(names_).value().header();
  auto q = Queue::create(deaf, 4, header.control_msg_size);
  ASSERT_TRUE(q) << q.error().message;
  auto control = Queue::open(names_.control(header.control_generation));
  ASSERT_TRUE(control) << control.error().message;
  constexpr int kRequests = 40;
  for (int i = 0; i < kRequests; ++i) {
    protocol::ControlRequest req;
    req.kind = MessageKind::kPing;
    req.reply_to = deaf;
    ASSERT_TRUE(control->send(protocol::make_control_request(static_cast<std::uint64_t>(i + 1), req),
                              Deadline::after(5s)));
  }
  // Queued behind the 40 pings: answered only if the loop does not wait on the deaf queue.
  client().set_timeout(3000ms);
  auto pinged = client().ping();
  client().set_timeout(kWait);
  ASSERT_TRUE(pinged) << pinged.error().message;
  EXPECT_EQ(q->pending(), 4u);  // it got what fitted, in order
  Queue::remove(deaf);
}

}  // namespace
}  // namespace dynmgr
