// The supervisor's life cycle with real processes: graceful stop (Client::stop
// and SIGTERM) leaves no process and no shared object; one supervisor per
// name; a supervisor killed with SIGKILL takes its workers with it; capacity
// and payload limits are clear errors that change nothing. (1000 workers:
// scale_test.cpp.)

#include "probe_harness.hpp"

#include "shared/process_identity.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <string>
#include <vector>

namespace dynmgr {
namespace {

using testing::kWait;
using testing::P;
using testing::ProbeStart;
using testing::run_command;
using testing::spec;
using testing::wait_until;
using namespace std::chrono_literals;

class Lifecycle : public testing::ProbeTest {
 protected:
  // Starts three workers (one boot child, two put) and returns their pids.
  std::vector<pid_t> start_three() {
    std::vector<pid_t> pids;
    EXPECT_TRUE(start(ProbeStart{}.with_children(R"({"boot": {"timeout": 50}})")));
    if (!has_client()) return pids;
    for (const char* id : {"p1", "p2"}) {
      auto r = put(id, spec(P(R"({"n": 0})"), 50));
      EXPECT_TRUE(r) << (r ? "" : r.error().message);
      if (r) pids.push_back(r->pid);
    }
    auto boot = get("boot");
    EXPECT_TRUE(boot);
    if (boot) pids.push_back(boot->pid);
    return pids;
  }

  void expect_nothing_left(const std::vector<pid_t>& pids) {
    for (pid_t p : pids) {
      EXPECT_TRUE(wait_until([&] { return process_gone(p); }, 5s)) << "worker " << p << " survived";
      EXPECT_TRUE(wait_until([&] { return group_gone(p); }, 5s)) << "process group " << p << " survived";
    }
    drop_client();  // our reply queue is ours to remove
    EXPECT_TRUE(testing::shm_objects(names_).empty())
        << ::testing::PrintToString(testing::shm_objects(names_));
  }
};

// ---------------------------------------------------------------- graceful stop

TEST_F(Lifecycle, ClientStopLeavesNoProcessAndNoSharedObject) {
  const auto pids = start_three();
  ASSERT_EQ(pids.size(), 3u);
  ASSERT_TRUE(client().stop());
  auto status = wait_supervisor_exit();
  ASSERT_TRUE(status) << "supervisor still running";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  expect_nothing_left(pids);
  EXPECT_EQ(log("state").back(), "down");
}

TEST_F(Lifecycle, SigtermLeavesNoProcessAndNoSharedObject) {
  const auto pids = start_three();
  ASSERT_EQ(pids.size(), 3u);
  ASSERT_EQ(::kill(supervisor_pid(), SIGTERM), 0);
  auto status = wait_supervisor_exit();
  ASSERT_TRUE(status) << "supervisor still running";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  expect_nothing_left(pids);
  auto t = log("terminate");
  std::sort(t.begin(), t.end());
  EXPECT_EQ(t, (std::vector<std::string>{"boot shutdown", "p1 shutdown", "p2 shutdown"}));
}

// ---------------------------------------------------------------- one supervisor per name

TEST_F(Lifecycle, ASecondSupervisorWithTheSameNameIsRefused) {
  ASSERT_TRUE(start(ProbeStart{}.with_children(R"({"a": {"timeout": 50}})")));
  auto a = get("a");
  ASSERT_TRUE(a);
  const auto second = run_command({testing::bin_path("probe"), "-n", instance_}, {}, 20s);
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.err.find("already running"), std::string::npos) << second.err;
  EXPECT_NE(second.err.find(instance_), std::string::npos) << second.err;
  // The first one is untouched: same pid, still answering, its objects intact.
  EXPECT_TRUE(client().ping());
  EXPECT_EQ(client().header().supervisor_pid, supervisor_pid());
  auto again = get("a");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->pid, a->pid);
  EXPECT_EQ(again->status, WorkerStatus::kRunning);
  auto b = put("b", spec(P("{}"), 0));
  EXPECT_TRUE(b) << b.error().message;
}

// ---------------------------------------------------------------- supervisor killed

TEST_F(Lifecycle, SupervisorKilledWithSigkillTakesItsWorkersWithIt) {
  const auto pids = start_three();
  ASSERT_EQ(pids.size(), 3u);
  for (pid_t p : pids) ASSERT_TRUE(process_alive(p, 0));
  ASSERT_EQ(::kill(supervisor_pid(), SIGKILL), 0);
  auto status = wait_supervisor_exit();
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL);
  // PR_SET_PDEATHSIG: every worker dies with it (we are their subreaper now).
  for (pid_t p : pids) {
    EXPECT_TRUE(wait_until([&] { return process_gone(p); }, kWait)) << "worker " << p << " survived";
    EXPECT_TRUE(group_gone(p));
  }
  // The registry says nobody is home.
  auto st = client().state();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kNoSupervisor);
}

