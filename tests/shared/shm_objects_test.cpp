// shared/shm_objects.cpp: listing an instance's /dev/shm objects by prefix, and
// finding the reply queues (and bells) whose client is dead — with real queues
// and real (live and exited) processes.

#include "shared/shm_objects.hpp"

#include "shared/process_identity.hpp"
#include "shared/queue.hpp"
#include "shm_fixture.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

namespace dynmgr {
namespace {

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

class ShmObjectsTest : public testing::ShmTest {
 protected:
  void SetUp() override { other_ = Names(testing::unique_instance("ts")); }
  void TearDown() override {
    testing::remove_shm_objects(other_);
    ShmTest::TearDown();
  }

  Queue make(const std::string& name) {
    auto q = Queue::create(name, 2, 128);
    if (!q) throw std::runtime_error(q.error().message);
    return std::move(*q);
  }

  // A plain shared memory object (not a queue), e.g. a leftover.
  static void touch(const std::string& name) {
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << name;
    ::close(fd);
  }

  // The identity of a process that has exited and been reaped.
  ProcessIdentity exited_process() {
    SharedBlock<std::atomic<std::uint64_t>> start;
    const pid_t pid = spawn([&] {
      start->store(process_start_time(::getpid()).value_or(0));
      return 0;
    });
    EXPECT_TRUE(testing::exited_with(testing::wait_child(pid), 0));
    return ProcessIdentity{pid, start->load()};
  }

  template <class T>
  using SharedBlock = testing::SharedBlock<T>;

  Names other_{"unused"};
};

TEST_F(ShmObjectsTest, ListsOnlyObjectsUnderThePrefix) {
  Queue control = make(names_.control(1));
  Queue theirs = make(other_.control(1));
  touch(names_.lock());
  EXPECT_EQ(sorted(list_shm_objects(names_.prefix())),
            sorted({names_.control(1), names_.control(1) + ".bell", names_.lock()}));
  EXPECT_EQ(sorted(list_shm_objects(names_.control(1))),
            sorted({names_.control(1), names_.control(1) + ".bell"}));
  EXPECT_TRUE(list_shm_objects(names_.prefix() + "nothing.").empty());
}

TEST_F(ShmObjectsTest, DeadReplyQueuesAreThoseOfExitedOwnersWithTheirBells) {
  const auto self = ProcessIdentity::self();
  const auto gone = exited_process();
  Queue live = make(names_.reply(self.pid, self.start_time, 0));
  Queue dead = make(names_.reply(gone.pid, gone.start_time, 3));
  // Same pid as a live process, another start time: a reused pid, so dead.
  Queue reused = make(names_.reply(self.pid, self.start_time + 1, 4));
  // A name that does not parse was made by no live client.
  touch(names_.reply_prefix() + "garbage");
  // Another instance's dead client is not ours to report.
  Queue foreign = make(other_.reply(gone.pid, gone.start_time, 3));
  // Not reply queues at all.
  Queue control = make(names_.control(1));

  EXPECT_EQ(sorted(dead_reply_queues(names_)),
            sorted({dead.name(), dead.name() + ".bell", reused.name(), reused.name() + ".bell",
                    names_.reply_prefix() + "garbage"}));
}

TEST_F(ShmObjectsTest, NoReplyQueuesNoneDead) {
  Queue control = make(names_.control(1));
  EXPECT_TRUE(dead_reply_queues(names_).empty());
}

}  // namespace
}  // namespace dynmgr
