// Passivation (README "Passivation", issue 14 section 1) with real processes:
// the probe manager (tests/apps/probe_manager.cpp) as the supervisor and its
// workers, driven by dynmgr::Client. An idle worker is stopped and its slot
// turns `passive` (no process, no mailbox); a call or cast starts it again
// from its last committed payload; nothing sent around a passivation is lost
// or reordered; concurrent first calls start one process.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "probe_harness.hpp"
#include "shared/process_identity.hpp"
#include "shared/shm_objects.hpp"

namespace dynmgr {
namespace {

using testing::kWait;
using testing::P;
using testing::parse;
using testing::ProbeStart;
using testing::spec;
using testing::wait_until;
using namespace std::chrono_literals;

ChildSpec passivating(json::value payload, std::uint32_t after_ms, std::uint32_t timeout_ms = 0) {
  ChildSpec s = spec(std::move(payload), timeout_ms);
  s.passivate_after_ms = after_ms;
  return s;
}

class Passivation : public testing::ProbeTest {
 protected:
  std::size_t inits_of(const std::string& id) const { return log_lines("init", id + " ").size(); }
  std::size_t performs_of(const std::string& id) const {
    return log_lines("perform", id + " ").size();
  }
  std::optional<WorkerInfo> wait_status(const std::string& id, WorkerStatus s) {
    return wait_record(id, [s](const WorkerInfo& w) { return w.status == s; });
  }
  // The supervisor (started with --log-level debug) has put passive ids to
  // sleep: their Entry dropped, their slot alone kept (README "What an id
  // costs"), `asleep` of them in all.
  bool wait_asleep(std::size_t asleep) {
    const std::string line = "(" + std::to_string(asleep) + " asleep in all)";
    return wait_until([&] { return supervisor_output().find(line) != std::string::npos; }, kWait);
  }
  std::size_t wakes_of(const std::string& id) const {
    const std::string line = "woke passive id '" + id + "'";
    std::size_t n = 0;
    const std::string out = supervisor_output();
    for (auto at = out.find(line); at != std::string::npos; at = out.find(line, at + 1)) ++n;
    return n;
  }
  Client connect() {
    Client::Options o;
    o.instance = instance_;
    o.timeout = kWait;
    auto c = Client::connect(o);
    EXPECT_TRUE(c) << (c ? "" : c.error().message);
    return std::move(*c);
  }
};

TEST_F(Passivation, AnIdleWorkerPassivatesAndACallStartsItFromItsLastPayload) {
  ASSERT_TRUE(start());
  auto put = this->put("x", passivating(P("5"), 200));
  ASSERT_TRUE(put) << put.error().message;
  ASSERT_TRUE(client().cast("x", P(R"(["add", 1])")));
  auto passive = wait_status("x", WorkerStatus::kPassive);
  ASSERT_TRUE(passive);
  EXPECT_EQ(passive->pid, 0);
  EXPECT_EQ(passive->passivations, 1u);
  EXPECT_EQ(passive->restarts, 0u);
  EXPECT_EQ(passive->payload, "6");  // the cast's commit is kept
  EXPECT_EQ(passive->passivate_after_ms, 200u);
  EXPECT_TRUE(process_gone(put->pid));
  EXPECT_EQ(log("terminate"), (std::vector<std::string>{"x passivate"}));
  // Its mailbox is gone: no process, no mailbox memory.
  auto objects = list_shm_objects(names_.prefix() + "mbox." + std::to_string(put->slot) + ".");
  EXPECT_TRUE(objects.empty()) << objects.front();
  // No exit in its history: a passivation is not an exit.
  EXPECT_TRUE(passive->exits.empty());

  auto r = client().call("x", P(R"("get")"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, P("6"));
  // A new process (its ready report may reach the supervisor after the reply
  // reached us; and it passivates again 200 ms after the call).
  auto g = wait_record("x", [&](const WorkerInfo& w) { return w.pid > 0; });
  ASSERT_TRUE(g);
  EXPECT_NE(g->pid, put->pid);
  EXPECT_EQ(inits_of("x"), 2u);
  EXPECT_GE(g->passivations, 1u);
}

TEST_F(Passivation, PutPassiveRegistersWithoutAProcessAndGetStateAndDelWork) {
  ASSERT_TRUE(start());
  auto r = client().put_passive("p", spec(P(R"({"n": 1})")));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, WorkerStatus::kPassive);
  EXPECT_EQ(r->pid, 0);
  EXPECT_EQ(inits_of("p"), 0u);
  EXPECT_TRUE(list_shm_objects(names_.prefix() + "mbox.").empty());
  auto all = client().state();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].status, WorkerStatus::kPassive);
  // put-new over it: exists, nothing changes.
  auto again = client().put_passive("p", spec(P("2")), /*only_new=*/true);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kExists);
  ASSERT_TRUE(client().del("p"));
  EXPECT_FALSE(client().get("p"));
  EXPECT_TRUE(log("terminate").empty());  // there was no process to terminate
  EXPECT_EQ(inits_of("p"), 0u);
}

