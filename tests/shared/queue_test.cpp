// shared/queue.cpp: the framed queue — round trips in one process and across
// fork, size limits that name the limit, monotonic deadlines, and torn or
// foreign frames that are dropped and counted. Dead queues and stale objects
// are in queue_fault_test.cpp.

#include "shared/queue.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/interprocess/ipc/message_queue.hpp>
#include <chrono>
#include <string>

#include "shared/queue_impl.hpp"
#include "shm_fixture.hpp"

namespace dynmgr {

// A queue's bell, reached the way only its owner's code reaches it.
struct QueueTestHooks {
  static Bell* bell(Queue& q) { return q.impl_->bell; }
};

namespace {

namespace bip = boost::interprocess;
using testing::SharedBlock;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Wall-clock slack allowed on a deadline: one wait slice plus scheduling noise
// (sanitizer builds on a loaded 2-core machine are slow).
constexpr milliseconds kSlack{400};

class QueueTest : public testing::ShmTest {
 protected:
  std::string qname(std::uint64_t generation = 1) const { return names_.control(generation); }
  Queue make(std::uint32_t depth = 8, std::uint32_t msg_size = 256, std::uint64_t gen = 1) {
    auto q = Queue::create(qname(gen), depth, msg_size);
    if (!q) throw std::runtime_error(q.error().message);
    return std::move(*q);
  }
  static Frame frame(std::uint64_t id, std::string body = "{}",
                     MessageKind kind = MessageKind::kCast) {
    return Frame{kind, id, std::move(body)};
  }
  // Writes raw bytes into the queue the way a foreign or dying sender would.
  void raw_send(const std::string& bytes, std::uint64_t gen = 1) {
    bip::message_queue mq(bip::open_only, qname(gen).c_str());
    mq.send(bytes.data(), bytes.size(), 0);
  }
};

TEST_F(QueueTest, SendReceiveRoundTrip) {
  Queue q = make();
  EXPECT_EQ(q.name(), qname());
  EXPECT_EQ(q.max_msg_size(), 256U);
  EXPECT_EQ(q.max_body_size(), 256U - kFrameHeaderSize);
  EXPECT_FALSE(q.dead());
  ASSERT_TRUE(q.send(frame(7, R"({"hello":"world"})", MessageKind::kCall), Deadline::after(milliseconds(1000))));
  EXPECT_EQ(q.pending(), 1U);
  auto f = q.receive(Deadline::after(milliseconds(1000)));
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->kind, MessageKind::kCall);
  EXPECT_EQ(f->request_id, 7U);
  EXPECT_EQ(f->body, R"({"hello":"world"})");
  EXPECT_EQ(q.pending(), 0U);
  EXPECT_EQ(q.dropped(), 0U);
}

TEST_F(QueueTest, OpenSharesTheQueueAndLearnsItsSize) {
  Queue owner = make(4, 512);
  auto peer = Queue::open(qname());
  ASSERT_TRUE(peer) << peer.error().message;
  EXPECT_EQ(peer->max_msg_size(), 512U);
  ASSERT_TRUE(peer->send(frame(1, "[1]"), Deadline::after(milliseconds(1000))));
  auto f = owner.receive(Deadline::after(milliseconds(1000)));
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->body, "[1]");
}

TEST_F(QueueTest, FifoOrderAtEqualPriority) {
  Queue q = make(16);
  for (std::uint64_t i = 0; i < 16; ++i) {
    ASSERT_TRUE(q.send(frame(i, std::to_string(i)), Deadline::after(milliseconds(1000))));
  }
  for (std::uint64_t i = 0; i < 16; ++i) {
    auto f = q.try_receive();
    ASSERT_TRUE(f);
    ASSERT_TRUE(f->has_value());
    EXPECT_EQ((*f)->request_id, i);
    EXPECT_EQ((*f)->body, std::to_string(i));
  }
}

