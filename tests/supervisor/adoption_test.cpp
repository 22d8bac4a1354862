// Nothing lost when the supervisor dies or re-executes itself: its workers
// keep running and serving, a successor adopts them (same pids, no restart),
// and every change a client saw acknowledged is still there. Real processes,
// SIGKILL, real queues; every wait is a condition with a deadline.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <utility>

#include "adoption_load.hpp"
#include "probe_harness.hpp"
#include "shared/clock.hpp"
#include "shared/process_identity.hpp"
#include "shared/registry_test_hooks.hpp"

namespace dynmgr {
namespace {

using testing::AdoptionLoad;
using testing::kLoadWorkers;
using testing::ProbeStart;
using testing::spec;
using testing::wait_until;
using namespace std::chrono_literals;

const ProbeStart kStart = ProbeStart{}.with_flags({"--max-payload", "262144"});

class Adoption : public testing::ProbeTest {
 protected:
  // Puts w1..w8 (payload [], never performing); returns their pids.
  std::map<std::string, pid_t> put_lanes() {
    std::map<std::string, pid_t> pids;
    for (int i = 0; i < kLoadWorkers; ++i) {
      auto r = put(AdoptionLoad::id(i), spec(json::array{}));
      EXPECT_TRUE(r) << r.error().message;
      if (r) pids[r->id] = r->pid;
    }
    return pids;
  }

  // Workers "a", whose payload a call made [7], and "b". Empty on a failure.
  std::optional<std::pair<WorkerInfo, WorkerInfo>> a_seven_and_b() {
    auto a = put("a", spec(json::array{}));
    auto b = put("b", spec(json::array{}));
    if (!a || !b) {
      ADD_FAILURE() << (a ? b.error().message : a.error().message);
      return std::nullopt;
    }
    if (!client().call("a", json::array{"append", 7}) ||
        !wait_record("a", [](const WorkerInfo& w) { return w.payload == "[7]"; })) {
      ADD_FAILURE() << "a's payload never became [7]";
      return std::nullopt;
    }
    return std::make_pair(*a, *b);
  }

  // Waits (with the harness' deadline) until pid is gone.
  bool gone(pid_t pid) {
    return wait_until([&] { return process_gone(pid); }, testing::kWait, 1ms);
  }

  void kill_supervisor() {
    ASSERT_EQ(::kill(supervisor_pid(), SIGKILL), 0);
    ASSERT_TRUE(wait_supervisor_exit());
  }

