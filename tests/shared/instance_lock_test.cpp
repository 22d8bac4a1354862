// shared/instance_lock.cpp: one supervisor per instance name, enforced by flock(2)
// — checked with real processes, including a holder killed with SIGKILL.

#include "shared/instance_lock.hpp"

#include "shm_fixture.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

namespace dynmgr {
namespace {

using testing::SharedBlock;
using testing::wait_until;

class InstanceLockTest : public testing::ShmTest {
 protected:
  std::string lock_path() const { return Names::shm_path(names_.lock()); }
  bool lock_file_exists() const {
    struct stat st{};
    return ::stat(lock_path().c_str(), &st) == 0;
  }
};

struct HolderFlags {
  std::atomic<int> acquired{0};  // 1 holding, -1 failed
  std::atomic<int> release{0};   // parent asks the holder to release cleanly
};

TEST_F(InstanceLockTest, AcquireCreatesTheLockAndHeldReportsIt) {
  EXPECT_FALSE(InstanceLock::held(names_));
  auto lock = InstanceLock::acquire(names_);
  ASSERT_TRUE(lock) << lock.error().message;
  EXPECT_TRUE(lock_file_exists());
  EXPECT_TRUE(InstanceLock::held(names_));
}

TEST_F(InstanceLockTest, SecondAcquireInTheSameProcessIsRefused) {
  auto first = InstanceLock::acquire(names_);
  ASSERT_TRUE(first) << first.error().message;
  auto second = InstanceLock::acquire(names_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Errc::kAlreadyRunning);
}

TEST_F(InstanceLockTest, SecondAcquireFromAnotherProcessIsAlreadyRunning) {
  auto lock = InstanceLock::acquire(names_);
  ASSERT_TRUE(lock) << lock.error().message;
  SharedBlock<testing::ChildNote> note;
  const pid_t pid = spawn([&] {
    auto other = InstanceLock::acquire(names_);
    if (other) return 1;
    note->write(other.error().message);
    if (other.error().code != Errc::kAlreadyRunning) return 2;
    return InstanceLock::held(names_) ? 0 : 3;
  });
  const int status = testing::wait_child(pid, std::chrono::seconds(10));
  EXPECT_TRUE(testing::exited_with(status, 0)) << testing::describe_status(status);
  const std::string msg = note->read();
  EXPECT_NE(msg.find("already running"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'" + names_.instance() + "'"), std::string::npos) << msg;
}

TEST_F(InstanceLockTest, LockIsReleasedWhenTheHolderIsKilled) {
  SharedBlock<HolderFlags> flags;
  const pid_t holder = spawn([&] {
    auto lock = InstanceLock::acquire(names_);
    flags->acquired.store(lock ? 1 : -1);
    if (!lock) return 1;
    for (;;) ::pause();  // held until SIGKILL
  });
  ASSERT_TRUE(wait_until([&] { return flags->acquired.load() != 0; }));
  ASSERT_EQ(flags->acquired.load(), 1);

  auto refused = InstanceLock::acquire(names_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kAlreadyRunning);
  EXPECT_TRUE(InstanceLock::held(names_));

  const int status = kill_and_reap(holder);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << testing::describe_status(status);

  // The kernel dropped the lock with the process; the stale file is simply reused.
  EXPECT_TRUE(lock_file_exists());
  EXPECT_FALSE(InstanceLock::held(names_));
  auto lock = InstanceLock::acquire(names_);
  EXPECT_TRUE(lock) << lock.error().message;
}

TEST_F(InstanceLockTest, ReleaseAndRemoveRemovesTheFile) {
  auto lock = InstanceLock::acquire(names_);
  ASSERT_TRUE(lock) << lock.error().message;
  ASSERT_TRUE(lock_file_exists());
  lock->release_and_remove();
  EXPECT_FALSE(lock_file_exists());
  EXPECT_FALSE(InstanceLock::held(names_));
  lock->release_and_remove();  // idempotent
  auto again = InstanceLock::acquire(names_);
  EXPECT_TRUE(again) << again.error().message;
  EXPECT_TRUE(lock_file_exists());
}

TEST_F(InstanceLockTest, ReleaseAndRemoveInOneProcessLetsAnotherAcquire) {
  SharedBlock<HolderFlags> flags;
  const pid_t holder = spawn([&] {
    auto lock = InstanceLock::acquire(names_);
    flags->acquired.store(lock ? 1 : -1);
    if (!lock) return 1;
    if (!wait_until([&] { return flags->release.load() != 0; }, std::chrono::seconds(30))) return 2;
    lock->release_and_remove();
    return 0;
  });
  ASSERT_TRUE(wait_until([&] { return flags->acquired.load() != 0; }));
  ASSERT_EQ(flags->acquired.load(), 1);
  EXPECT_FALSE(InstanceLock::acquire(names_));
  flags->release.store(1);
  const int status = testing::wait_child(holder, std::chrono::seconds(10));
  EXPECT_TRUE(testing::exited_with(status, 0)) << testing::describe_status(status);
  EXPECT_FALSE(lock_file_exists());
  auto lock = InstanceLock::acquire(names_);
  EXPECT_TRUE(lock) << lock.error().message;
}

TEST_F(InstanceLockTest, MovedFromLockDoesNotRelease) {
  auto lock = InstanceLock::acquire(names_);
  ASSERT_TRUE(lock) << lock.error().message;
  {
    InstanceLock moved = std::move(*lock);
    EXPECT_TRUE(InstanceLock::held(names_));
    lock->release_and_remove();  // moved-from: a no-op
    EXPECT_TRUE(lock_file_exists());
    EXPECT_TRUE(InstanceLock::held(names_));
  }
  // `moved` was destroyed: the lock is free again, the file stays.
  EXPECT_FALSE(InstanceLock::held(names_));
  EXPECT_TRUE(lock_file_exists());
}

TEST_F(InstanceLockTest, DifferentInstancesDoNotConflict) {
  const Names other(testing::unique_instance("tso"));
  auto a = InstanceLock::acquire(names_);
  auto b = InstanceLock::acquire(other);
  EXPECT_TRUE(a) << a.error().message;
  EXPECT_TRUE(b) << b.error().message;
  testing::remove_shm_objects(other);
}

}  // namespace
}  // namespace dynmgr
