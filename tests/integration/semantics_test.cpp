// DESIGN.md §3, row by row, with real processes: the probe manager
// (tests/apps/probe_manager.cpp) runs as the supervisor and its workers, and
// the test drives it with dynmgr::Client. (call / cast / pool rows live in
// their own suites.)

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <string>
#include <vector>

#include "probe_harness.hpp"
#include "shared/clock.hpp"
#include "shared/process_identity.hpp"

namespace dynmgr {
namespace {

using testing::int_field;
using testing::kWait;
using testing::mono_now_ms;
using testing::P;
using testing::parse;
using testing::ProbeStart;
using testing::spec;
using testing::wait_until;
using namespace std::chrono_literals;

bool contains(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

class Semantics : public testing::ProbeTest {
 protected:
  std::vector<std::string> states() const { return log("state"); }
  std::vector<std::string> terminations() const { return log("terminate"); }
  std::size_t performs_of(const std::string& id) const {
    return log_lines("perform", id + " ").size();
  }
  std::size_t inits_of(const std::string& id) const { return log_lines("init", id + " ").size(); }

  // Stops the supervisor through the client and expects a clean exit.
  void stop_cleanly() {
    ASSERT_TRUE(client().stop());
    auto status = wait_supervisor_exit();
    ASSERT_TRUE(status) << "supervisor still running after stop";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  }
};

// ---------------------------------------------------------------- children_specs / state

TEST_F(Semantics, BootChildrenAreStartedWithStateStartingThenUpAndDownOnStop) {
  ASSERT_TRUE(start(ProbeStart{}.with_children(R"({"a": {"timeout": 0, "payload": 1},
                                                      "b": {"timeout": 0, "payload": "two"}})")));
  // The registry shows `up` before handle_state_change(up) runs in the loop; a
  // ping answered by the loop afterwards orders the two.
  ASSERT_TRUE(client().ping());
  EXPECT_EQ(states(), (std::vector<std::string>{"starting", "up"}));
  EXPECT_EQ(client().header().manager_state, ManagerState::kUp);
  auto a = get("a");
  auto b = get("b");
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(b) << b.error().message;
  // `up` only once every boot child is ready.
  EXPECT_EQ(a->status, WorkerStatus::kRunning);
  EXPECT_EQ(b->status, WorkerStatus::kRunning);
  EXPECT_EQ(a->payload, "1");
  EXPECT_EQ(b->payload, "\"two\"");
  EXPECT_TRUE(process_alive(a->pid, 0));
  stop_cleanly();
  EXPECT_EQ(states(), (std::vector<std::string>{"starting", "up", "down"}));
}

TEST_F(Semantics, StateIsStartingWhileABootChildIsStillInInit) {
  ASSERT_TRUE(start(ProbeStart{}
                        .with_children(R"({"late": {"timeout": 0, "payload": {
                                             "init": "sleep", "init_sleep_ms": 1500}}})")
                        .without_waiting()));
  std::optional<Client> c;
  ASSERT_TRUE(wait_until(
      [&] {
        if (!c) {
          auto r = Client::connect(Client::Options{instance_, Millis(10'000)});
          if (r) c.emplace(std::move(*r));
        }
        return c.has_value();
      },
      kWait, 1ms));
  // The registry exists as soon as the supervisor does; the child is in init.
  ASSERT_TRUE(wait_until([&] { return testing::read_lines(log_path("init")).size() == 1; }));
  EXPECT_EQ(c->header().manager_state, ManagerState::kStarting);
  auto late = c->get("late");
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, WorkerStatus::kStarting);
  ASSERT_TRUE(wait_until([&] { return c->header().manager_state == ManagerState::kUp; }));
  late = c->get("late");
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, WorkerStatus::kRunning);
  ASSERT_TRUE(c->ping());  // handle_state_change(up) runs after the registry shows up
  EXPECT_EQ(states(), (std::vector<std::string>{"starting", "up"}));
}

// ---------------------------------------------------------------- spec defaults

TEST_F(Semantics, SpecDefaultsAreVisibleInTheRegistry) {
  ASSERT_TRUE(start(ProbeStart{}.with_children(R"({"boot": {}})")));
  auto put_default = put("put", ChildSpec{});
  ASSERT_TRUE(put_default) << put_default.error().message;
  for (const std::string id : {"boot", "put"}) {
    SCOPED_TRACE(id);
    auto r = get(id);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->timeout_ms, 1000u);
    EXPECT_DOUBLE_EQ(r->lull, 1.1);
    EXPECT_FALSE(r->instant_perform);
    EXPECT_EQ(r->restart, RestartType::kPermanent);
    EXPECT_EQ(r->max_restarts, 5u);
    EXPECT_EQ(r->within_ms, 30'000u);
    EXPECT_EQ(r->restarts, 0u);
  }
  // Payload defaults to null (the put worker has not performed yet: 1 s).
  EXPECT_EQ(put_default->payload, "null");
}

// ---------------------------------------------------------------- perform

TEST_F(Semantics, PerformRunsEveryTimeout) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(put("c", spec(P(R"({"n": 0})"), 100)));
  ASSERT_TRUE(wait_record("c", [](const WorkerInfo& r) { return int_field(r.payload, "n") >= 1; }));
  const auto t1 = mono_now_ms();
  const auto n1 = int_field(get("c")->payload, "n");
  ASSERT_TRUE(
      wait_record("c", [&](const WorkerInfo& r) { return int_field(r.payload, "n") >= n1 + 5; }));
  const auto elapsed = mono_now_ms() - t1;
  // Five more performs, 100 ms apart: at least ~400 ms (t1 was taken up to one
  // period after perform n1), and far less than at the 1000 ms default.
  EXPECT_GE(elapsed, 400u);
  EXPECT_LT(elapsed, 3000u);
  // The value follows the payload (count mode answers replace).
  auto r = get("c");
  ASSERT_TRUE(r);
  EXPECT_GE(performs_of("c"), 6u);
}

TEST_F(Semantics, InstantPerformPerformsRightAwayOtherwiseAfterOneTimeout) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(put("patient", spec(P(R"({"n": 0})"), 5000)));
  const auto since = mono_now_ms();
  ChildSpec s = spec(P(R"({"n": 0})"), 5000);
  s.instant_perform = true;
  ASSERT_TRUE(put("instant", s));
  ASSERT_TRUE(wait_record(
      "instant", [](const WorkerInfo& r) { return int_field(r.payload, "n") == 1; }, 4000ms));
  ASSERT_LT(mono_now_ms() - since, 4500u) << "too slow to tell the two apart";
  EXPECT_EQ(int_field(get("patient")->payload, "n"), 0) << "performed before its timeout";
  EXPECT_EQ(performs_of("patient"), 0u);
  EXPECT_TRUE(get("instant")->instant_perform);
}