TEST_F(Passivation, ConcurrentFirstCallsStartExactlyOneProcessAndEveryCallIsAnswered) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--log-level", "debug"})));
  ASSERT_TRUE(client().put_passive("c", spec(json::array{})));
  ASSERT_TRUE(wait_asleep(1));  // the callers find it asleep in the supervisor
  constexpr int kCallers = 6;
  std::vector<Client> clients;
  for (int i = 0; i < kCallers; ++i) clients.push_back(connect());
  std::atomic<int> go{0};
  std::vector<std::optional<Result<json::value>>> replies(kCallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      go.fetch_add(1);
      while (go.load() < kCallers) {
      }
      json::array msg{"append", i};
      replies[i] = clients[i].call("c", msg);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kCallers; ++i) {
    ASSERT_TRUE(replies[i] && *replies[i]) << i << ": " << (*replies[i]).error().message;
  }
  EXPECT_EQ(inits_of("c"), 1u);
  EXPECT_EQ(wakes_of("c"), 1u);
  auto payload = client().call("c", P(R"("get")"));
  ASSERT_TRUE(payload);
  ASSERT_TRUE(payload->is_array());
  std::set<std::int64_t> seen;
  for (const auto& v : payload->as_array()) seen.insert(v.to_number<std::int64_t>());
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kCallers));  // each call handled once
  EXPECT_EQ(payload->as_array().size(), static_cast<std::size_t>(kCallers));
}

// Casts sent just as the worker passivates (passivating, or passive already):
// every one is handled once, in the order sent, whichever process takes it.
TEST_F(Passivation, CastsSentWhileTheWorkerPassivatesAreHandledOnceInOrder) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(put("o", passivating(json::array{}, 20)));
  constexpr int kRounds = 12;
  for (int i = 1; i <= kRounds; ++i) {
    json::array msg{"append", i};
    ASSERT_TRUE(client().cast("o", msg)) << i;
    // The next cast goes out once this one's process is on its way out.
    ASSERT_TRUE(wait_record(
        "o", [](const WorkerInfo& w) { return w.status != WorkerStatus::kRunning; }))
        << i;
  }
  auto r = client().call("o", P(R"("get")"));
  ASSERT_TRUE(r) << r.error().message;
  json::array want;
  for (int i = 1; i <= kRounds; ++i) want.emplace_back(i);
  EXPECT_EQ(*r, json::value(want));
  // The terminate can land behind every cast and the call (its send is the
  // supervisor's outbox's, after the status shows `passivating`): the old
  // process then answers them all and passivates after the reply.
  auto g = wait_record("o", [](const WorkerInfo& w) { return w.passivations >= 1; });
  ASSERT_TRUE(g);
  EXPECT_EQ(g->restarts, 0u);
}

// Calls from one caller back to back while the worker keeps passivating
// between them: each answered once, none reported as a crash.
TEST_F(Passivation, CallsAcrossRepeatedPassivationsAreAnsweredAndNeverTakenForACrash) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(put("k", passivating(json::array{}, 5)));
  constexpr int kCalls = 30;
  for (int i = 1; i <= kCalls; ++i) {
    json::array msg{"append", i};
    auto r = client().call("k", msg);
    ASSERT_TRUE(r) << i << ": " << r.error().message;
  }
  auto r = client().call("k", P(R"("get")"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->as_array().size(), static_cast<std::size_t>(kCalls));
  EXPECT_EQ(get("k")->restarts, 0u);
}

