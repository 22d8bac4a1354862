// A full /dev/shm (issue 14): every put, call and verb that needs shared memory
// it cannot get fails with a one-line error, never a SIGBUS in anyone, and
// nothing already stored is lost; once there is room again, everything works.
//
// A real tmpfs, really full: the test runs itself again in a private mount
// namespace (unshare(1), root only) with a 16 MiB tmpfs over /dev/shm, starts
// a real supervisor there and fills what is left with a file.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/ctl_support.hpp"

namespace dynmgr::testing {
namespace {

constexpr const char* kInner = "DYNMGR_FULL_SHM_INNER";
constexpr const char* kFiller = "/dev/shm/dynmgr-test-filler";

// Runs the current test again in a new mount namespace; true in that run.
bool inside_own_dev_shm() {
  if (std::getenv(kInner) != nullptr) {
    // Our own /dev/shm, seen by this process and the ones it starts only.
    if (::mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=16m,mode=1777") != 0) {
      ADD_FAILURE() << "mount tmpfs on /dev/shm: " << std::strerror(errno);
      return false;
    }
    return true;
  }
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  auto r = run_command({"/usr/bin/unshare", "--mount", "--propagation", "private", self,
                        std::string("--gtest_filter=") + info->test_suite_name() + "." +
                            info->name()},
                       {std::string(kInner) + "=1"}, std::chrono::seconds(120));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[  PASSED  ] 1 test"), std::string::npos) << r.out << r.err;
  return false;
}

// Fills /dev/shm to the last block.
void fill_dev_shm() {
  std::ofstream out(kFiller, std::ios::binary);
  const std::string block(4096, '\0');
  while (out.write(block.data(), static_cast<std::streamsize>(block.size()))) {
  }
}

std::size_t free_bytes() {
  struct statvfs st {};
  ::statvfs("/dev/shm", &st);
  return static_cast<std::size_t>(st.f_bavail) * st.f_frsize;
}

TEST(FullShm, PutsAndCallsFailCleanlyAndNothingStoredIsLost) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root: a tmpfs mounted over /dev/shm in a private mount namespace";
  }
  if (::access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "needs unshare(1) (util-linux)";
  if (!inside_own_dev_shm()) return;
  Daemon d("probe", {"--max-workers", "64"}, {}, "fs");
  ASSERT_TRUE(d.ok()) << d.start_result().err;
  Client c = d.client();
  auto a = c.put("a", ChildSpec{});
  ASSERT_TRUE(a) << a.error().message;
  for (const char* id : {"p0", "p1"}) ASSERT_TRUE(c.put_passive(id, ChildSpec{}, false));
  // One that never performs: only a call starts it.
  ChildSpec quiet;
  quiet.timeout_ms = 0;
  ASSERT_TRUE(c.put_passive("z", quiet, false));
  // This client's reply queue exists now; everything after the fill is the
  // supervisor's and the other processes' to find no room for.
  ASSERT_TRUE(c.call("a", "pid"));
  // The passive ones that perform start when their first perform is due.
  ASSERT_TRUE(wait_until(
      [&] {
        for (const char* id : {"p0", "p1"}) {
          auto w = c.get(id);
          if (!w || w->status != WorkerStatus::kRunning) return false;
        }
        return true;
      },
      30s));
  // A second after its last message, a's mailbox gives its message pages
  // back (README "What an id costs"): each mailbox keeps its header and
  // index only.
  auto largest_mailbox = [] {
    std::uint64_t largest = 0;
    for (const auto& f : std::filesystem::directory_iterator("/dev/shm")) {
      const std::string n = f.path().filename();
      if (n.find(".mbox.") == std::string::npos || n.find(".bell") != std::string::npos) continue;
      struct stat st {};
      if (::stat(f.path().c_str(), &st) == 0) {
        largest = std::max<std::uint64_t>(largest, static_cast<std::uint64_t>(st.st_blocks) * 512);
      }
    }
    return largest;
  };
  ASSERT_TRUE(wait_until([&] { return largest_mailbox() <= 8192; }, 20s)) << largest_mailbox();
  fill_dev_shm();
  ASSERT_LT(free_bytes(), 4096u);

  // The fifth id's slot is on a page of the registry no id used yet.
  ChildSpec spec;
  spec.payload = json::value("x");
  auto p3 = c.put_passive("p3", spec, false);
  ASSERT_FALSE(p3);
  EXPECT_EQ(p3.error().code, Errc::kSystem) << p3.error().message;
  EXPECT_NE(p3.error().message.find("no room in /dev/shm for a new registry slot: No space left on device"), std::string::npos)
      << p3.error().message;
  // A live worker needs a mailbox.
  auto b = c.put("b", ChildSpec{});
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("No space left on device"), std::string::npos)
      << b.error().message;
  // A one-shot dynmgrctl cannot make its reply queue: one line, exit 1.
  auto r = d.ctl({"put", "q", "--passive"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  // A cast or call into a mailbox whose pages were given back needs them
  // again: an error to the sender, one line from dynmgrctl, exit 1.
  auto cast = c.cast("a", json::array{"append", 1});
  ASSERT_FALSE(cast);
  EXPECT_NE(cast.error().message.find("no room in /dev/shm for the messages of queue"),
            std::string::npos)
      << cast.error().message;
  r = d.ctl({"cast", "a", R"(["append", 1])"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("no room in /dev/shm for the messages of queue"), std::string::npos)
      << r.err;
  EXPECT_FALSE(c.call("a", "pid"));
  // A passive worker cannot be started without a mailbox: the caller gets
  // why, in one line; the id stays passive, not failed (README "Passivation").
  auto z = c.call("z", "pid");
  ASSERT_FALSE(z);
  EXPECT_NE(z.error().message.find("could not be started"), std::string::npos) << z.error().message;
  EXPECT_NE(z.error().message.find("No space left on device"), std::string::npos)
      << z.error().message;
  r = d.ctl({"call", "z", R"("pid")"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  ASSERT_TRUE(c.get("z"));
  EXPECT_EQ(c.get("z")->status, WorkerStatus::kPassive);
  EXPECT_EQ(c.get("z")->restarts, 0u);
  // What exists goes on: reads.
  r = d.ctl({"get", "p1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto all = c.state();
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->size(), 4u);
  EXPECT_FALSE(c.get("p3"));
  EXPECT_FALSE(c.get("b"));
  EXPECT_TRUE(::kill(d.pid(), 0) == 0) << "the supervisor died";

  // Room again: the same puts work, and the passive ids start when called.
  ASSERT_EQ(::unlink(kFiller), 0);
  ASSERT_TRUE(c.put_passive("p3", spec, false));
  auto b2 = c.put("b", ChildSpec{});
  ASSERT_TRUE(b2) << b2.error().message << "\n" << d.log();
  auto p1 = c.call("p1", "pid");
  ASSERT_TRUE(p1) << p1.error().message;
  EXPECT_GT(p1->as_int64(), 0);
  auto z2 = c.call("z", "pid");
  ASSERT_TRUE(z2) << z2.error().message;
  EXPECT_GT(z2->as_int64(), 0);
  EXPECT_EQ(c.get("z")->restarts, 0u);
  EXPECT_EQ(d.ctl({"put", "q", "--passive"}).exit_code, 0);
  auto pid = c.call("a", "pid");
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_EQ(pid->as_int64(), a->pid);
  EXPECT_EQ(c.get("a")->pid, a->pid);
  EXPECT_EQ(c.get("a")->restarts, 0u);
  EXPECT_EQ(d.log().find("SIGBUS"), std::string::npos) << d.log();
}

}  // namespace
}  // namespace dynmgr::testing