TEST_F(Semantics, TimeoutZeroNeverPerformsEvenWithInstantPerform) {
  ASSERT_TRUE(start());
  ChildSpec never = spec(P(R"({"n": 0})"), 0);
  never.instant_perform = true;
  ASSERT_TRUE(put("never", never));
  ASSERT_TRUE(put("clock", spec(P(R"({"n": 0})"), 20)));
  ASSERT_TRUE(
      wait_record("clock", [](const WorkerInfo& r) { return int_field(r.payload, "n") >= 10; }));
  auto r = get("never");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->payload, R"({"n":0})");
  EXPECT_EQ(r->value, "null");
  EXPECT_EQ(r->timeout_ms, 0u);
  EXPECT_EQ(performs_of("never"), 0u);
}

// ---------------------------------------------------------------- perform responses

TEST_F(Semantics, OkStoresTheValueAndKeepsThePayload) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(put("ok", spec(P(R"({"on_perform": "ok", "n": 5})"), 30)));
  ASSERT_TRUE(wait_record("ok", [](const WorkerInfo& r) { return r.value == "6"; }));
  ASSERT_TRUE(wait_until([&] { return performs_of("ok") >= 3; }));
  auto r = get("ok");
  ASSERT_TRUE(r);
  EXPECT_EQ(parse(r->payload), P(R"({"on_perform": "ok", "n": 5})"));
  EXPECT_EQ(r->value, "6") << "ok(n + 1) of an unchanged payload stays 6";
}