// A cast and a call that reach the mailbox behind the terminate (the worker
// is slow to stop): the supervisor takes them out once the process is gone,
// starts the worker again for them, and they are handled in order.
TEST_F(Passivation, MessagesThatArriveWhileTheWorkerStopsStartItAgainAndAreHandledInOrder) {
  ASSERT_TRUE(start(ProbeStart{}.with_env({"PROBE_TERMINATE_SLEEP_MS=300"})));
  ASSERT_TRUE(put("s", passivating(P("0"), 50)));
  // Inside terminate("passivate"): whatever comes now is behind it.
  ASSERT_TRUE(wait_log_line("terminate", "s passivate"));
  ASSERT_TRUE(client().cast("s", P(R"(["add", 5])")));
  auto r = client().call("s", P(R"("get")"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, P("5"));
  auto g = get("s");
  ASSERT_TRUE(g);
  EXPECT_GE(g->passivations, 1u);
  EXPECT_EQ(g->restarts, 0u);
  EXPECT_EQ(inits_of("s"), 2u);
}

// Several senders while the worker passivates after every lull: each cast is
// handled exactly once, whichever way it went (the old process, the
// supervisor's hand-over, or a sender taking it back from a removed mailbox).
TEST_F(Passivation, ManySendersAcrossConstantPassivationsLoseAndRepeatNothing) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(put("m", passivating(P("0"), 1)));
  constexpr int kSenders = 3;
  constexpr int kCasts = 60;
  std::vector<Client> clients;
  for (int i = 0; i < kSenders; ++i) clients.push_back(connect());
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int i = 0; i < kSenders; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < kCasts; ++k) {
        if (!clients[i].cast("m", P(R"(["add", 1])"))) failed.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failed.load(), 0);
  // Every cast is in: the last commit shows all of them once the worker has
  // gone passive again (nothing left anywhere).
  auto done = wait_record("m", [](const WorkerInfo& w) {
    return w.status == WorkerStatus::kPassive && w.payload == std::to_string(kSenders * kCasts);
  });
  ASSERT_TRUE(done) << "payload " << get("m")->payload;
  EXPECT_GE(done->passivations, 1u);
  EXPECT_EQ(done->restarts, 0u);
}

TEST_F(Passivation, APassiveWorkerWithATimeoutIsStartedWhenItsPerformIsDue) {
  ASSERT_TRUE(start());
  // Performs every 400 ms, passivates after 100 ms idle: between performs it
  // is passive, and each perform starts it again.
  ASSERT_TRUE(put("t", passivating(P(R"({"n": 0})"), 100, 400)));
  ASSERT_TRUE(wait_record("t", [](const WorkerInfo& w) { return w.passivations >= 2; }));
  ASSERT_TRUE(wait_until([&] { return performs_of("t") >= 2; }, kWait));
  EXPECT_GE(inits_of("t"), 2u);
  // The payload each perform commits carries on across passivations.
  ASSERT_TRUE(wait_record("t", [](const WorkerInfo& w) {
    return w.status == WorkerStatus::kPassive && testing::int_field(w.payload, "n") >= 2;
  }));
}

TEST_F(Passivation, ASuccessorAdoptsAPassiveWorkerAndACallStillStartsIt) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(put("a", passivating(P("41"), 50)));
  ASSERT_TRUE(wait_status("a", WorkerStatus::kPassive));
  ::kill(supervisor_pid(), SIGKILL);
  ASSERT_TRUE(wait_supervisor_exit());
  drop_client();
  ASSERT_TRUE(take_over());
  auto g = get("a");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, WorkerStatus::kPassive);
  auto r = client().call("a", P(R"("get")"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, P("41"));
}

