// supervisor/outbox.cpp against real queues: one try per send, a full queue's
// frames retried in order by flush() until their deadline, a missing queue
// refused at once. The loop relies on it never waiting.

#include "shared/names.hpp"
#include "shared/queue.hpp"
#include "supervisor/outbox.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace dynmgr {
namespace {

using testing::unique_instance;
using namespace std::chrono_literals;

class OutboxTest : public ::testing::Test {
 protected:
  OutboxTest() : names_(unique_instance("tob")) {}
  void TearDown() override { testing::remove_shm_objects(names_); }

  std::string reply_name(int serial) const { return names_.reply(::getpid(), 1, serial); }
  Queue make(const std::string& name, std::uint32_t depth) {
    auto q = Queue::create(name, depth, 512);
    EXPECT_TRUE(q) << q.error().message;
    return std::move(*q);
  }
  static Frame frame(std::uint64_t n) { return Frame{MessageKind::kReply, n, "{}"}; }

  Names names_;
};

TEST_F(OutboxTest, SendsAtOnceWhenThereIsRoom) {
  Queue q = make(reply_name(1), 2);
  Outbox out(names_);
  EXPECT_EQ(out.send(q.name(), frame(1), Deadline::after(1s)), Outbox::Sent::kNow);
  auto got = q.try_receive();
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->request_id, 1u);
  EXPECT_EQ(out.waiting(), 0u);
  EXPECT_TRUE(out.next_retry().is_never());
}

TEST_F(OutboxTest, AFullQueueNeverBlocksAndKeepsItsOrder) {
  Queue q = make(reply_name(2), 1);
  Outbox out(names_);
  ASSERT_EQ(out.send(q.name(), frame(1), Deadline::after(10s)), Outbox::Sent::kNow);
  const auto t0 = std::chrono::steady_clock::now();
  // The queue is full: both wait, and the send returns without waiting for room.
  EXPECT_EQ(out.send(q.name(), frame(2), Deadline::after(10s)), Outbox::Sent::kLater);
  EXPECT_EQ(out.send(q.name(), frame(3), Deadline::after(10s)), Outbox::Sent::kLater);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);  // generous: a wait would be the 10 s deadline
  EXPECT_EQ(out.waiting(), 2u);
  EXPECT_FALSE(out.next_retry().is_never());
  out.flush();  // still full: nothing moves
  EXPECT_EQ(out.waiting(), 2u);
  for (std::uint64_t want = 1; want <= 3; ++want) {
    auto got = q.try_receive();
    ASSERT_TRUE(got && *got) << want;
    EXPECT_EQ((*got)->request_id, want);
    out.flush();  // room for one: the next in order goes in
  }
  EXPECT_EQ(out.waiting(), 0u);
}

TEST_F(OutboxTest, AFrameThatCannotGoInBeforeItsDeadlineIsDropped) {
  Queue q = make(reply_name(3), 1);
  Outbox out(names_);
  ASSERT_EQ(out.send(q.name(), frame(1), Deadline::after(10s)), Outbox::Sent::kNow);
  ASSERT_EQ(out.send(q.name(), frame(2), Deadline::after(1ms)), Outbox::Sent::kLater);
  ASSERT_TRUE(testing::wait_until([&] {
    out.flush();
    return out.waiting() == 0;
  }, 5000ms));
  auto got = q.try_receive();
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->request_id, 1u);
  auto none = q.try_receive();
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none) << "the expired frame was delivered";
}

TEST_F(OutboxTest, AMissingQueueIsRefusedAtOnce) {
  Outbox out(names_);
  EXPECT_EQ(out.send(reply_name(4), frame(1), Deadline::after(10s)), Outbox::Sent::kNever);
  EXPECT_EQ(out.send(names_.mailbox(0, 1), frame(1), Deadline::after(10s)), Outbox::Sent::kNever);
  EXPECT_EQ(out.waiting(), 0u);
}

TEST_F(OutboxTest, AMailboxCanBeSentToAndForgotten) {
  Queue q = make(names_.mailbox(3, 9), 4);
  Outbox out(names_);
  EXPECT_EQ(out.send(q.name(), frame(1), Deadline::after(1s), 1), Outbox::Sent::kNow);
  out.forget(q.name());
  Queue::remove(q.name());
  EXPECT_EQ(out.send(q.name(), frame(2), Deadline::after(1s)), Outbox::Sent::kNever);
}

}  // namespace
}  // namespace dynmgr
