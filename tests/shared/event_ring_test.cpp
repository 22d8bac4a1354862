// shared/event_ring.cpp: the event ring `dynmgrctl watch` reads. Numbering,
// wrap-around (a reader that falls behind gets one "missed N" record), a writer
// killed mid-record, a reader woken across processes by the futex, a clean
// stop, adoption (the numbering goes on), stale layouts, and the encodings.
#include "shared/event_ring.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "shared/json.hpp"
#include "shm_fixture.hpp"

namespace dynmgr {
namespace {

using namespace std::chrono_literals;

FleetEvent ev(EventType type, std::string id, pid_t pid = 0) {
  FleetEvent e;
  e.type = type;
  e.id = std::move(id);
  e.pid = pid;
  return e;
}

class EventRingTest : public testing::ShmTest {
 protected:
  EventWriter writer(std::uint32_t capacity = 16) {
    auto w = EventWriter::create(names_, capacity);
    if (!w) throw std::runtime_error(w.error().message);
    return std::move(*w);
  }
  EventReader reader() {
    auto r = EventReader::open(names_);
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(*r);
  }
};

TEST_F(EventRingTest, EventsAreNumberedFromOneAndReadInOrder) {
  auto w = writer();
  auto r = reader();
  EXPECT_EQ(r.next_seq(), 1u);
  EXPECT_EQ(w.publish(ev(EventType::kPut, "a")), 1u);
  EXPECT_EQ(w.publish(ev(EventType::kSpawned, "a", 42)), 2u);
  std::uint64_t cursor = 1;
  auto got = r.read(cursor);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(cursor, 3u);
  EXPECT_EQ(got[0].seq, 1u);
  EXPECT_EQ(got[0].type, EventType::kPut);
  EXPECT_EQ(got[1].type, EventType::kSpawned);
  EXPECT_EQ(got[1].id, "a");
  EXPECT_EQ(got[1].pid, 42);
  EXPECT_GT(got[1].time_ms, 0u);
  EXPECT_TRUE(r.read(cursor).empty());  // nothing new
}

TEST_F(EventRingTest, EveryFieldRoundTrips) {
  auto w = writer();
  FleetEvent x = ev(EventType::kExited, std::string(255, 'i'), 7);
  x.exit.kind = ExitInfo::Kind::kSignaled;
  x.exit.code = 9;
  x.exit.reason = "killed by SIGKILL";
  x.uptime_ms = 1234;
  w.publish(x);
  FleetEvent y = ev(EventType::kRestarting, "b");
  y.delay_ms = 400;
  y.restarts = 3;
  w.publish(y);
  FleetEvent z = ev(EventType::kManager, "");
  z.state = ManagerState::kUp;
  w.publish(z);
  FleetEvent f = ev(EventType::kFailed, "c");
  f.detail = std::string(1000, 'd');  // cut to kEventDetailMax
  w.publish(f);
  std::uint64_t cursor = 1;
  auto got = reader().read(cursor);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].id, std::string(255, 'i'));
  EXPECT_EQ(got[0].exit.kind, ExitInfo::Kind::kSignaled);
  EXPECT_EQ(got[0].exit.code, 9);
  EXPECT_EQ(got[0].exit.reason, "killed by SIGKILL");
  EXPECT_EQ(got[0].uptime_ms, 1234u);
  EXPECT_EQ(got[1].delay_ms, 400u);
  EXPECT_EQ(got[1].restarts, 3u);
  EXPECT_EQ(got[2].state, ManagerState::kUp);
  EXPECT_EQ(got[3].detail, std::string(kEventDetailMax, 'd'));
}

TEST_F(EventRingTest, AReaderThatFellBehindGetsOneMissedRecordThenTheOldestHeld) {
  auto w = writer(16);
  auto r = reader();
  EXPECT_EQ(r.capacity(), 16u);
  for (int i = 0; i < 40; ++i) w.publish(ev(EventType::kPut, "w" + std::to_string(i)));
  std::uint64_t cursor = 1;
  auto got = r.read(cursor);
  ASSERT_EQ(got.size(), 17u);  // missed, then the 16 held
  EXPECT_EQ(got[0].type, EventType::kMissed);
  EXPECT_EQ(got[0].count, 24u);
  EXPECT_EQ(got[1].seq, 25u);
  EXPECT_EQ(got[1].id, "w24");
  EXPECT_EQ(got.back().seq, 40u);
  EXPECT_EQ(cursor, 41u);
  EXPECT_EQ(r.oldest_seq(), 25u);
}