TEST_F(QueueTest, HigherPriorityFirst) {
  Queue q = make();
  ASSERT_TRUE(q.send(frame(1), Deadline::after(milliseconds(100)), 0));
  ASSERT_TRUE(q.send(frame(2), Deadline::after(milliseconds(100)), 5));
  EXPECT_EQ(q.receive(Deadline::after(milliseconds(100)))->request_id, 2U);
  EXPECT_EQ(q.receive(Deadline::after(milliseconds(100)))->request_id, 1U);
}

TEST_F(QueueTest, RoundTripAcrossProcesses) {
  Queue requests = make(8, 256, 1);
  Queue replies = make(8, 256, 2);
  const pid_t echo = spawn([&] {
    auto in = Queue::open(qname(1));
    auto out = Queue::open(qname(2));
    if (!in || !out) return 1;
    for (int i = 0; i < 100; ++i) {
      auto f = in->receive(Deadline::after(milliseconds(10000)));
      if (!f) return 2;
      f->kind = MessageKind::kReply;
      f->body = "[" + f->body + "]";
      if (!out->send(*f, Deadline::after(milliseconds(10000)))) return 3;
    }
    return 0;
  });
  for (std::uint64_t i = 0; i < 100; ++i) {
    ASSERT_TRUE(requests.send(frame(i, std::to_string(i * i)), Deadline::after(milliseconds(10000))));
    auto f = replies.receive(Deadline::after(milliseconds(10000)));
    ASSERT_TRUE(f) << f.error().message;
    EXPECT_EQ(f->kind, MessageKind::kReply);
    EXPECT_EQ(f->request_id, i);
    EXPECT_EQ(f->body, "[" + std::to_string(i * i) + "]");
  }
  const int status = testing::wait_child(echo, std::chrono::seconds(10));
  EXPECT_TRUE(testing::exited_with(status, 0)) << testing::describe_status(status);
}

// ---------------------------------------------------------------- limits

TEST_F(QueueTest, TooLargeNamesTheLimitAndSendsNothing) {
  Queue q = make(4, 256);
  const std::uint32_t limit = q.max_body_size();
  ASSERT_EQ(limit, 256U - kFrameHeaderSize);
  auto st = q.send(frame(1, std::string(limit + 1, 'x')), Deadline::after(milliseconds(100)));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kTooLarge);
  EXPECT_NE(st.error().message.find("message of " + std::to_string(limit + 1) + " bytes"),
            std::string::npos)
      << st.error().message;
  EXPECT_NE(st.error().message.find("limit of " + std::to_string(limit) + " bytes"),
            std::string::npos)
      << st.error().message;
  EXPECT_EQ(q.pending(), 0U);
  EXPECT_FALSE(q.dead());  // a caller error, not a dead queue

  // Exactly the limit fits.
  ASSERT_TRUE(q.send(frame(2, std::string(limit, 'y')), Deadline::after(milliseconds(100))));
  auto f = q.receive(Deadline::after(milliseconds(100)));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->body.size(), limit);
}

// ---------------------------------------------------------------- deadlines

TEST_F(QueueTest, ReceiveTimeoutIsHonoured) {
  Queue q = make();
  for (auto wait : {milliseconds(0), milliseconds(30), milliseconds(120), milliseconds(300)}) {
    const auto t0 = steady_clock::now();
    auto f = q.receive(Deadline::after(wait));
    const auto took = steady_clock::now() - t0;
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().code, Errc::kTimeout);
    EXPECT_GE(took, wait);
    EXPECT_LT(took, wait + kSlack) << "receive overran its deadline of " << wait.count() << " ms";
  }
}

