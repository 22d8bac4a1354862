// DESIGN §4.6: every shared object dynmgr creates (registry, queues, lock file)
// is mode 0600 and owned by the creating uid, whatever the umask — Boost's
// default would be 0644, a permissive umask must not widen it and a strict one
// must not make it unusable for its owner.

#include "shared/instance_lock.hpp"
#include "shared/queue.hpp"
#include "shared/registry.hpp"

#include "shm_fixture.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

namespace dynmgr {
namespace {

// Sets the process umask for the scope of the object.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t m) : old_(::umask(m)) {}
  ~ScopedUmask() { ::umask(old_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t old_;
};

class ShmPermissions : public testing::ShmTest, public ::testing::WithParamInterface<mode_t> {
 protected:
  void expect_owner_only(const std::string& object) {
    struct stat st{};
    ASSERT_EQ(::stat(Names::shm_path(object).c_str(), &st), 0) << object;
    EXPECT_EQ(st.st_mode & 07777, 0600U) << object << " has mode 0" << std::oct << (st.st_mode & 07777);
    EXPECT_EQ(st.st_uid, ::getuid()) << object;
    EXPECT_TRUE(S_ISREG(st.st_mode)) << object;
  }
};

TEST_P(ShmPermissions, EveryObjectIsOwnerOnly) {
  ScopedUmask mask(GetParam());
  auto lock = InstanceLock::acquire(names_);
  ASSERT_TRUE(lock) << lock.error().message;
  RegistryConfig cfg;
  cfg.capacity = 4;
  cfg.max_payload = 128;
  auto reg = RegistryWriter::create(names_, cfg);
  ASSERT_TRUE(reg) << reg.error().message;
  auto control = Queue::create(names_.control(1), 4, 256);
  ASSERT_TRUE(control) << control.error().message;
  auto mailbox = Queue::create(names_.mailbox(0, 1), 4, 256);
  ASSERT_TRUE(mailbox) << mailbox.error().message;
  auto reply = Queue::create(names_.reply(::getpid(), 1, 0), 4, 256);
  ASSERT_TRUE(reply) << reply.error().message;

  // Opening as a reader or peer must not change anything either.
  ASSERT_TRUE(RegistryReader::open(names_));
  ASSERT_TRUE(WorkerWords::open(names_, 0, 4, 4096));
  ASSERT_TRUE(Queue::open(names_.control(1)));

  const auto objects = testing::shm_objects(names_);
  std::set<std::string> expected = {names_.lock(), names_.registry(), names_.words()};
  for (const std::string& q : {names_.control(1), names_.mailbox(0, 1), names_.reply(::getpid(), 1, 0)}) {
    expected.insert(q);
    expected.insert(q + ".bell");  // the queue's wake-up semaphores (queue.cpp)
  }
  EXPECT_EQ(std::set<std::string>(objects.begin(), objects.end()), expected);
  for (const auto& o : objects) expect_owner_only(o);
}

TEST_P(ShmPermissions, ReplacingAPermissiveObjectNarrowsIt) {
  ScopedUmask mask(GetParam());
  // Someone left world-readable objects under our names.
  for (const std::string& name : {names_.registry(), names_.control(1), names_.control(1) + ".bell"}) {
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT, 0666);
    ASSERT_GE(fd, 0);
    ::fchmod(fd, 0666);
    ::close(fd);
  }
  {
    const int fd = ::open(Names::shm_path(names_.lock()).c_str(), O_RDWR | O_CREAT, 0666);
    ASSERT_GE(fd, 0);
    ::fchmod(fd, 0666);
    ::close(fd);
  }
  auto lock = InstanceLock::acquire(names_);
  ASSERT_TRUE(lock) << lock.error().message;
  RegistryConfig cfg;
  cfg.capacity = 4;
  cfg.max_payload = 128;
  ASSERT_TRUE(RegistryWriter::create(names_, cfg));
  ASSERT_TRUE(Queue::create(names_.control(1), 4, 256));
  for (const auto& o : testing::shm_objects(names_)) expect_owner_only(o);
}

INSTANTIATE_TEST_SUITE_P(Umask, ShmPermissions, ::testing::Values(mode_t{0}, mode_t{077}, mode_t{022}),
                         [](const auto& tp) {
                           return "umask_0" + std::to_string(tp.param >> 6 & 7) +
                                  std::to_string(tp.param >> 3 & 7) + std::to_string(tp.param & 7);
                         });

}  // namespace
}  // namespace dynmgr
