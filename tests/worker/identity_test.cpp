// worker/identity.*: the drop to DYNMGR_WORKER_USER, in forked children of the
// test (a drop cannot be undone in the test process itself). Needs root.
#include "worker/identity.hpp"

#include <grp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "shared/names.hpp"
#include "shared/queue.hpp"
#include "shared/run_as.hpp"
#include "support/test_support.hpp"

namespace dynmgr {
namespace {

using testing::fork_child;
using testing::unique_instance;
using testing::wait_child;

// Exit codes of the child: 0 as expected, else the step that was not.
int drop_in_child(const Names& names, const char* env, bool expect_ok) {
  if (env != nullptr) ::setenv(kRunAsEnv, env, 1);
  ControlSender control(names, [] { return std::uint64_t{1}; });
  const Status st = drop_worker_identity(control);
  if (std::getenv(kRunAsEnv) != nullptr) return 10;  // always removed
  if (static_cast<bool>(st) != expect_ok) return 11;
  if (!expect_ok) return ::geteuid() == 0 ? 0 : 12;  // a failed drop changed nothing
  uid_t r = 0, e = 0, s = 0;
  gid_t gr = 0, ge = 0, gs = 0;
  ::getresuid(&r, &e, &s);
  ::getresgid(&gr, &ge, &gs);
  if (r != 65534 || e != 65534 || s != 65534) return 13;
  if (gr != 65534 || ge != 65534 || gs != 65534) return 14;
  gid_t groups[8];
  if (::getgroups(8, groups) != 1 || groups[0] != 65534) return 15;
  if (::setuid(0) == 0) return 16;
  // The control queue was opened before the drop, and stays open.
  return control.generation() == 1 ? 0 : 17;
}

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "dropping to another user needs root";
  }
  void TearDown() override { Queue::remove(names_.control(1)); }
  Names names_{unique_instance("id")};
};

TEST_F(IdentityTest, NoVariableIsNothingToDo) {
  const pid_t pid = fork_child([&] {
    ::unsetenv(kRunAsEnv);
    ControlSender control(names_, [] { return std::uint64_t{1}; });
    return drop_worker_identity(control) && ::geteuid() == 0 ? 0 : 1;
  });
  EXPECT_EQ(wait_child(pid), 0);
}

TEST_F(IdentityTest, DropsToTheIdsAfterOpeningTheControlQueue) {
  ASSERT_TRUE(Queue::create(names_.control(1), 4, 1024));
  const pid_t pid = fork_child([&] { return drop_in_child(names_, "65534:65534", true); });
  EXPECT_EQ(wait_child(pid), 0);
}

// Without a control queue to open first, the drop fails and changes nothing:
// the worker exits as a start failure with this reason.
TEST_F(IdentityTest, NoControlQueueFailsBeforeAnyChange) {
  const pid_t pid = fork_child([&] { return drop_in_child(names_, "65534:65534", false); });
  EXPECT_EQ(wait_child(pid), 0);
}

TEST_F(IdentityTest, AMalformedVariableFails) {
  ASSERT_TRUE(Queue::create(names_.control(1), 4, 1024));
  for (const char* bad : {"", "65534", "x:1", "1:", "1:2:3", "-1:5"}) {
    const pid_t pid = fork_child([&] { return drop_in_child(names_, bad, false); });
    EXPECT_EQ(wait_child(pid), 0) << bad;
  }
}

}  // namespace
}  // namespace dynmgr