TEST_F(QueueTest, ReceiveWakesWhenAMessageArrives) {
  Queue q = make();
  SharedBlock<std::atomic<int>> go;
  const pid_t sender = spawn([&] {
    auto peer = Queue::open(qname());
    if (!peer) return 1;
    if (!testing::wait_until([&] { return go->load() != 0; })) return 2;
    return peer->send(frame(5), Deadline::after(milliseconds(1000))) ? 0 : 3;
  });
  go->store(1);
  const auto t0 = steady_clock::now();
  auto f = q.receive(Deadline::after(milliseconds(10000)));
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_LT(steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(f->request_id, 5U);
  EXPECT_TRUE(testing::exited_with(testing::wait_child(sender), 0));
}

TEST_F(QueueTest, SendTimesOutWhileFull) {
  Queue q = make(2);
  ASSERT_TRUE(q.send(frame(1), Deadline::after(milliseconds(100))));
  ASSERT_TRUE(q.send(frame(2), Deadline::after(milliseconds(100))));
  const auto t0 = steady_clock::now();
  auto st = q.send(frame(3), Deadline::after(milliseconds(150)));
  const auto took = steady_clock::now() - t0;
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kTimeout);
  EXPECT_GE(took, milliseconds(150));
  EXPECT_LT(took, milliseconds(150) + kSlack);
  EXPECT_EQ(q.pending(), 2U);
  // Draining one makes room again.
  ASSERT_TRUE(q.try_receive());
  EXPECT_TRUE(q.send(frame(4), Deadline::after(milliseconds(100))));
}

TEST_F(QueueTest, TryReceiveOnEmptyReturnsNothingAtOnce) {
  Queue q = make();
  const auto t0 = steady_clock::now();
  auto f = q.try_receive();
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_FALSE(f->has_value());
  EXPECT_LT(steady_clock::now() - t0, milliseconds(100));
}

// ---------------------------------------------------------------- torn and foreign frames

struct BadFrameCase {
  const char* label;
  std::function<std::string()> bytes;
  friend void PrintTo(const BadFrameCase& c, std::ostream* os) { *os << '"' << c.label << '"'; }
};

std::string valid_bytes(std::uint64_t id, const std::string& body) {
  std::string out;
  encode_frame(Frame{MessageKind::kCast, id, body}, out);
  return out;
}

const BadFrameCase kBadFrames[] = {
    {"empty", [] { return std::string(); }},
    {"foreign_text", [] { return std::string("hello from someone else"); }},
    {"header_only_prefix", [] { return valid_bytes(9, "abcdef").substr(0, 10); }},
    {"torn_body",
     [] {
       std::string s = valid_bytes(9, std::string(100, 'b'));
       std::memset(&s[60], 0, s.size() - 60);
       return s;
     }},
    {"short_by_one", [] { std::string s = valid_bytes(9, "[1,2,3]"); s.pop_back(); return s; }},
    {"bad_magic", [] { std::string s = valid_bytes(9, "{}"); s[1] = 'X'; return s; }},
    {"future_version", [] { std::string s = valid_bytes(9, "{}"); s[4] = 9; return s; }},
};

class QueueBadFrame : public QueueTest, public ::testing::WithParamInterface<BadFrameCase> {};

TEST_P(QueueBadFrame, IsDroppedCountedAndTheNextValidFrameReturned) {
  Queue q = make(8, 256);
  // receive(): bad, bad, good
  raw_send(GetParam().bytes());
  raw_send(GetParam().bytes());
  raw_send(valid_bytes(42, R"("next")"));
  auto f = q.receive(Deadline::after(milliseconds(1000)));
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->request_id, 42U);
  EXPECT_EQ(f->body, R"("next")");
  EXPECT_EQ(q.dropped(), 2U);

  // try_receive(): bad, good
  raw_send(GetParam().bytes());
  raw_send(valid_bytes(43, "[]"));
  auto g = q.try_receive();
  ASSERT_TRUE(g) << g.error().message;
  ASSERT_TRUE(g->has_value());
  EXPECT_EQ((*g)->request_id, 43U);
  EXPECT_EQ(q.dropped(), 3U);

  // Only bad frames: dropped, then the wait goes on until the deadline.
  raw_send(GetParam().bytes());
  auto none = q.receive(Deadline::after(milliseconds(50)));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::kTimeout);
  EXPECT_EQ(q.dropped(), 4U);
  raw_send(GetParam().bytes());
  auto empty = q.try_receive();
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->has_value());
  EXPECT_EQ(q.dropped(), 5U);
  EXPECT_FALSE(q.dead());
}