TEST_F(Semantics, ReplaceChangesThePayloadAndTheValue) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(put("cnt", spec(P(R"({"n": 0, "tag": "t"})"), 30)));
  auto r = wait_record("cnt", [](const WorkerInfo& x) { return int_field(x.payload, "n") >= 2; });
  ASSERT_TRUE(r);
  EXPECT_EQ(parse(r->value), parse(r->payload)) << "replace(p) makes p the value too";
  EXPECT_EQ(parse(r->payload).at("tag"), json::value("t"));
}

TEST_F(Semantics, ReplaceWithNewIdMovesTheWorker) {
  ASSERT_TRUE(start());
  auto old = put("old", spec(P(R"({"on_perform": "replace_id", "new_id": "new", "x": 1})"), 50));
  ASSERT_TRUE(old) << old.error().message;
  ASSERT_TRUE(wait_absent("old"));
  auto r =
      wait_record("new", [](const WorkerInfo& x) { return x.status == WorkerStatus::kRunning; });
  ASSERT_TRUE(r);
  const json::value payload = parse(r->payload);
  ASSERT_TRUE(payload.is_object()) << r->payload;
  EXPECT_EQ(payload.at("x"), json::value(1));
  EXPECT_EQ(payload.at("new_id"), json::value("new"));
  EXPECT_EQ(payload.get_object().if_contains("on_perform"), nullptr) << r->payload;
  EXPECT_EQ(r->timeout_ms, 50u) << "same spec";
  EXPECT_NE(r->pid, old->pid);
  EXPECT_TRUE(contains(terminations(), "old replace"));
  EXPECT_TRUE(wait_until([&] { return process_gone(old->pid); }));
}

TEST_F(Semantics, TimeoutResponseChangesTheTimeoutAndThePerformRate) {
  ASSERT_TRUE(start());
  ChildSpec s = spec(P(R"({"on_perform": "timeout", "new_timeout": 400})"), 30);
  s.instant_perform = true;
  ASSERT_TRUE(put("t", s));
  auto r = wait_record("t", [](const WorkerInfo& x) { return x.timeout_ms == 400; });
  ASSERT_TRUE(r);
  ASSERT_TRUE(wait_record("t", [](const WorkerInfo& x) { return x.value == "\"rescheduled\""; }));
  // Time three periods, starting at a perform.
  const std::size_t c0 = performs_of("t");
  ASSERT_TRUE(wait_until([&] { return performs_of("t") >= c0 + 1; }));
  const auto t1 = mono_now_ms();
  ASSERT_TRUE(wait_until([&] { return performs_of("t") >= c0 + 4; }));
  const auto elapsed = mono_now_ms() - t1;
  EXPECT_GE(elapsed, 3 * 400u - 20) << "still performing every 30 ms";
  EXPECT_LT(elapsed, 3 * 400u * 4);
}

TEST_F(Semantics, HaltRemovesTheWorkerAndItIsNotRestarted) {
  ASSERT_TRUE(start());
  auto h = put("h", spec(P(R"({"on_perform": "halt"})"), 50));
  ASSERT_TRUE(h);
  ASSERT_TRUE(put("clock", spec(P(R"({"n": 0})"), 20)));
  ASSERT_TRUE(wait_absent("h"));
  EXPECT_TRUE(contains(terminations(), "h halt"));
  EXPECT_TRUE(wait_until([&] { return process_gone(h->pid); }));
  // Let the supervisor go round many more times: h stays gone.
  const auto n = int_field(get("clock")->payload, "n");
  ASSERT_TRUE(wait_record(
      "clock", [&](const WorkerInfo& r) { return int_field(r.payload, "n") >= n + 10; }));
  auto all = client().state();
  ASSERT_TRUE(all);
  for (const auto& rec : *all) EXPECT_NE(rec.id, "h");
  EXPECT_EQ(inits_of("h"), 1u) << "halted worker was started again";
}