// A passive id with nothing pending keeps no Entry in the supervisor: each
// verb wakes it from its registry slot as it was, and it sleeps again.
TEST_F(Passivation, AnIdAsleepInTheSupervisorWakesAsItWasForEveryVerb) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--log-level", "debug"})));
  ChildSpec s = spec(P(R"({"n": 1})"));
  s.options = json::object{{"note", "kept"}};
  s.max_restarts = 7;
  s.within_ms = 9000;
  ASSERT_TRUE(client().put_passive("s", s));
  auto t = put("t", passivating(P("10"), 50));
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_TRUE(client().cast("t", P(R"(["add", 5])")));
  ASSERT_TRUE(wait_status("t", WorkerStatus::kPassive));
  ASSERT_TRUE(wait_asleep(2));
  EXPECT_EQ(wakes_of("s"), 0u);

  // Read from the registry: no wake.
  auto g = get("s");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, WorkerStatus::kPassive);
  EXPECT_EQ(g->options, R"({"note":"kept"})");
  EXPECT_EQ(wakes_of("s"), 0u);

  // put-new over it: exists (woken to be asked, asleep again).
  auto again = client().put_passive("s", spec(P("2")), /*only_new=*/true);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kExists);
  EXPECT_EQ(wakes_of("s"), 1u);
  ASSERT_TRUE(wait_asleep(2));

  // A call starts it from its payload, with its spec as put.
  auto r = client().call("s", P(R"("get")"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, P(R"({"n": 1})"));
  auto running = wait_record("s", [](const WorkerInfo& w) { return w.pid > 0; });
  ASSERT_TRUE(running);
  EXPECT_EQ(running->options, R"({"note":"kept"})");
  EXPECT_EQ(running->max_restarts, 7u);
  EXPECT_EQ(running->within_ms, 9000u);
  EXPECT_EQ(inits_of("s"), 1u);

  // t passivated with its cast's commit; it comes back with it and its count.
  auto rt = client().call("t", P(R"("get")"));
  ASSERT_TRUE(rt) << rt.error().message;
  EXPECT_EQ(*rt, P("15"));
  auto tp = wait_record("t", [](const WorkerInfo& w) {
    return w.status == WorkerStatus::kPassive && w.passivations >= 2;
  });
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->restarts, 0u);
  EXPECT_EQ(tp->payload, "15");

  // del of a sleeping id; restart of one.
  ASSERT_TRUE(wait_until([&] { return wakes_of("t") >= 1; }, kWait));
  const std::size_t before = wakes_of("t");
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string out = supervisor_output();
        const auto last = out.rfind("asleep in all)");
        return last != std::string::npos && out.rfind("woke passive id 't'") < last;
      },
      kWait));
  ASSERT_TRUE(client().del("t"));
  EXPECT_EQ(wakes_of("t"), before + 1);
  EXPECT_FALSE(client().get("t"));
  EXPECT_EQ(inits_of("t"), 2u);  // the put and the call: the del started nothing
}

// A supervisor SIGKILLed while ids sleep: its successor adopts them from the
// registry (where they are whole) and they answer as before.
TEST_F(Passivation, IdsAsleepWhenTheSupervisorDiesAreAdoptedWhole) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--log-level", "debug"})));
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(client().put_passive("z" + std::to_string(i), spec(P(std::to_string(i)))));
  }
  ASSERT_TRUE(wait_asleep(20));
  ::kill(supervisor_pid(), SIGKILL);
  ASSERT_TRUE(wait_supervisor_exit());
  drop_client();
  ASSERT_TRUE(take_over(ProbeStart{}.with_flags({"--log-level", "debug"})));
  ASSERT_TRUE(wait_asleep(20));  // adopted, then asleep again in the successor
  for (int i : {0, 7, 19}) {
    auto r = client().call("z" + std::to_string(i), P(R"("get")"));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, P(std::to_string(i)));
  }
  auto all = client().state();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 20u);
}

// A clean stop leaves sleeping ids as they are stored (no wake, no event for
// each): the next start restores them from the state database.
TEST_F(Passivation, ACleanStopKeepsSleepingIdsStoredWithoutWakingThem) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--log-level", "debug"})));
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(client().put_passive("q" + std::to_string(i), spec(P(std::to_string(i)))));
  }
  ASSERT_TRUE(wait_asleep(30));
  ASSERT_TRUE(client().stop());
  ASSERT_TRUE(wait_supervisor_exit());
  EXPECT_NE(supervisor_output().find("stopping: 30 sleeping passive id(s) kept as stored"),
            std::string::npos)
      << supervisor_output();
  EXPECT_EQ(supervisor_output().find("woke passive id"), std::string::npos) << supervisor_output();
  drop_client();
  ASSERT_TRUE(take_over(ProbeStart{}.with_flags({"--log-level", "debug"})));
  auto all = client().state();
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 30u);
  for (const auto& w : *all) EXPECT_EQ(w.status, WorkerStatus::kPassive) << w.id;
  auto r = client().call("q7", P(R"("get")"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, P("7"));
}

TEST_F(Passivation, PoolMembersThatArePassiveAreStartedWhenNoneIsFree) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--pool", "2", "--pool-passivate-after", "50"})));
  ASSERT_TRUE(wait_status("pool-1", WorkerStatus::kPassive));
  ASSERT_TRUE(wait_status("pool-2", WorkerStatus::kPassive));
  auto r = client().call_any(P(R"("pid")"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_GT(r->to_number<std::int64_t>(), 0);
}

}  // namespace
}  // namespace dynmgr
