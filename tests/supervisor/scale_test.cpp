// 1000 workers (timeout 0) put one by one, then deleted one by one: every put
// and del is synchronous, and nothing is left behind — no process, no registry
// slot, no mailbox. A test executable of its own so that sanitizer builds, where
// each of the 1000 process starts costs tens of milliseconds, can label it slow.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "probe_harness.hpp"

namespace dynmgr {
namespace {

using testing::mono_now_ms;
using testing::ProbeStart;
using testing::spec;
using testing::wait_until;
using namespace std::chrono_literals;

class Scale : public testing::ProbeTest {};

TEST_F(Scale, AThousandWorkersComeAndGoWithoutLeftovers) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--max-workers", "1024", "--log-level", "warn"})));
  constexpr int kWorkers = 1000;
  const auto t0 = mono_now_ms();
  for (int i = 0; i < kWorkers; ++i) {
    auto r = put("w" + std::to_string(i), spec(json::value(i), 0));
    ASSERT_TRUE(r) << "put " << i << ": " << r.error().message;
  }
  const auto put_ms = mono_now_ms() - t0;
  auto all = client().state();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), static_cast<std::size_t>(kWorkers));
  for (const auto& r : *all) {
    EXPECT_EQ(r.status, WorkerStatus::kRunning) << r.id;
    track(r.pid);
  }
  // The loop thread's descriptor table (what /proc/PID/fd shows: the main
  // thread's) holds no per-worker descriptor: every spawn copies that table
  // into the child, so per-worker pidfds there made each put cost O(workers).
  const pid_t sup = client().header().supervisor_pid;
  std::size_t fds = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(sup) + "/fd")) {
    ++fds;
  }
  EXPECT_LT(fds, 64u) << "descriptors in the supervisor's loop thread with " << kWorkers
                      << " workers";
  std::vector<pid_t> pids;
  for (const auto& r : *all) pids.push_back(r.pid);
  const auto t1 = mono_now_ms();
  for (int i = 0; i < kWorkers; ++i) {
    auto d = client().del("w" + std::to_string(i));
    ASSERT_TRUE(d) << "del " << i << ": " << d.error().message;
  }
  const auto del_ms = mono_now_ms() - t1;
  std::cout << "put " << kWorkers << ": " << put_ms << " ms, del: " << del_ms << " ms\n";
  all = client().state();
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
  for (const auto& r : *all) {
    ADD_FAILURE() << "left in the registry: '" << r.id << "' slot " << r.slot << " status "
                  << to_string(r.status) << " pid " << r.pid
                  << (process_gone(r.pid) ? " (process gone)" : " (process alive)");
  }
  if (!all->empty()) {
    const bool later = wait_until(
        [&] {
          auto a = client().state();
          return a && a->empty();
        },
        3s);
    ADD_FAILURE() << "registry empty 3 s later: " << later;
  }
  EXPECT_EQ(client().header().workers, 0u);
  for (pid_t p : pids) EXPECT_TRUE(process_gone(p)) << p;
  // Only the registry, the words, the event ring, the control queue, the lock and our
  // reply queue remain.
  for (const auto& n : testing::shm_objects(names_)) {
    const std::string rest = n.substr(names_.prefix().size());
    EXPECT_TRUE(rest == "registry" || rest == "words" || rest == "events" || rest == "lock" ||
                rest.rfind("control.", 0) == 0 || rest.rfind("reply.", 0) == 0)
        << n;
  }
  EXPECT_EQ(log("terminate").size(), static_cast<std::size_t>(kWorkers));
}

// A stop with many workers running (not deleted one by one): the supervisor
// terminates all of them, reaps them, removes every object and exits 0.
TEST_F(Scale, StopWithFiveHundredWorkersRunningLeavesNothing) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--max-workers", "512", "--log-level", "warn"})));
  constexpr int kWorkers = 500;
  std::vector<pid_t> pids;
  for (int i = 0; i < kWorkers; ++i) {
    auto r = put("w" + std::to_string(i), spec(json::value(i), 0));
    ASSERT_TRUE(r) << "put " << i << ": " << r.error().message;
    pids.push_back(r->pid);
  }
  ASSERT_TRUE(client().stop());
  auto status = wait_supervisor_exit(30s);
  ASSERT_TRUE(status) << "supervisor still running";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  for (pid_t p : pids) EXPECT_TRUE(process_gone(p)) << p;
  drop_client();
  EXPECT_TRUE(testing::shm_objects(names_).empty())
      << ::testing::PrintToString(testing::shm_objects(names_));
  EXPECT_EQ(log("terminate").size(), static_cast<std::size_t>(kWorkers));
}

}  // namespace
}  // namespace dynmgr