  // Once the load has stopped: every lane's payload holds what it was told.
  void expect_nothing_lost(const AdoptionLoad& load, const std::map<std::string, pid_t>& pids) {
    for (int i = 0; i < kLoadWorkers; ++i) {
      const std::string id = AdoptionLoad::id(i);
      // Casts are applied asynchronously: wait until all that were sent are in.
      const std::size_t want = load.sent_casts(i);
      auto r = wait_record(id, [&](const WorkerInfo& w) {
        auto p = testing::parse(w.payload);
        std::size_t negatives = 0;
        if (p.is_array()) {
          for (const auto& v : p.get_array()) negatives += v.is_int64() && v.get_int64() < 0;
        }
        return negatives >= want;
      });
      ASSERT_TRUE(r);
      EXPECT_EQ(r->pid, pids.at(id)) << id << " was restarted";
      EXPECT_EQ(r->restarts, 0u) << id;
      EXPECT_TRUE(load.all_in(i, testing::parse(r->payload))) << id;
    }
    // A request may wait out its deadline; it must never hang past it.
    EXPECT_LT(load.longest_ms(), 3 * testing::kLoadDeadline.count());
  }
};

TEST_F(Adoption, KilledSupervisorIsAdoptedUnderLoadAndNothingAcknowledgedIsLost) {
  ASSERT_TRUE(start(kStart));
  const auto pids = put_lanes();
  AdoptionLoad load(instance_);
  load.start();
  ASSERT_TRUE(load.wait_progress(5));
  kill_supervisor();
  ASSERT_TRUE(take_over(kStart));
  ASSERT_TRUE(load.wait_progress(5)) << supervisor_output();
  load.stop();
  EXPECT_EQ(client().header().adopted, static_cast<std::uint32_t>(kLoadWorkers));
  expect_nothing_lost(load, pids);
}

// A slot torn with no journal to finish it (its seqlock odd: before layout
// 12 any death mid-write left this; now only a damaged segment does). The
// successor cannot trust it and clears it; the worker used to be lost with
// it, and then removed from the state database too (found by TwentyKills...
// under ASan). It comes back from the database, with its last committed
// payload and its restart count.
TEST_F(Adoption, AWorkerWhoseSlotWasMidUpdateWhenTheSupervisorDiedIsRestoredFromTheDatabase) {
  ASSERT_TRUE(start(kStart));
  const auto ab = a_seven_and_b();
  ASSERT_TRUE(ab);
  const WorkerInfo* a = &ab->first;
  const WorkerInfo* b = &ab->second;
  // In the database: rows are committed in order, so once a later change
  // (the put of "c", made after [7] was visible) is committed, so is [7].
  const std::uint64_t seen_ms = wall_ms();
  ASSERT_TRUE(put("c", spec(json::array{})));
  ASSERT_TRUE(wait_until([&] {
    const auto h = client().header();
    return h.persistence.pending == 0 && h.persistence.last_commit_ms > seen_ms;
  }));
  kill_supervisor();
  {
    // The write the supervisor died in, as it left it.
    auto w = RegistryWriter::attach(names_);
    ASSERT_TRUE(w) << w.error().message;
    RegistryTestHooks::begin_update(*w, a->slot);
  }
  ASSERT_TRUE(take_over(kStart));
  auto back = wait_record("a", [&](const WorkerInfo& r) {
    return r.status == WorkerStatus::kRunning && r.pid != a->pid;
  });
  ASSERT_TRUE(back) << supervisor_output();
  EXPECT_EQ(back->payload, "[7]");
  EXPECT_NE(supervisor_output().find("worker 'a': its slot was mid-update"), std::string::npos)
      << supervisor_output();
  auto pid = client().call("a", "pid");
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_EQ(pid->as_int64(), back->pid);
  // The other worker was adopted as it was.
  EXPECT_EQ(get("b")->pid, b->pid);
}

// The common case of a death mid-write since layout 12: the change was
// composed in the registry's journal first, so the successor finishes it and
// adopts the worker as it runs (same pid, no restart, nothing restored from
// the database). Before, such a worker was restarted from its last committed
// payload and what it had accepted since was lost (TwentyKills... in CI).
TEST_F(Adoption, AWriteTheSupervisorDiedInIsFinishedByItsSuccessorAndTheWorkerAdopted) {
  ASSERT_TRUE(start(kStart));
  const auto ab = a_seven_and_b();
  ASSERT_TRUE(ab);
  const WorkerInfo* a = &ab->first;
  const WorkerInfo* b = &ab->second;
  kill_supervisor();
  {
    // The write the supervisor died in: half copied into the slot.
    auto w = RegistryWriter::attach(names_);
    ASSERT_TRUE(w) << w.error().message;
    auto rec = w->read(a->slot);
    ASSERT_TRUE(rec) << rec.error().message;
    rec->value = "\"journaled\"";
    ASSERT_TRUE(RegistryTestHooks::die_in_slot(*w, *rec));
  }
  ASSERT_TRUE(take_over(kStart));
  auto back = wait_record("a", [&](const WorkerInfo& r) { return r.value == "\"journaled\""; });
  ASSERT_TRUE(back) << supervisor_output();
  EXPECT_EQ(back->pid, a->pid);
  EXPECT_EQ(back->restarts, 0u);
  EXPECT_EQ(back->payload, "[7]");
  EXPECT_EQ(client().header().adopted, 2u);
  EXPECT_NE(supervisor_output().find("finished the write of slot " + std::to_string(a->slot) +
                                     " (worker 'a')"),
            std::string::npos)
      << supervisor_output();
  EXPECT_EQ(supervisor_output().find("mid-update"), std::string::npos) << supervisor_output();
  auto pid = client().call("a", "pid");
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_EQ(pid->as_int64(), a->pid);
  EXPECT_EQ(get("b")->pid, b->pid);
}

TEST_F(Adoption, TwentyKillsInARowUnderLoadLoseNothingAndRestartNothing) {
  ASSERT_TRUE(start(kStart));
  const auto pids = put_lanes();
  AdoptionLoad load(instance_);
  load.start();
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(load.wait_progress(2)) << "round " << round << "\n" << supervisor_output();
    kill_supervisor();
    ASSERT_TRUE(take_over(kStart)) << "round " << round;
  }
  ASSERT_TRUE(load.wait_progress(2));
  load.stop();
  expect_nothing_lost(load, pids);
}

TEST_F(Adoption, ReadsCallsAndCastsGoOnWithoutASupervisorAndItsVerbsTimeOutWithExit5) {
  ASSERT_TRUE(start(kStart));
  ASSERT_TRUE(put("a", spec(json::array{})));
  kill_supervisor();
  // Reads come from shared memory; calls and casts go to the worker itself.
  auto got = client().get("a");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_TRUE(client().cast("a", json::array{"append", 1}));
  auto pid = client().call("a", "pid");
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_EQ(pid->as_int64(), got->pid);
  EXPECT_FALSE(client().header().supervisor_alive);
  // A verb that needs the supervisor waits for a successor, then says so.
  client().set_timeout(300ms);
  auto put_r = client().put("b", spec(nullptr));
  ASSERT_FALSE(put_r);
  EXPECT_EQ(put_r.error().code, Errc::kNoSupervisor) << put_r.error().message;
  EXPECT_NE(put_r.error().message.find("no supervisor running"), std::string::npos);
  client().set_timeout(15'000ms);
  // The commit the cast made while no supervisor ran is applied by the successor.
  ASSERT_TRUE(take_over(kStart));
  ASSERT_TRUE(wait_record("a", [&](const WorkerInfo& w) { return w.payload == "[1]"; }));
  EXPECT_EQ(get("a")->pid, got->pid);
}

TEST_F(Adoption, AWorkerThatDiedWhileNoSupervisorRanIsRestartedFromItsLastPayload) {
  ASSERT_TRUE(start(kStart));
  auto a = put("a", spec(json::array{}));
  ASSERT_TRUE(a);
  ASSERT_TRUE(client().call("a", json::array{"append", 7}));
  kill_supervisor();
  ASSERT_EQ(::kill(a->pid, SIGKILL), 0);
  ASSERT_TRUE(gone(a->pid));
  ASSERT_TRUE(take_over(kStart));
  auto r = wait_record("a", [&](const WorkerInfo& w) {
    return w.status == WorkerStatus::kRunning && w.pid != a->pid;
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->payload, "[7]");
  EXPECT_EQ(r->restarts, 1u);
  EXPECT_EQ(r->last_exit.kind, ExitInfo::Kind::kUnknown) << r->last_exit.describe();
  EXPECT_EQ(client().header().adopted, 0u);
}

TEST_F(Adoption, AnAdoptedWorkerThatCrashesIsRestartedAndItsSuccessorIsAChild) {
  ASSERT_TRUE(start(kStart));
  auto a = put("a", spec(json::array{}));
  ASSERT_TRUE(a);
  kill_supervisor();
  ASSERT_TRUE(take_over(kStart));
  // Adopted: not our child, so its exit status is unknown.
  EXPECT_FALSE(client().call("a", "crash"));
  auto r = wait_record("a", [&](const WorkerInfo& w) {
    return w.status == WorkerStatus::kRunning && w.restarts == 1;
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->last_exit.kind, ExitInfo::Kind::kUnknown) << r->last_exit.describe();
  // Started by this supervisor: the exact status again.
  EXPECT_FALSE(client().call("a", "crash"));
  r = wait_record("a", [&](const WorkerInfo& w) {
    return w.status == WorkerStatus::kRunning && w.restarts == 2;
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->last_exit.kind, ExitInfo::Kind::kSignaled) << r->last_exit.describe();
  EXPECT_EQ(r->last_exit.code, SIGABRT);
}

TEST_F(Adoption, OrphansStopThemselvesCleanlyOnceTheGraceIsOver) {
  ASSERT_TRUE(start(kStart.with_flags({"--orphan-grace", "1000"})));
  std::vector<pid_t> pids;
  for (const char* id : {"a", "b", "c"}) {
    auto r = put(id, spec(nullptr));
    ASSERT_TRUE(r);
    pids.push_back(r->pid);
  }
  const auto killed = std::chrono::steady_clock::now();
  kill_supervisor();
  for (pid_t p : pids) EXPECT_TRUE(gone(p)) << "pid " << p << " outlived its grace";
  const auto took = std::chrono::steady_clock::now() - killed;
  // Not before the grace: they waited for a successor first.
  EXPECT_GE(took, 1000ms);
  std::cout << "orphans gone " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms after the supervisor's death (grace 1000 ms)\n";
  // Each ended through terminate("orphaned"), not a signal.
  EXPECT_TRUE(wait_until([&] { return log_lines("terminate", "a orphaned").size() == 1; }, testing::kWait, 1ms));
  EXPECT_EQ(log_lines("terminate", "b orphaned").size(), 1u);
  EXPECT_EQ(log_lines("terminate", "c orphaned").size(), 1u);
  // Nothing is left to adopt: the instance reads as not running.
  drop_client();
  auto c = Client::connect(Client::Options{instance_, Millis(1000)});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::kNoSupervisor);
}

// How a worker notices its supervisor's death (worker_runtime.cpp,
// SupervisorWatch): its parent's through PDEATHSIG, with no thread of its
// own; an adopter's, which is not its parent, through a thread. Both lead to
// a clean stop once the grace is over.
TEST_F(Adoption, AnAdoptedWorkerWatchesItsAdopterAndStopsWhenItDiesToo) {
  const auto flags = kStart.with_flags({"--orphan-grace", "1000"});
  ASSERT_TRUE(start(flags));
  auto a = put("a", spec(nullptr));
  ASSERT_TRUE(a);
  auto threads = [&] {
    std::ifstream in("/proc/" + std::to_string(a->pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
    }
    return 0;
  };
  EXPECT_EQ(threads(), 1);  // the supervisor is its parent
  kill_supervisor();
  ASSERT_TRUE(take_over(flags));
  ASSERT_TRUE(wait_record("a", [&](const WorkerInfo& w) {
    return w.status == WorkerStatus::kRunning && w.pid == a->pid;
  }));
  EXPECT_EQ(client().header().adopted, 1u);
  // Told of its adopter when it rings; then watched by a thread.
  EXPECT_TRUE(wait_until([&] { return threads() == 2; })) << threads();
  kill_supervisor();
  EXPECT_TRUE(gone(a->pid)) << "pid " << a->pid << " outlived its grace";
  EXPECT_TRUE(wait_until([&] { return log_lines("terminate", "a orphaned").size() == 1; },
                         testing::kWait, 1ms));
}

TEST_F(Adoption, AStopInProgressWhenTheSupervisorDiedIsFinishedAsADelete) {
  // A worker deaf to terminate keeps its `stopping` status until SIGTERM.
  ASSERT_TRUE(start(kStart.with_flags({"--terminate-timeout", "60000"})));
  auto a = put("a", spec(testing::P(R"({"on_perform": "ignore_term"})"), 10));
  ASSERT_TRUE(a);
  // Busy in a perform that ignores SIGTERM and never reads its mailbox.
  ASSERT_TRUE(wait_record("a", [](const WorkerInfo& w) { return w.busy_since_ms != 0; }));
  client().set_timeout(200ms);
  EXPECT_FALSE(client().del("a"));  // times out: the worker ignores terminate
  client().set_timeout(15'000ms);
  ASSERT_TRUE(wait_record("a", [](const WorkerInfo& w) { return w.status == WorkerStatus::kStopping; }));
  kill_supervisor();
  ASSERT_TRUE(take_over(kStart.with_flags({"--terminate-timeout", "100", "--kill-timeout", "100"})));
  EXPECT_TRUE(wait_absent("a"));
  EXPECT_TRUE(gone(a->pid));
}

// ---------------------------------------------------------------- reexec

TEST_F(Adoption, ReexecUnderLoadKeepsEveryPidAndLosesNothing) {
  ASSERT_TRUE(start(kStart));
  const auto pids = put_lanes();
  AdoptionLoad load(instance_);
  load.start();
  ASSERT_TRUE(load.wait_progress(5));
  const pid_t sup = supervisor_pid();
  auto r = client().reexec();
  ASSERT_TRUE(r) << r.error().message << "\n" << supervisor_output();
  EXPECT_EQ(r->at("pid").as_int64(), sup);
  EXPECT_EQ(r->at("adopted").as_int64(), kLoadWorkers);
  ASSERT_TRUE(load.wait_progress(5));
  // SIGUSR2 does the same.
  ASSERT_EQ(::kill(sup, SIGUSR2), 0);
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string out = supervisor_output();
        std::size_t n = 0;
        for (auto at = out.find("re-executed; adopted 8 worker(s)"); at != std::string::npos;
             at = out.find("re-executed; adopted 8 worker(s)", at + 1)) {
          ++n;
        }
        return n == 2;
      },
      testing::kWait, 1ms));
  ASSERT_TRUE(load.wait_progress(5));
  load.stop();
  EXPECT_EQ(client().header().supervisor_pid, sup);
  EXPECT_TRUE(process_alive(sup, 0));
  expect_nothing_lost(load, pids);
  // Still our children: a crash has its exact status.
  EXPECT_FALSE(client().call("w1", "crash"));
  auto w = wait_record("w1", [](const WorkerInfo& x) { return x.restarts == 1 && x.status == WorkerStatus::kRunning; });
  ASSERT_TRUE(w);
  EXPECT_EQ(w->last_exit.kind, ExitInfo::Kind::kSignaled) << w->last_exit.describe();
}

TEST_F(Adoption, AFailedReexecLeavesTheSupervisorRunningAndSaysWhy) {
  // Run a copy of the probe, then take the copy away.
  const std::string copy = dir_ + "/probe-copy";
  std::filesystem::copy_file(testing::bin_path("probe"), copy);
  ASSERT_EQ(::chmod(copy.c_str(), 0755), 0);
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--max-payload", "262144"}).with_binary(copy)));
  auto a = put("a", spec(nullptr));
  ASSERT_TRUE(a);
  ASSERT_EQ(::chmod(copy.c_str(), 0644), 0);
  auto r = client().reexec();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kFailed);
  EXPECT_NE(r.error().message.find("unable to re-execute"), std::string::npos) << r.error().message;
  std::filesystem::remove(copy);
  r = client().reexec();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("No such file"), std::string::npos) << r.error().message;
  EXPECT_TRUE(client().ping());
  EXPECT_EQ(get("a")->pid, a->pid);
}

}  // namespace
}  // namespace dynmgr