// Found by fuzz/fuzz_event_reader: with a missed record to report, read()
// returned it and the next event even when only one more fitted (max + 1).
TEST_F(EventRingTest, ReadNeverReturnsMoreThanAskedEvenWithAMissedRecord) {
  auto w = writer(16);
  auto r = reader();
  for (int i = 0; i < 40; ++i) w.publish(ev(EventType::kPut, "w" + std::to_string(i)));
  std::uint64_t cursor = 1;
  auto got = r.read(cursor, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, EventType::kMissed);
  EXPECT_EQ(got[0].count, 24u);
  EXPECT_EQ(cursor, 25u);  // the oldest held comes next, not lost
  got = r.read(cursor, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].seq, 25u);
  EXPECT_EQ(got[2].seq, 27u);
  // Behind again, with room for the missed record and one event: both.
  for (int i = 40; i < 80; ++i) w.publish(ev(EventType::kPut, "w" + std::to_string(i)));
  got = r.read(cursor, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type, EventType::kMissed);
  EXPECT_EQ(got[1].seq, 65u);
}

TEST_F(EventRingTest, CapacityIsValidatedAndRoundedUpToAPowerOfTwo) {
  EXPECT_EQ(EventWriter::create(names_, 15).error().code, Errc::kInvalid);
  EXPECT_EQ(EventWriter::create(names_, (1U << 20) + 1).error().code, Errc::kInvalid);
  auto w = writer(100);
  EXPECT_EQ(w.capacity(), 128u);
}

TEST_F(EventRingTest, AnAdoptingWriterGoesOnWithTheNumbering) {
  {
    auto w = writer();
    for (int i = 0; i < 5; ++i) w.publish(ev(EventType::kPut, "a"));
  }  // a crashed supervisor leaves the object behind
  auto again = EventWriter::attach(names_);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->next_seq(), 6u);
  EXPECT_EQ(again->publish(ev(EventType::kAdopted, "a", 9)), 6u);
  std::uint64_t cursor = 1;
  EXPECT_EQ(reader().read(cursor).size(), 6u);
}

