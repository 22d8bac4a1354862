// Resource limits under the stock dynmgrd (README "Resource limits and hangs"):
// an exec worker's command inherits the worker's rlimits, the memory of the
// command counts toward its worker's max_memory, and a children file carries
// the limits like any spec field.
#include <sys/stat.h>

#include <fstream>

#include "dynmgrd_harness.hpp"

namespace dynmgr::testing {
namespace {

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), 0600);
}

TEST_F(DynmgrdTest, TheCommandInheritsTheWorkersRlimits) {
  ASSERT_TRUE(start());
  const auto r = ctl({"put", "lim", "--timeout", "0", "--rlimit", "nofile=100", "--rlimit",
                      "core=0", "--exec", probe_command_path()});
  ASSERT_EQ(r.exit_code, 0) << r.err << log();
  const auto n = ctl({"call", "lim", R"("nofile")"});
  ASSERT_EQ(n.exit_code, 0) << n.err;
  EXPECT_EQ(n.out, "100\n");
}

// The command, not the worker, allocates: the sampled memory is the worker's
// whole process tree, so the worker is restarted, counted as max_memory.
TEST_F(DynmgrdTest, ACommandOverItsWorkersMaxMemoryRestartsTheWorker) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "an ASan-built worker's resident memory (its shadow and allocator) is "
                  "already near the limit this test sets; the plain build runs it";
#endif
  ASSERT_TRUE(start());
  const auto r = ctl({"put", "hog", "--timeout", "0", "--max-memory", "64M", "--exec",
                      probe_command_path()});
  ASSERT_EQ(r.exit_code, 0) << r.err << log();
  const pid_t w1 = worker_pid("hog");
  ASSERT_GT(w1, 0);
  // The reply may or may not come before the kill: only what follows matters.
  (void)ctl({"call", "hog", R"("alloc")"});
  const auto rec = wait_record("hog", [&](const WorkerInfo& s) {
    return s.last_exit.kind == ExitInfo::Kind::kMaxMemory && s.restarts >= 1 &&
           s.status == WorkerStatus::kRunning && s.pid != w1;
  });
  ASSERT_TRUE(rec && rec->last_exit.kind == ExitInfo::Kind::kMaxMemory) << log();
  EXPECT_NE(rec->last_exit.reason.find("over its max_memory of 67108864"), std::string::npos)
      << rec->last_exit.reason;
  EXPECT_TRUE(process_dead(w1));
  EXPECT_NE(log().find("worker 'hog' used "), std::string::npos) << log();
}

TEST_F(DynmgrdTest, AChildrenFileCarriesTheLimits) {
  const std::string children = path("children.json");
  write_file(children, R"({"c": {"exec": [")" + probe_command_path() +
                           R"("], "timeout": 0, "on_overrun": "kill", "max_memory": "1G",
                              "rlimits": {"nofile": 77}}})");
  ASSERT_TRUE(start({"--children", children}));
  const auto rec = wait_record("c", [](const WorkerInfo& s) {
    return s.status == WorkerStatus::kRunning;
  });
  ASSERT_TRUE(rec) << log();
  EXPECT_EQ(rec->on_overrun, OnOverrun::kKill);
  EXPECT_EQ(rec->max_memory, std::uint64_t{1} << 30);
  EXPECT_EQ(parse(rec->rlimits), parse(R"({"nofile":77})"));
  const auto n = ctl({"call", "c", R"("nofile")"});
  ASSERT_EQ(n.exit_code, 0) << n.err;
  EXPECT_EQ(n.out, "77\n");
}

// A bad limit in a children file names the worker, the field and the value.
TEST_F(DynmgrdTest, ABadLimitInAChildrenFileIsAUsageError) {
  const std::string children = path("children.json");
  write_file(children, R"({"d": {"exec": ["true"], "rlimits": {"nofile": 2}}})");
  const auto bad = start_raw({"--children", children});
  EXPECT_EQ(bad.exit_code, 2) << bad.out << bad.err;
  EXPECT_NE((bad.out + bad.err).find("'rlimits.nofile': 2 is not in 16..1048576"),
            std::string::npos)
      << bad.out << bad.err;
}

}  // namespace
}  // namespace dynmgr::testing
