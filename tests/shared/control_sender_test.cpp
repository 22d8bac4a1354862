// shared/control_sender.cpp: the reconnecting control-queue sender of clients,
// workers and the supervisor's child watcher (DESIGN §5: a dead queue is
// reopened under the next generation, never retried; deadlines are monotonic).
// Real queues; the "supervisor" is the test, publishing generations by hand.

#include "shared/control_sender.hpp"

#include "dead_queue.hpp"
#include "shm_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace dynmgr {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

class ControlSenderTest : public testing::ShmTest {
 protected:
  ControlSender make_sender() {
    return ControlSender(names_, [this] { return published_; });
  }
  // Creates generation `gen` and publishes it, as the supervisor does.
  Queue publish(std::uint64_t gen, std::uint32_t depth = 4) {
    auto q = Queue::create(names_.control(gen), depth, 256);
    if (!q) throw std::runtime_error(q.error().message);
    published_ = gen;
    return std::move(*q);
  }
  static Frame frame(std::uint64_t id) { return Frame{MessageKind::kPing, id, "{}"}; }
  static std::uint64_t next_id(Queue& q) {
    auto f = q.receive(Deadline::after(milliseconds(1000)));
    return f ? f->request_id : 0;
  }
  bool kill(const Queue& q) {
    return testing::kill_queue_mutex(q.name(), [&](auto fn) { return spawn(fn); });
  }

  std::uint64_t published_ = 1;
};

TEST_F(ControlSenderTest, TrySendOpensThePublishedGenerationAndKeepsIt) {
  Queue control = publish(1);
  ControlSender s = make_sender();
  EXPECT_EQ(s.generation(), 0U);
  ASSERT_TRUE(s.try_send(frame(1), Deadline::now()));
  ASSERT_TRUE(s.try_send(frame(2), Deadline::now()));
  EXPECT_EQ(s.generation(), 1U);
  EXPECT_EQ(next_id(control), 1U);
  EXPECT_EQ(next_id(control), 2U);
}

TEST_F(ControlSenderTest, FollowsANewGeneration) {
  Queue first = publish(1);
  ControlSender s = make_sender();
  ASSERT_TRUE(s.try_send(frame(1), Deadline::now()));
  Queue second = publish(2);
  ASSERT_TRUE(s.try_send(frame(2), Deadline::now()));
  EXPECT_EQ(s.generation(), 2U);
  EXPECT_EQ(next_id(first), 1U);
  EXPECT_EQ(next_id(second), 2U);
  EXPECT_EQ(first.pending(), 0U) << "nothing more went to the old generation";
}

TEST_F(ControlSenderTest, TrySendReportsAMissingQueueWithoutWaiting) {
  ControlSender s = make_sender();  // generation 1 was never created
  auto st = s.try_send(frame(1), Deadline::after(milliseconds(5000)));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kNotFound) << st.error().message;
}

TEST_F(ControlSenderTest, TrySendOnAFullQueueIsTimeoutAtOnce) {
  Queue control = publish(1, /*depth=*/1);
  ControlSender s = make_sender();
  ASSERT_TRUE(s.try_send(frame(1), Deadline::now()));
  const auto t0 = steady_clock::now();
  auto st = s.try_send(frame(2), Deadline::now());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kTimeout);
  EXPECT_LT(steady_clock::now() - t0, milliseconds(500));
}

TEST_F(ControlSenderTest, SendOnAFullQueueReturnsTheTimeoutWithoutAskingToKeepTrying) {
  Queue control = publish(1, /*depth=*/1);
  ControlSender s = make_sender();
  ASSERT_TRUE(s.try_send(frame(1), Deadline::now()));
  int asked = 0;
  auto st = s.send(frame(2), Deadline::after(milliseconds(100)), milliseconds(2), [&]() -> Status {
    ++asked;
    return {};
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kTimeout);
  EXPECT_EQ(asked, 0);
}

TEST_F(ControlSenderTest, SendWaitsForTheQueueToAppear) {
  ControlSender s = make_sender();
  std::optional<Queue> control;
  int asked = 0;
  // The "supervisor" creates the queue while the sender polls.
  auto st =
      s.send(frame(5), Deadline::after(milliseconds(10000)), milliseconds(1), [&]() -> Status {
        if (++asked == 3) control.emplace(publish(1));
        return {};
      });
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(asked, 3);
  EXPECT_EQ(next_id(*control), 5U);
}

TEST_F(ControlSenderTest, SendMovesToTheNextGenerationWhenTheQueueDies) {
  Queue first = publish(1);
  ControlSender s = make_sender();
  ASSERT_TRUE(s.try_send(frame(1), Deadline::now()));
  ASSERT_TRUE(kill(first));
  std::optional<Queue> second;
  int asked = 0;
  auto st =
      s.send(frame(2), Deadline::after(milliseconds(10000)), milliseconds(1), [&]() -> Status {
        // Asked after the dead send; the supervisor recreates the queue.
        if (++asked == 1) second.emplace(publish(2));
        return {};
      });
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(s.generation(), 2U);
  EXPECT_EQ(next_id(*second), 2U);
}

TEST_F(ControlSenderTest, TrySendOnADeadQueueIsDeadQueueAndTheNextGenerationWorks) {
  Queue first = publish(1);
  ControlSender s = make_sender();
  ASSERT_TRUE(s.try_send(frame(1), Deadline::now()));
  ASSERT_TRUE(kill(first));
  auto st = s.try_send(frame(2), Deadline::now());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kDeadQueue);
  Queue second = publish(2);
  ASSERT_TRUE(s.try_send(frame(3), Deadline::now()));
  EXPECT_EQ(next_id(second), 3U);
}

TEST_F(ControlSenderTest, SendEndsWithTheErrorOfKeepTrying) {
  ControlSender s = make_sender();  // no queue, ever
  int asked = 0;
  auto st =
      s.send(frame(1), Deadline::after(milliseconds(10000)), milliseconds(1), [&]() -> Status {
        if (++asked < 2) return {};
        return make_error(Errc::kNoSupervisor, "gone");
      });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kNoSupervisor);
  EXPECT_EQ(asked, 2);
}

TEST_F(ControlSenderTest, SendGivesUpAtTheDeadline) {
  ControlSender s = make_sender();  // no queue, ever
  const auto t0 = steady_clock::now();
  auto st = s.send(frame(1), Deadline::after(milliseconds(60)), milliseconds(5), {});
  const auto took = steady_clock::now() - t0;
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kTimeout);
  EXPECT_NE(st.error().message.find("stayed unusable"), std::string::npos) << st.error().message;
  EXPECT_GE(took, milliseconds(60));
  EXPECT_LT(took, milliseconds(2000));
}

TEST_F(ControlSenderTest, CloseReopensOnTheNextAttempt) {
  Queue control = publish(1);
  ControlSender s = make_sender();
  ASSERT_TRUE(s.try_send(frame(1), Deadline::now()));
  s.close();
  EXPECT_EQ(s.generation(), 0U);
  ASSERT_TRUE(s.try_send(frame(2), Deadline::now()));
  EXPECT_EQ(s.generation(), 1U);
  EXPECT_EQ(next_id(control), 1U);
  EXPECT_EQ(next_id(control), 2U);
}

}  // namespace
}  // namespace dynmgr