// ---------------------------------------------------------------- init / terminate

TEST_F(Semantics, InitRunsBeforeTheFirstPerform) {
  ASSERT_TRUE(start());
  ChildSpec s = spec(P(R"({"init": "set"})"), 50);
  s.instant_perform = true;
  auto r = put("i", s);
  ASSERT_TRUE(r) << r.error().message;
  // put returns once init finished, so its payload is already committed.
  EXPECT_EQ(parse(r->payload).at("from_init"), json::value(true)) << r->payload;
  ASSERT_TRUE(wait_until([&] { return performs_of("i") >= 1; }));
  EXPECT_EQ(log_lines("perform", "i ").front(), R"(i {"from_init":true})");
  EXPECT_EQ(inits_of("i"), 1u);
}

// A put whose worker dies in init fails with the exit, and adds nothing: the
// id is not registered afterwards (README "Exit codes", issue 11 item 17).
TEST_F(Semantics, InitCrashFailsThePutAndLeavesNothing) {
  ASSERT_TRUE(start());
  ChildSpec s = spec(P(R"({"init": "crash"})"), 0);
  s.restart = RestartType::kTemporary;
  auto r = put("ic", s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kFailed) << r.error().message;
  EXPECT_NE(r.error().message.find("exited during start: killed by SIGABRT"), std::string::npos)
      << r.error().message;
  auto rec = get("ic");
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().code, Errc::kNotFound);
}

// The same for a permanent worker: no restart, nothing left to end `failed`.
TEST_F(Semantics, InitCrashOfAPermanentWorkersPutIsNotRestarted) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--backoff-base", "10"})));
  ChildSpec s = spec(P(R"({"init": "crash"})"), 0);
  s.max_restarts = 2;
  s.within_ms = 60'000;
  auto r = put("ic", s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kFailed);
  auto rec = get("ic");
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().code, Errc::kNotFound);
  EXPECT_EQ(inits_of("ic"), 1u);
  EXPECT_TRUE(client().ping());
  // And the id can be put again.
  auto again = put("ic", spec(P("{}"), 0));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->status, WorkerStatus::kRunning);
}

TEST_F(Semantics, TerminateIsCalledOnDelAndDelIsSynchronous) {
  ASSERT_TRUE(start());
  auto r = put("x", spec(P("{}"), 0));
  ASSERT_TRUE(r);
  ASSERT_TRUE(client().del("x"));
  // del returned: terminate ran, the process is reaped, the id is gone.
  EXPECT_EQ(terminations(), (std::vector<std::string>{"x del"}));
  EXPECT_TRUE(process_gone(r->pid));
  auto g = client().get("x");
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, Errc::kNotFound);
}

TEST_F(Semantics, TerminateIsCalledOnShutdown) {
  ASSERT_TRUE(start(ProbeStart{}.with_children(R"({"boot": {"timeout": 0}})")));
  ASSERT_TRUE(put("a", spec(P("{}"), 0)));
  ASSERT_TRUE(put("b", spec(P("{}"), 100)));
  stop_cleanly();
  auto t = terminations();
  std::sort(t.begin(), t.end());
  EXPECT_EQ(t, (std::vector<std::string>{"a shutdown", "b shutdown", "boot shutdown"}));
}

// ---------------------------------------------------------------- put / put_new / del / get /
// state

TEST_F(Semantics, PutIsSynchronousItReturnsOnceTheWorkerRanInit) {
  ASSERT_TRUE(start());
  const auto t0 = mono_now_ms();
  auto r = put("s", spec(P(R"({"init": "sleep", "init_sleep_ms": 500})"), 0));
  const auto elapsed = mono_now_ms() - t0;
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_GE(elapsed, 500u);
  EXPECT_EQ(r->status, WorkerStatus::kRunning);
  EXPECT_GT(r->pid, 0);
  EXPECT_TRUE(process_alive(r->pid, 0));
  EXPECT_EQ(inits_of("s"), 1u);
  auto g = get("s");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, WorkerStatus::kRunning);
  EXPECT_EQ(g->pid, r->pid);
}