TEST_F(Lifecycle, ANewSupervisorAdoptsTheWorkersOfAKilledOne) {
  ASSERT_TRUE(start(ProbeStart{}.with_children(R"({"a": {"timeout": 0}})")));
  auto b0 = put("b", spec(P("{}"), 0));
  ASSERT_TRUE(b0);
  auto a0 = get("a");
  ASSERT_TRUE(a0);
  ASSERT_EQ(::kill(supervisor_pid(), SIGKILL), 0);
  ASSERT_TRUE(wait_supervisor_exit());
  drop_client();
  EXPECT_FALSE(testing::shm_objects(names_).empty()) << "a killed supervisor cannot clean up";
  // Same name: the registry is adopted with its live workers, none restarted.
  const auto r = run_command({testing::bin_path("probe"), "-n", instance_, "--daemon", "--log-file",
                              log_path("daemon")},
                             {"PROBE_CHILDREN={\"a\": {\"timeout\": 0}}",
                              "PROBE_INIT_LOG=" + log_path("init2")},
                             20s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto c = Client::connect(Client::Options{instance_, Millis(15'000)});
  ASSERT_TRUE(c) << c.error().message;
  const pid_t daemon_pid = c->header().supervisor_pid;
  track(daemon_pid);  // TearDown kills its group (setsid) if the test fails midway
  auto a = c->get("a");
  ASSERT_TRUE(a);
  track(a->pid);
  EXPECT_EQ(a->status, WorkerStatus::kRunning);
  EXPECT_EQ(a->pid, a0->pid);
  auto b = c->get("b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->pid, b0->pid);
  EXPECT_EQ(c->header().adopted, 2u);
  ASSERT_TRUE(c->stop());
  EXPECT_TRUE(wait_until([&] { return !process_alive(daemon_pid, 0); }));
  EXPECT_TRUE(wait_until([&] { return process_gone(a->pid); }));
}

// ---------------------------------------------------------------- limits

TEST_F(Lifecycle, FullRegistryMakesPutFailWithKFull) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--max-workers", "2"})));
  ASSERT_TRUE(put("a", spec(P("{}"), 0)));
  ASSERT_TRUE(put("b", spec(P("{}"), 0)));
  auto c = put("c", spec(P("{}"), 0));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::kFull);
  EXPECT_NE(c.error().message.find("2 workers"), std::string::npos) << c.error().message;
  auto all = client().state();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(client().header().workers, 2u);
  // Nothing was created for c: only the two mailboxes.
  std::size_t mailboxes = 0;
  for (const auto& n : testing::shm_objects(names_)) {
    const bool bell = n.size() > 5 && n.compare(n.size() - 5, 5, ".bell") == 0;
    mailboxes += n.find(".mbox.") != std::string::npos && !bell;  // each queue has a bell
  }
  EXPECT_EQ(mailboxes, 2u);
  // Replacing an existing id still works at capacity, and a freed slot is reused.
  ASSERT_TRUE(put("a", spec(P(R"({"v": 2})"), 0)));
  ASSERT_TRUE(client().del("b"));
  auto c2 = put("c", spec(P("{}"), 0));
  EXPECT_TRUE(c2) << c2.error().message;
}

TEST_F(Lifecycle, TooLargePayloadIsKTooLargeAndChangesNothing) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--max-payload", "256"})));
  auto a = put("a", spec(P(R"({"v": 1})"), 0));
  ASSERT_TRUE(a);
  const json::value big = json::value(std::string(300, 'x'));
  auto fresh = put("big", spec(big, 0));
  ASSERT_FALSE(fresh);
  EXPECT_EQ(fresh.error().code, Errc::kTooLarge);
  EXPECT_NE(fresh.error().message.find("256"), std::string::npos) << fresh.error().message;
  EXPECT_FALSE(client().get("big"));
  auto over = put("a", spec(big, 0));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, Errc::kTooLarge);
  auto now = get("a");
  ASSERT_TRUE(now);
  EXPECT_EQ(now->pid, a->pid);
  EXPECT_EQ(now->payload, R"({"v":1})");
  EXPECT_TRUE(log("terminate").empty());
  auto all = client().state();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 1u);
  // A payload right at the limit is fine.
  const std::string at_limit(254, 'y');  // plus two quotes: 256 bytes of JSON
  auto ok = put("edge", spec(json::value(at_limit), 0));
  EXPECT_TRUE(ok) << ok.error().message;
}

}  // namespace
}  // namespace dynmgr