INSTANTIATE_TEST_SUITE_P(Queue, QueueBadFrame, ::testing::ValuesIn(kBadFrames),
                         [](const auto& tp) { return std::string(tp.param.label); });

// ---------------------------------------------------------------- names

TEST_F(QueueTest, OpenMissingIsNotFound) {
  auto q = Queue::open(qname(99));
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, Errc::kNotFound);
}

TEST_F(QueueTest, CreateReplacesAnExistingQueue) {
  Queue old = make(4, 256);
  ASSERT_TRUE(old.send(frame(1), Deadline::after(milliseconds(100))));
  Queue fresh = make(4, 512);
  EXPECT_EQ(fresh.pending(), 0U);
  EXPECT_EQ(fresh.max_msg_size(), 512U);
  auto peer = Queue::open(qname());
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->max_msg_size(), 512U);
}

TEST_F(QueueTest, RemoveUnlinksTheName) {
  Queue q = make();
  Queue::remove(qname());
  EXPECT_TRUE(testing::shm_objects(names_).empty());
  EXPECT_EQ(Queue::open(qname()).error().code, Errc::kNotFound);
  Queue::remove(qname());  // removing twice is harmless
  // The open handle still works on the unlinked object.
  ASSERT_TRUE(q.send(frame(1), Deadline::after(milliseconds(100))));
  EXPECT_TRUE(q.try_receive());
}

TEST_F(QueueTest, SignalsAreNotBlockedAfterAnOperation) {
  Queue q = make();
  sigset_t before;
  sigset_t after;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &before);
  ASSERT_TRUE(q.send(frame(1), Deadline::after(milliseconds(100))));
  (void)q.receive(Deadline::after(milliseconds(100)));
  (void)q.receive(Deadline::after(milliseconds(10)));
  (void)q.try_receive();
  ::pthread_sigmask(SIG_SETMASK, nullptr, &after);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
    EXPECT_EQ(sigismember(&before, sig), sigismember(&after, sig)) << "signal " << sig;
  }
}

}  // namespace
}  // namespace dynmgr