TEST_F(Semantics, PutOverAnExistingIdTerminatesTheOldWorkerAndStartsANewOne) {
  ASSERT_TRUE(start());
  auto first = put("r", spec(P(R"({"v": 1})"), 0));
  ASSERT_TRUE(first);
  auto second = put("r", spec(P(R"({"v": 2})"), 0));
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_NE(second->pid, first->pid);
  EXPECT_EQ(second->status, WorkerStatus::kRunning);
  EXPECT_EQ(second->payload, R"({"v":2})");
  EXPECT_EQ(terminations(), (std::vector<std::string>{"r replace"}));
  EXPECT_TRUE(process_gone(first->pid));
  auto all = client().state();
  ASSERT_TRUE(all);
  EXPECT_EQ(
      std::count_if(all->begin(), all->end(), [](const WorkerInfo& x) { return x.id == "r"; }), 1);
}

TEST_F(Semantics, PutNewOnAnExistingIdIsExistsAndChangesNothing) {
  ASSERT_TRUE(start());
  auto first = put("e", spec(P(R"({"v": 1})"), 0));
  ASSERT_TRUE(first);
  auto again = client().put_new("e", spec(P(R"({"v": 2})"), 0));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kExists) << again.error().message;
  auto now = get("e");
  ASSERT_TRUE(now);
  EXPECT_EQ(now->pid, first->pid);
  EXPECT_EQ(now->started_ms, first->started_ms);
  EXPECT_EQ(now->payload, R"({"v":1})");
  EXPECT_TRUE(terminations().empty());
  auto fresh = client().put_new("f", spec(P(R"({"v": 3})"), 0));
  ASSERT_TRUE(fresh) << fresh.error().message;
  track(fresh->pid);
  EXPECT_EQ(fresh->payload, R"({"v":3})");
}

TEST_F(Semantics, DelAndGetOfAnUnknownIdAreNotFound) {
  ASSERT_TRUE(start());
  auto d = client().del("nope");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Errc::kNotFound) << d.error().message;
  auto g = client().get("nope");
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, Errc::kNotFound);
}

