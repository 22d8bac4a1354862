// shared/reply_cache.cpp: an LRU of open reply queues, limited to this
// instance's reply queues; dead entries are reopened. Real queues throughout.

#include "shared/reply_cache.hpp"

#include "dead_queue.hpp"
#include "shm_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>

namespace dynmgr {
namespace {

using std::chrono::milliseconds;

class ReplyCacheTest : public testing::ShmTest {
 protected:
  Queue make(const std::string& name) {
    auto q = Queue::create(name, 4, 128);
    if (!q) throw std::runtime_error(q.error().message);
    return std::move(*q);
  }
  std::string reply(std::uint32_t serial) const { return names_.reply(::getpid(), 1, serial); }
  static Frame frame(std::uint64_t id) { return Frame{MessageKind::kReply, id, "{}"}; }
};

TEST_F(ReplyCacheTest, OpensOnceAndDeliversToTheOwner) {
  Queue owner = make(reply(1));
  ReplyCache cache(names_, 4);
  Queue* q = cache.get(reply(1));
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->name(), reply(1));
  EXPECT_EQ(cache.get(reply(1)), q) << "a hit reuses the open handle";
  EXPECT_EQ(cache.size(), 1U);
  ASSERT_TRUE(q->send(frame(7), Deadline::after(milliseconds(1000))));
  auto f = owner.receive(Deadline::after(milliseconds(1000)));
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->request_id, 7U);
}

TEST_F(ReplyCacheTest, OpensNothingButThisInstancesReplyQueues) {
  const Names other(testing::unique_instance("ts"));
  Queue control = make(names_.control(1));
  Queue theirs = make(other.reply(::getpid(), 1, 1));
  ReplyCache cache(names_, 4);
  EXPECT_EQ(cache.get(names_.control(1)), nullptr);
  EXPECT_EQ(cache.get(theirs.name()), nullptr);
  EXPECT_EQ(cache.get(names_.reply_prefix()), nullptr) << "absent";
  EXPECT_EQ(cache.get(reply(9)), nullptr) << "absent";
  EXPECT_EQ(cache.size(), 0U);
  testing::remove_shm_objects(other);
}

TEST_F(ReplyCacheTest, EvictsTheLeastRecentlyUsed) {
  Queue a = make(reply(1));
  Queue b = make(reply(2));
  Queue c = make(reply(3));
  ReplyCache cache(names_, 2);
  ASSERT_NE(cache.get(reply(1)), nullptr);
  ASSERT_NE(cache.get(reply(2)), nullptr);
  ASSERT_NE(cache.get(reply(1)), nullptr);  // b is now the least recently used
  ASSERT_NE(cache.get(reply(3)), nullptr);
  EXPECT_EQ(cache.size(), 2U);
  // Remove every name: only what is still cached can be returned.
  for (int i = 1; i <= 3; ++i) Queue::remove(reply(static_cast<std::uint32_t>(i)));
  EXPECT_NE(cache.get(reply(1)), nullptr);
  EXPECT_NE(cache.get(reply(3)), nullptr);
  EXPECT_EQ(cache.get(reply(2)), nullptr) << "b was evicted";
}

// Whether this process maps the shared memory object `name`.
bool mapped(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  const std::string path = Names::shm_path(name);
  for (std::string line; std::getline(maps, line);) {
    if (line.size() >= path.size() &&
        line.compare(line.size() - path.size(), path.size(), path) == 0) {
      return true;
    }
  }
  return false;
}

// The queue a get() evicts stays mapped until close_evicted(): unmapping it is
// kept off the path of the reply being sent. A caller that never calls
// close_evicted() holds back at most one: the next get() closes it.
TEST_F(ReplyCacheTest, AnEvictedQueueIsClosedAfterTheSend) {
  Queue a = make(reply(1));
  Queue b = make(reply(2));
  Queue c = make(reply(3));
  ReplyCache cache(names_, 1);
  ASSERT_NE(cache.get(reply(1)), nullptr);
  Queue* q = cache.get(reply(2));  // evicts a
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(cache.size(), 1U);
  // Our own handles map each queue once; the cache's handle is the second.
  a = make(reply(11));  // drop our handle on a (and make another object)
  EXPECT_TRUE(mapped(reply(1))) << "still mapped while the reply is sent";
  ASSERT_TRUE(q->send(frame(5), Deadline::after(milliseconds(1000))));
  cache.close_evicted();
  EXPECT_FALSE(mapped(reply(1))) << "closed after the send";
  b = make(reply(12));
  ASSERT_NE(cache.get(reply(3)), nullptr);  // evicts b; no close_evicted()
  EXPECT_TRUE(mapped(reply(2)));
  ASSERT_NE(cache.get(reply(1)), nullptr) << "reopened";  // closes b first, then evicts c
  EXPECT_FALSE(mapped(reply(2)));
  EXPECT_EQ(cache.size(), 1U);
}

TEST_F(ReplyCacheTest, DropForgetsTheQueue) {
  Queue a = make(reply(1));
  ReplyCache cache(names_, 4);
  ASSERT_NE(cache.get(reply(1)), nullptr);
  cache.drop(reply(1));
  cache.drop(reply(5));  // not cached: nothing happens
  EXPECT_EQ(cache.size(), 0U);
  Queue::remove(reply(1));
  EXPECT_EQ(cache.get(reply(1)), nullptr);
}

TEST_F(ReplyCacheTest, ADeadQueueIsReplacedByTheRecreatedOne) {
  Queue owner = make(reply(1));
  ReplyCache cache(names_, 4);
  Queue* q = cache.get(reply(1));
  ASSERT_NE(q, nullptr);
  ASSERT_TRUE(testing::kill_queue_mutex(reply(1), [&](auto fn) { return spawn(fn); }));
  ASSERT_FALSE(q->send(frame(1), Deadline::after(milliseconds(1000))));
  ASSERT_TRUE(q->dead());
  // Its client recreates the queue under the same name; the cache reopens it.
  Queue fresh = make(reply(1));
  Queue* again = cache.get(reply(1));
  ASSERT_NE(again, nullptr);
  EXPECT_FALSE(again->dead());
  EXPECT_EQ(cache.size(), 1U);
  ASSERT_TRUE(again->send(frame(2), Deadline::after(milliseconds(1000))));
  auto f = fresh.receive(Deadline::after(milliseconds(1000)));
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->request_id, 2U);
}

}  // namespace
}  // namespace dynmgr