namespace dynmgr {
namespace {

// ---------------------------------------------------------------- pages on demand
// Mailboxes (Queue::Pages::kOnDemand; README "What an id costs"): the message
// pages are allocated by a send that finds them released and given back by
// the receiver once the queue is empty, never under a send in flight.

using testing::describe_status;
using testing::exited_with;
using testing::wait_child;

std::uint64_t allocated_bytes(const std::string& name) {
  struct stat st {};
  if (::stat(("/dev/shm/" + name).c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

class QueuePages : public QueueTest {
 protected:
  // 16 messages of 8 KiB: 128 KiB of message pages, a few KiB of header and index.
  Queue make_lean() {
    auto q = Queue::create(qname(), 16, 8192, Queue::Pages::kOnDemand);
    if (!q) throw std::runtime_error(q.error().message);
    return std::move(*q);
  }
  static constexpr std::uint64_t kHeaderPages = 8 * 1024;
  static std::string body(std::uint64_t i, std::size_t size) {
    std::string b = "\"" + std::to_string(i) + ":";
    b.resize(size - 1, static_cast<char>('a' + i % 26));
    return b + "\"";
  }
};

TEST_F(QueuePages, AreTakenByASendAndGivenBackOnceTheQueueIsEmpty) {
  Queue q = make_lean();
  const std::uint64_t whole = q.segment_bytes();
  EXPECT_TRUE(q.pages_on_demand());
  EXPECT_LE(allocated_bytes(qname()), kHeaderPages) << "created with its message pages released";
  auto sender = Queue::open(qname());
  ASSERT_TRUE(sender) << sender.error().message;
  EXPECT_TRUE(sender->pages_on_demand());
  ASSERT_TRUE(sender->send(frame(1, body(1, 6000)), Deadline::after(milliseconds(5000))));
  EXPECT_GE(allocated_bytes(qname()), whole);
  // Not while a message waits in it.
  ASSERT_TRUE(q.release_pages());
  EXPECT_GE(allocated_bytes(qname()), whole);
  auto f = q.receive(Deadline::after(milliseconds(5000)));
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->body, body(1, 6000));
  ASSERT_TRUE(q.release_pages());
  EXPECT_LE(allocated_bytes(qname()), kHeaderPages);
  // Every slot used after a release: each message arrives whole.
  for (std::uint64_t i = 0; i < 16; ++i) {
    ASSERT_TRUE(sender->send(frame(i, body(i, 8000)), Deadline::after(milliseconds(5000))));
  }
  for (std::uint64_t i = 0; i < 16; ++i) {
    auto g = q.receive(Deadline::after(milliseconds(5000)));
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(g->request_id, i);
    EXPECT_EQ(g->body, body(i, 8000));
  }
  ASSERT_TRUE(q.release_pages());
  EXPECT_LE(allocated_bytes(qname()), kHeaderPages);
  EXPECT_EQ(q.dropped(), 0u);
}

TEST_F(QueuePages, AReleaseBetweenEveryReceiveLosesNothingASenderProcessSends) {
  Queue q = make_lean();
  constexpr std::uint64_t kCount = 3000;
  const pid_t sender = spawn([&] {
    auto out = Queue::open(qname());
    if (!out) return 1;
    for (std::uint64_t i = 0; i < kCount; ++i) {
      if (!out->send(frame(i, body(i, 100 + (i * 977) % 7900)),
                     Deadline::after(milliseconds(20000)))) {
        return 2;
      }
    }
    return 0;
  });
  for (std::uint64_t i = 0; i < kCount; ++i) {
    auto f = q.receive(Deadline::after(milliseconds(20000)));
    ASSERT_TRUE(f) << i << ": " << f.error().message;
    ASSERT_EQ(f->request_id, i);
    ASSERT_EQ(f->body, body(i, 100 + (i * 977) % 7900));
    ASSERT_TRUE(q.release_pages());
  }
  const int status = wait_child(sender, std::chrono::seconds(20));
  EXPECT_TRUE(exited_with(status, 0)) << describe_status(status);
  EXPECT_EQ(q.dropped(), 0u);
}

TEST_F(QueuePages, AProcessKilledHoldingThePagesLockCostsTheNextSenderNothing) {
  Queue q = make_lean();
  const pid_t holder = spawn([&] {
    auto mine = Queue::open(qname());
    if (!mine) return 1;
    if (::pthread_mutex_lock(&QueueTestHooks::bell(*mine)->pages_lock) != 0) return 2;
    ::raise(SIGKILL);  // dies holding it
    return 3;
  });
  const int status = wait_child(holder, std::chrono::seconds(10));
  ASSERT_TRUE(WIFSIGNALED(status)) << describe_status(status);
  auto sender = Queue::open(qname());
  ASSERT_TRUE(sender) << sender.error().message;
  ASSERT_TRUE(sender->send(frame(7, body(7, 3000)), Deadline::after(milliseconds(5000))));
  auto f = q.receive(Deadline::after(milliseconds(5000)));
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->body, body(7, 3000));
  ASSERT_TRUE(q.release_pages());
  EXPECT_LE(allocated_bytes(qname()), kHeaderPages);
}

TEST_F(QueuePages, OtherQueuesKeepTheirPages) {
  Queue q = make(16, 8192);
  EXPECT_FALSE(q.pages_on_demand());
  EXPECT_GE(allocated_bytes(qname()), q.segment_bytes());
  ASSERT_TRUE(q.release_pages());
  EXPECT_GE(allocated_bytes(qname()), q.segment_bytes());
}

}  // namespace
}  // namespace dynmgr