TEST_F(Semantics, GetAndStateReadTheRegistryWithoutTheSupervisor) {
  ASSERT_TRUE(start());
  auto r = put("g", spec(P(R"({"v": 7})"), 0));
  ASSERT_TRUE(r);
  // A stopped supervisor cannot answer anything: get/state must not need it.
  ASSERT_EQ(::kill(supervisor_pid(), SIGSTOP), 0);
  struct Resume {
    pid_t pid;
    ~Resume() { ::kill(pid, SIGCONT); }
  } resume{supervisor_pid()};
  const auto t0 = mono_now_ms();
  auto g = client().get("g");
  auto all = client().state();
  const auto elapsed = mono_now_ms() - t0;
  ASSERT_TRUE(g) << g.error().message;
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(g->payload, R"({"v":7})");
  EXPECT_EQ(all->size(), 1u);
  EXPECT_LT(elapsed, 1000u);
  // Whereas a round trip does wait for it.
  client().set_timeout(Millis(300));
  auto ping = client().ping();
  ASSERT_FALSE(ping);
  EXPECT_EQ(ping.error().code, Errc::kTimeout);
  client().set_timeout(Millis(15'000));
  ::kill(supervisor_pid(), SIGCONT);
  EXPECT_TRUE(client().ping());
}

// ---------------------------------------------------------------- restart

TEST_F(Semantics, RestartGoesBackToChildrenSpecs) {
  ASSERT_TRUE(start(ProbeStart{}.with_children(R"({"a": {"timeout": 0, "payload": {"v": "a"}},
                                                      "b": {"timeout": 0, "payload": {"v": "b"}}})")));
  auto a0 = get("a");
  auto b0 = get("b");
  ASSERT_TRUE(a0 && b0);
  auto c = put("c", spec(P("{}"), 0));
  ASSERT_TRUE(c);
  auto a1 = put("a", spec(P(R"({"v": "changed"})"), 0));
  ASSERT_TRUE(a1);
  ASSERT_TRUE(client().restart());
  // restart returns once the manager is up again.
  EXPECT_EQ(client().header().manager_state, ManagerState::kUp);
  auto g = client().get("c");
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, Errc::kNotFound);
  auto a2 = get("a");
  auto b2 = get("b");
  ASSERT_TRUE(a2 && b2);
  EXPECT_EQ(a2->payload, R"({"v":"a"})");
  EXPECT_EQ(a2->status, WorkerStatus::kRunning);
  EXPECT_EQ(b2->status, WorkerStatus::kRunning);
  EXPECT_NE(a2->pid, a1->pid);
  EXPECT_NE(b2->pid, b0->pid);
  ASSERT_TRUE(client().ping());  // orders handle_state_change(up) before the read
  EXPECT_EQ(states(), (std::vector<std::string>{"starting", "up", "starting", "up"}));
  auto t = terminations();
  EXPECT_TRUE(contains(t, "a restart") && contains(t, "b restart") && contains(t, "c restart"))
      << ::testing::PrintToString(t);
  for (pid_t p : {a1->pid, b0->pid, c->pid}) EXPECT_TRUE(process_gone(p)) << p;
}

TEST_F(Semantics, HandleStateChangeAnsweringRestartRestartsTheManagerOnce) {
  ASSERT_TRUE(start(
      ProbeStart{}.with_children(R"({"a": {"timeout": 0}})").with_env({"PROBE_RESTART_ON_UP=1"})));
  ASSERT_TRUE(wait_until([&] { return states().size() >= 4; }));
  ASSERT_TRUE(client().ping());  // one more loop turn: nothing further happens
  ASSERT_TRUE(wait_until([&] { return client().header().manager_state == ManagerState::kUp; }));
  ASSERT_TRUE(client().ping());
  EXPECT_EQ(states(), (std::vector<std::string>{"starting", "up", "starting", "up"}));
  EXPECT_EQ(terminations(), (std::vector<std::string>{"a restart"}));
  EXPECT_EQ(inits_of("a"), 2u);
  auto a = get("a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, WorkerStatus::kRunning);
}

// ---------------------------------------------------------------- handle_timeout

TEST_F(Semantics, HandleTimeoutFiresForASlowPerformAndBusySinceIsVisible) {
  ASSERT_TRUE(start());
  ChildSpec s = spec(P(R"({"on_perform": "sleep", "sleep_ms": 1500})"), 200);
  s.instant_perform = true;
  const auto before = wall_ms();
  ASSERT_TRUE(put("slow", s));
  auto busy = wait_record("slow", [](const WorkerInfo& r) { return r.busy_since_ms != 0; });
  ASSERT_TRUE(busy);
  EXPECT_GE(busy->busy_since_ms, before);
  ASSERT_TRUE(wait_until([&] { return !log_lines("timeout", "slow ").empty(); }));
  // "<id> <busy_ms> <limit_ms>": limit is lull * timeout = 1.1 * 200.
  const std::string line = log_lines("timeout", "slow ").front();
  unsigned long busy_ms = 0;
  unsigned long limit_ms = 0;
  ASSERT_EQ(std::sscanf(line.c_str(), "slow %lu %lu", &busy_ms, &limit_ms), 2) << line;
  EXPECT_EQ(limit_ms, 220u);
  EXPECT_GT(busy_ms, 220u);
  EXPECT_LT(busy_ms, 1500u) << "reported only after the perform ended";
  // Idle again after the perform: busy_since goes back to 0, reported once.
  ASSERT_TRUE(wait_record(
      "slow", [](const WorkerInfo& r) { return r.busy_since_ms == 0 && r.value == "\"slept\""; }));
  EXPECT_EQ(log_lines("timeout", "slow ").size(), 1u);
}

}  // namespace
}  // namespace dynmgr