TEST_F(EventRingTest, NoRingIsNoSupervisorAndAnotherLayoutIsStale) {
  EXPECT_EQ(EventReader::open(names_).error().code, Errc::kNoSupervisor);
  EXPECT_EQ(EventWriter::attach(names_).error().code, Errc::kNoSupervisor);
  { auto w = writer(); }
  // Overwrite the magic as an older release's ring would differ.
  const int fd = ::open(Names::shm_path(names_.events()).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  const std::uint64_t bogus = 0x1234;
  ASSERT_EQ(::pwrite(fd, &bogus, sizeof bogus, 0), static_cast<ssize_t>(sizeof bogus));
  ::close(fd);
  auto r = EventReader::open(names_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kStale);
  EXPECT_EQ(EventWriter::attach(names_).error().code, Errc::kStale);
  // A new ring replaces it.
  auto w = writer();
  EXPECT_TRUE(EventReader::open(names_));
}

TEST_F(EventRingTest, RemoveNameClosesTheRingForItsReaders) {
  auto w = writer();
  auto r = reader();
  EXPECT_FALSE(r.closed());
  w.publish(ev(EventType::kManager, ""));
  w.remove_name();
  EXPECT_TRUE(r.closed());
  std::uint64_t cursor = 1;
  EXPECT_EQ(r.read(cursor).size(), 1u);  // what was written stays readable
  EXPECT_EQ(EventReader::open(names_).error().code, Errc::kNoSupervisor);
}

TEST_F(EventRingTest, AReplacedRingIsClosedForTheReadersOfTheOldOne) {
  auto w = writer();
  auto r = reader();
  auto w2 = writer();  // a fresh supervisor's ring under the same name
  EXPECT_TRUE(r.closed());
  EXPECT_NE(reader().generation(), r.generation());
}

// A reader in another process sleeps on the futex and wakes at the event: no
// polling. The child reports what it read through its exit code.
TEST_F(EventRingTest, AWaitingReaderInAnotherProcessWakesAtTheEvent) {
  auto w = writer();
  testing::SharedBlock<std::atomic<int>> waiting;
  const pid_t child = spawn([&]() -> int {
    auto r = EventReader::open(names_);
    if (!r) return 10;
    std::uint64_t cursor = r->next_seq();
    waiting->store(1);
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < give_up) {
      r->wait(cursor, 10s);
      auto got = r->read(cursor);
      if (!got.empty()) return got[0].type == EventType::kReady && got[0].id == "x" ? 0 : 11;
    }
    return 12;
  });
  ASSERT_TRUE(testing::wait_until([&] { return waiting->load() == 1; }));
  w.publish(ev(EventType::kReady, "x", 1));
  int status = 0;
  ASSERT_TRUE(
      testing::wait_until([&] { return ::waitpid(child, &status, WNOHANG) == child; }, 20s));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// A writer SIGKILLed in the middle of a record leaves it odd: a reader skips it
// as missed (never shows it torn), and an adopting writer overwrites it.
TEST_F(EventRingTest, ARecordLeftHalfWrittenIsNeverShown) {
  {
    auto w = writer();
    w.publish(ev(EventType::kPut, "a"));
  }
  // Record 2 half-written: its seq word odd, next_seq already 2 (not yet bumped).
  const int fd = ::open(Names::shm_path(names_.events()).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  const std::uint64_t odd = 2 * 2 + 1;
  ASSERT_EQ(::pwrite(fd, &odd, sizeof odd, 4096 + 2 * 576), static_cast<ssize_t>(sizeof odd));
  ::close(fd);
  auto r = reader();
  std::uint64_t cursor = 1;
  auto got = r.read(cursor);
  ASSERT_EQ(got.size(), 1u);  // next_seq is 2: record 2 does not exist yet
  auto w = EventWriter::attach(names_);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->publish(ev(EventType::kSpawned, "a", 5)), 2u);
  got = r.read(cursor);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, EventType::kSpawned);
}

TEST(EventEncoding, JsonHasTheFieldsOfItsTypeOnly) {
  FleetEvent x = ev(EventType::kExited, "a", 7);
  x.seq = 3;
  x.time_ms = 1'796'024'599'924;
  x.exit.kind = ExitInfo::Kind::kSignaled;
  x.exit.code = 9;
  x.exit.reason = "killed by SIGKILL";
  x.uptime_ms = 1025;
  EXPECT_EQ(
      event_json(x),
      R"({"seq":3,"time":"2026-11-30T07:43:19.924Z","time_ms":1796024599924,"event":"exited",)"
      R"("id":"a","pid":7,"exit":{"kind":"signaled","signal":9,"reason":"killed by SIGKILL"},)"
      R"("uptime_ms":1025})");
  EXPECT_EQ(event_text(x),
            "2026-11-30T07:43:19.924Z #3 a exited: killed by SIGKILL (pid 7, up 1.0 s)");
  FleetEvent m = ev(EventType::kManager, "");
  m.seq = 1;
  m.time_ms = x.time_ms;
  m.state = ManagerState::kUp;
  EXPECT_EQ(
      event_json(m),
      R"({"seq":1,"time":"2026-11-30T07:43:19.924Z","time_ms":1796024599924,"event":"manager","state":"up"})");
  EXPECT_EQ(event_text(m), "2026-11-30T07:43:19.924Z #1 manager up");
  FleetEvent missed = ev(EventType::kMissed, "");
  missed.count = 24;
  EXPECT_NE(event_json(missed).find(R"("event":"missed","count":24})"), std::string::npos);
  // Every type has a name and encodes to valid JSON.
  for (std::uint32_t t = 0; t <= static_cast<std::uint32_t>(EventType::kAdopted); ++t) {
    FleetEvent e = ev(static_cast<EventType>(t), "id");
    EXPECT_NE(to_string(e.type), "unknown") << t;
    EXPECT_TRUE(parse_json(event_json(e), "event")) << event_json(e);
  }
}

}  // namespace
}  // namespace dynmgr
