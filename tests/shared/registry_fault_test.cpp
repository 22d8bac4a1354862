// Fault tests of shared/registry.cpp (DESIGN §4.1-2), with real processes:
//  * readers SIGKILLed at random points while the writer writes: the writer
//    never blocks and later readers read consistent slots;
//  * the writer killed mid-update: committed slots survive, the torn slot is
//    reported (kTorn, in bounded time) and cleared by the next writer;
//  * concurrent readers see every committed update of a slot, in order.

#include "shared/registry.hpp"

#include "shared/process_identity.hpp"

#include "registry_support.hpp"
#include "registry_test_hooks.hpp"
#include "shm_fixture.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <ostream>
#include <thread>
#include <vector>

#ifndef DYNMGR_FAULT_SCALE
#define DYNMGR_FAULT_SCALE 1  // the "slow" build of this file sets 10
#endif

namespace dynmgr {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using testing::check_counter_record;
using testing::counter_record;
using testing::dump_all;
using testing::SharedBlock;
using testing::process_state;
using testing::wait_until;

// Poll interval for the parent's hot waits: short, but asleep in between, so the
// writer and the reader (both CPU-bound) keep the two cores to themselves.
constexpr std::chrono::microseconds kSpin{20};

class RegistryFaultTest : public testing::ShmTest {
 protected:
  static RegistryConfig config(std::uint32_t capacity) {
    RegistryConfig c;
    c.capacity = capacity;
    c.max_payload = 256;
    return c;
  }
};

// ---------------------------------------------------------------- 1. readers killed

struct WriterProgress {
  std::atomic<std::uint64_t> writes{0};
  std::atomic<std::uint64_t> max_write_ns{0};
  std::atomic<int> stop{0};
  std::atomic<int> failed{0};
};

// Updates slots [0, capacity) round-robin with counter records until told to stop.
int writer_loop(RegistryWriter& w, std::uint32_t capacity, WriterProgress& p) {
  for (std::uint64_t n = 1; p.stop.load(std::memory_order_relaxed) == 0; ++n) {
    const auto t0 = steady_clock::now();
    if (!w.write(counter_record(static_cast<std::uint32_t>(n % capacity), n))) {
      p.failed = 1;
      return 1;
    }
    const auto ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(steady_clock::now() - t0).count());
    if (ns > p.max_write_ns.load(std::memory_order_relaxed)) p.max_write_ns.store(ns);
    p.writes.store(n, std::memory_order_release);
  }
  return 0;
}

struct ReaderProgress {
  std::atomic<std::uint64_t> reads{0};
  std::atomic<int> bad{0};
  testing::ChildNote note;
};

// Reads every slot over and over, checking each record; exit 3 on a torn read.
int reader_loop(const Names& names, std::uint32_t capacity, ReaderProgress& p) {
  auto r = RegistryReader::open(names);
  if (!r) {
    p.note.write("open: " + r.error().message);
    return 2;
  }
  for (std::uint64_t i = 0;; ++i) {
    const auto slot = static_cast<std::uint32_t>(i % capacity);
    auto rec = r->read(slot);
    if (!rec) {
      p.bad = 1;
      p.note.write("read slot " + std::to_string(slot) + ": " + rec.error().message);
      return 3;
    }
    if (auto why = check_counter_record(*rec); !why.empty()) {
      p.bad = 1;
      p.note.write(why);
      return 3;
    }
    p.reads.store(i + 1, std::memory_order_release);
  }
}

TEST_F(RegistryFaultTest, ReadersKilledAtRandomPointsNeverBlockTheWriter) {
  auto rng = seeded_rng();
  SCOPED_TRACE(seed_note());
  constexpr std::uint32_t kCapacity = 16;
  const int kills = 1000 * DYNMGR_FAULT_SCALE;
  auto w = RegistryWriter::create(names_, config(kCapacity));
  ASSERT_TRUE(w) << w.error().message;
  for (std::uint32_t i = 0; i < kCapacity; ++i) {
    ASSERT_TRUE(w->allocate());
    ASSERT_TRUE(w->write(counter_record(i, i)));
  }
  const auto objects_before = testing::shm_objects(names_);

  SharedBlock<WriterProgress> wp;
  const pid_t writer = spawn([&] { return writer_loop(*w, kCapacity, *wp); });
  ASSERT_TRUE(wait_until([&] { return wp->writes.load() > 0; }));

  int torn_verdicts = 0;
  for (int i = 0; i < kills; ++i) {
    SharedBlock<ReaderProgress> rp;
    const pid_t reader = spawn([&] { return reader_loop(names_, kCapacity, *rp); });
    // Kill at a random point: after k reads (k = 0 may land in fork or open),
    // plus a random spin so the kill falls at any instruction of a read.
    const std::uint64_t k = rng() % 64;
    ASSERT_TRUE(wait_until([&] { return rp->reads.load() >= k || rp->bad.load() != 0 ||
                                        testing::exited_already(reader); },
                           milliseconds(10000), kSpin))
        << "reader " << i << " made no progress";
    for (std::uint64_t spin = rng() % 20000; spin > 0; --spin) {
      std::atomic_signal_fence(std::memory_order_seq_cst);
    }
    const std::uint64_t writes_at_kill = wp->writes.load();
    const int status = kill_and_reap(reader);
    ASSERT_EQ(rp->bad.load(), 0) << "reader " << i << " read an inconsistent slot: " << rp->note.read();
    if (!WIFSIGNALED(status)) {
      ADD_FAILURE() << "reader " << i << " " << testing::describe_status(status) << " "
                    << rp->note.read();
      ++torn_verdicts;
      break;
    }
    // The writer keeps going: a dead reader holds nothing it could wait on.
    ASSERT_TRUE(wait_until([&] { return wp->writes.load() > writes_at_kill + 16; },
                           milliseconds(5000), kSpin))
        << "writer stalled after reader " << i << " was killed";
  }
  ASSERT_EQ(torn_verdicts, 0);

  // A later reader, while the writer still writes, reads consistent slots.
  {
    SharedBlock<ReaderProgress> rp;
    const pid_t reader = spawn([&] { return reader_loop(names_, kCapacity, *rp); });
    ASSERT_TRUE(wait_until([&] { return rp->reads.load() >= 20000 || rp->bad.load() != 0; }));
    kill_and_reap(reader);
    EXPECT_EQ(rp->bad.load(), 0) << rp->note.read();
  }
  wp->stop = 1;
  const int ws = testing::wait_child(writer, milliseconds(10000));
  ASSERT_TRUE(testing::exited_with(ws, 0)) << testing::describe_status(ws);
  EXPECT_EQ(wp->failed.load(), 0);

  // And after it stopped: every slot intact, nothing left behind in /dev/shm.
  auto r = RegistryReader::open(names_);
  ASSERT_TRUE(r) << r.error().message;
  auto snap = r->snapshot();
  ASSERT_TRUE(snap) << snap.error().message;
  ASSERT_EQ(snap->size(), kCapacity);
  for (const auto& rec : *snap) EXPECT_EQ(check_counter_record(rec), "");
  EXPECT_EQ(testing::shm_objects(names_), objects_before);
  std::cout << "[ stats    ] " << kills << " readers killed; writer made " << wp->writes.load()
            << " updates, slowest " << wp->max_write_ns.load() / 1000 << " us\n";
}

// ---------------------------------------------------------------- 1b. writer preempted

TEST_F(RegistryFaultTest, AWriterStoppedMidUpdateIsWaitedForNotReportedTorn) {
  // SIGSTOP freezes the writer at a random instruction — often mid-update, as a
  // preemption on a loaded machine would. A reader must wait for it, not call
  // the slot torn (kTorn is for dead writers only).
  auto rng = seeded_rng();
  SCOPED_TRACE(seed_note());
  constexpr std::uint32_t kCapacity = 4;
  const int rounds = 150 * DYNMGR_FAULT_SCALE;
  auto w = RegistryWriter::create(names_, config(kCapacity));
  ASSERT_TRUE(w) << w.error().message;
  for (std::uint32_t i = 0; i < kCapacity; ++i) {
    ASSERT_TRUE(w->allocate());
    ASSERT_TRUE(w->write(counter_record(i, i)));
  }
  SharedBlock<WriterProgress> wp;
  const pid_t writer = spawn([&] { return writer_loop(*w, kCapacity, *wp); });
  int waited = 0;
  for (int round = 0; round < rounds; ++round) {
    const std::uint64_t at = wp->writes.load();
    ASSERT_TRUE(wait_until([&] { return wp->writes.load() > at + rng() % 50; }, milliseconds(5000), kSpin));
    ::kill(writer, SIGSTOP);
    ASSERT_TRUE(wait_until([&] { return process_state(writer) == 'T'; }));
    SharedBlock<ReaderProgress> rp;
    const pid_t reader = spawn([&]() -> int {
      auto r = RegistryReader::open(names_);
      if (!r) return 2;
      for (std::uint32_t i = 0; i < kCapacity; ++i) {
        auto rec = r->read(i);
        if (!rec) {
          rp->note.write(rec.error().message);
          return 3;
        }
        if (auto why = check_counter_record(*rec); !why.empty()) {
          rp->note.write(why);
          return 4;
        }
      }
      return 0;
    });
    // Either the reader finishes (the writer stopped between updates) or it
    // settles down to wait for the writer (asleep): then let the writer go on.
    bool reader_waited = false;
    ASSERT_TRUE(wait_until([&] {
      if (testing::exited_already(reader)) return true;
      reader_waited = process_state(reader) == 'S';
      return reader_waited;
    }));
    ::kill(writer, SIGCONT);
    const int rs = testing::wait_child(reader, milliseconds(10000));
    ASSERT_TRUE(testing::exited_with(rs, 0))
        << "round " << round << ": reader " << testing::describe_status(rs) << " " << rp->note.read();
    waited += reader_waited ? 1 : 0;
  }
  wp->stop = 1;
  EXPECT_TRUE(testing::exited_with(testing::wait_child(writer, milliseconds(10000)), 0));
  std::cout << "[ stats    ] " << rounds << " stops, the reader had to wait for the writer " << waited
            << " times\n";
}

// ---------------------------------------------------------------- 1b. writer killed anywhere

// The writer SIGKILLed at random points of a write loop (most land inside a
// write: the loop does nothing else). Each next writer attaches as a
// successor supervisor does: it finds no torn slot (a change killed after its
// journal was complete is finished, one killed before never began), every slot
// is a whole record, and no write the killed writer returned from is lost.
TEST_F(RegistryFaultTest, AWriterKilledAnywhereLeavesNoTornSlotAndLosesNoFinishedWrite) {
  auto rng = seeded_rng();
  SCOPED_TRACE(seed_note());
  constexpr std::uint32_t kCapacity = 4;
  const int rounds = 100 * DYNMGR_FAULT_SCALE;
  {
    auto w = RegistryWriter::create(names_, config(kCapacity));
    ASSERT_TRUE(w) << w.error().message;
    for (std::uint32_t i = 0; i < kCapacity; ++i) {
      ASSERT_TRUE(w->allocate());
      ASSERT_TRUE(w->write(counter_record(i, i)));
    }
  }
  std::uint64_t next = kCapacity;  // the next counter to write
  int finished = 0;
  for (int round = 0; round < rounds; ++round) {
    SharedBlock<WriterProgress> wp;
    wp->writes = next - 1;
    const std::uint64_t from = next;
    const pid_t writer = spawn([&]() -> int {
      auto w = RegistryWriter::attach(names_);
      if (!w || !w->torn_slots().empty()) return 2;
      for (std::uint64_t n = from;; ++n) {
        if (!w->write(counter_record(static_cast<std::uint32_t>(n % kCapacity), n))) return 1;
        wp->writes.store(n, std::memory_order_release);
      }
    });
    const std::uint64_t at = wp->writes.load();
    ASSERT_TRUE(wait_until([&] { return wp->writes.load() > at + 1 + rng() % 200; },
                           milliseconds(10000), kSpin))
        << "round " << round;
    ASSERT_TRUE(WIFSIGNALED(kill_and_reap(writer)));
    const std::uint64_t acked = wp->writes.load();
    auto w = RegistryWriter::attach(names_);
    ASSERT_TRUE(w) << w.error().message;
    EXPECT_TRUE(w->torn_slots().empty()) << "round " << round;
    finished += w->finished_slot() ? 1 : 0;
    for (std::uint32_t i = 0; i < kCapacity; ++i) {
      auto rec = w->read(i);
      ASSERT_TRUE(rec) << "round " << round << " slot " << i << ": " << rec.error().message;
      std::uint64_t n = 0;
      ASSERT_EQ(check_counter_record(*rec, &n), "") << "round " << round;
      // The slot's last finished write, or the one in flight after it.
      std::uint64_t last = acked;
      while (last % kCapacity != i) --last;
      EXPECT_TRUE(n == last || n == last + kCapacity)
          << "round " << round << " slot " << i << " holds " << n << ", last finished " << last;
      next = std::max(next, n + 1);
    }
    next = std::max(next, acked + 1);
  }
  std::cout << "[ stats    ] " << rounds << " kills, " << finished
            << " left a change the next writer finished\n";
}

#if DYNMGR_FAULT_SCALE == 1  // the slow build runs only the loops

// ---------------------------------------------------------------- 2. writer killed mid-update

struct WriterScript {
  std::atomic<int> phase{0};  // 1 committed, 2 go (parent), 3 mid-update
};

struct TornCase {
  const char* label;
  bool sigkill;                       // else the writer _exits mid-update
  std::vector<std::uint32_t> torn;    // slots left mid-update
  friend void PrintTo(const TornCase& c, std::ostream* os) { *os << '"' << c.label << '"'; }
};

class RegistryWriterKilled : public RegistryFaultTest,
                             public ::testing::WithParamInterface<TornCase> {};

TEST_P(RegistryWriterKilled, CommittedSlotsSurviveAndTheTornSlotIsReportedAndCleared) {
  const auto& c = GetParam();
  constexpr std::uint32_t kSlots = 8;
  SharedBlock<WriterScript> script;
  const pid_t writer = spawn([&]() -> int {
    auto w = RegistryWriter::create(names_, config(16));
    if (!w) return 1;
    for (std::uint32_t i = 0; i < kSlots; ++i) {
      if (!w->allocate() || !w->write(counter_record(i, 100 + i))) return 2;
    }
    script->phase = 1;
    if (!wait_until([&] { return script->phase.load() == 2; }, milliseconds(30000))) return 3;
    for (auto slot : c.torn) RegistryTestHooks::begin_update(*w, slot);
    script->phase = 3;
    if (!c.sigkill) ::_exit(0);  // dies mid-update, without any cleanup
    for (;;) ::pause();
  });
  ASSERT_TRUE(wait_until([&] { return script->phase.load() == 1; }));

  // A reader that was attached while the writer lived.
  auto r = RegistryReader::open(names_);
  ASSERT_TRUE(r) << r.error().message;
  auto before = r->snapshot();
  ASSERT_TRUE(before);
  ASSERT_EQ(before->size(), kSlots);
  script->phase = 2;
  ASSERT_TRUE(wait_until([&] { return script->phase.load() == 3; }));
  const int status = c.sigkill ? kill_and_reap(writer) : testing::wait_child(writer);
  ASSERT_TRUE(c.sigkill ? WIFSIGNALED(status) : testing::exited_with(status, 0))
      << testing::describe_status(status);

  // The attached reader: kTorn for the torn slot in bounded time (decided in a
  // child so a spinning read fails the test instead of hanging it), the others intact.
  struct Verdict {
    std::atomic<int> errc[kSlots];
    std::atomic<long> torn_us{0};
    std::atomic<int> snapshot_errc{-1};
  };
  SharedBlock<Verdict> v;
  const pid_t probe = spawn([&] {
    for (std::uint32_t i = 0; i < kSlots; ++i) {
      const auto t0 = steady_clock::now();
      auto rec = r->read(i);
      const long us = static_cast<long>(
          std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - t0).count());
      v->errc[i] = rec ? 0 : static_cast<int>(rec.error().code);
      if (!rec) v->torn_us = std::max(v->torn_us.load(), us);
      if (rec && !check_counter_record(*rec).empty()) v->errc[i] = -2;
    }
    auto snap = r->snapshot();
    v->snapshot_errc = snap ? 0 : static_cast<int>(snap.error().code);
    return 0;
  });
  const int ps = testing::wait_child(probe, milliseconds(10000));
  ASSERT_TRUE(testing::exited_with(ps, 0)) << testing::describe_status(ps) << " (9 = the read hung)";
  for (std::uint32_t i = 0; i < kSlots; ++i) {
    const bool torn = std::find(c.torn.begin(), c.torn.end(), i) != c.torn.end();
    EXPECT_EQ(v->errc[i].load(), torn ? static_cast<int>(Errc::kTorn) : 0) << "slot " << i;
  }
  EXPECT_LT(v->torn_us.load(), 2'000'000) << "a torn read took too long to give up";
  EXPECT_EQ(v->snapshot_errc.load(), static_cast<int>(Errc::kTorn));

  // New readers are told there is no supervisor — at once, never waiting.
  auto late = RegistryReader::open(names_);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, Errc::kNoSupervisor);

  // A new writer attaches: torn slots are reported and cleared, the rest intact.
  auto w = RegistryWriter::attach(names_);
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->torn_slots(), c.torn);
  w->set_supervisor(::getpid(), ProcessIdentity::self().start_time);
  EXPECT_EQ(w->header().used, kSlots - c.torn.size());
  auto r2 = RegistryReader::open(names_);
  ASSERT_TRUE(r2) << r2.error().message;
  std::vector<SlotRecord> expect_after;
  for (const auto& rec : *before) {
    if (std::find(c.torn.begin(), c.torn.end(), rec.slot) == c.torn.end()) expect_after.push_back(rec);
  }
  auto after = r2->snapshot();
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(dump_all(*after), dump_all(expect_after));
  for (auto slot : c.torn) {
    auto rec = r2->read(slot);
    ASSERT_FALSE(rec);
    EXPECT_EQ(rec.error().code, Errc::kNotFound) << "torn slot " << slot << " not cleared";
  }
  // The cleared slots are reused first, and work.
  for (auto slot : c.torn) {
    auto s = w->allocate();
    ASSERT_TRUE(s);
    EXPECT_EQ(*s, slot);
    ASSERT_TRUE(w->write(counter_record(*s, 999)));
    EXPECT_EQ(r2->read(*s)->value, "999");
  }
  // The old reader sees the repaired slots too.
  for (auto slot : c.torn) EXPECT_TRUE(r->read(slot)) << slot;
}

INSTANTIATE_TEST_SUITE_P(
    Registry, RegistryWriterKilled,
    ::testing::Values(TornCase{"sigkill_one_slot", true, {5}}, TornCase{"exit_one_slot", false, {0}},
                      TornCase{"sigkill_two_slots", true, {2, 7}}),
    [](const auto& tp) { return std::string(tp.param.label); });

#endif  // DYNMGR_FAULT_SCALE == 1

// ---------------------------------------------------------------- 7. concurrent readers

struct OrderState {
  std::atomic<std::uint64_t> committed{0};  // last value the writer committed
  std::atomic<std::uint64_t> last{0};       // the final value, once the writer is done
  std::atomic<std::uint64_t> seen[4];       // last value each reader saw
  std::atomic<std::uint64_t> distinct[4];   // how many different values each saw
  testing::ChildNote note;
};

// Reads slot 0 until it has seen the writer's final value: values never go
// backwards and every record is consistent; with `lockstep`, no value may be
// skipped either.
int order_reader(const Names& names, int idx, bool lockstep, OrderState& st) {
  auto r = RegistryReader::open(names);
  if (!r) {
    st.note.write(r.error().message);
    return 1;
  }
  std::uint64_t prev = 0;
  const auto deadline = steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    const std::uint64_t last = st.last.load(std::memory_order_acquire);
    if (last != 0 && prev >= last) break;
    if (steady_clock::now() > deadline) {
      st.note.write("reader " + std::to_string(idx) + " timed out at " + std::to_string(prev));
      return 2;
    }
    auto rec = r->read(0);
    if (!rec) {
      st.note.write(rec.error().message);
      return 3;
    }
    std::uint64_t n = 0;
    if (auto why = check_counter_record(*rec, &n); !why.empty()) {
      st.note.write(why);
      return 4;
    }
    if (n < prev) {
      st.note.write("reader " + std::to_string(idx) + " went backwards: " + std::to_string(prev) +
                    " then " + std::to_string(n));
      return 5;
    }
    if (lockstep && n > prev + 1) {
      st.note.write("reader " + std::to_string(idx) + " skipped from " + std::to_string(prev) +
                    " to " + std::to_string(n));
      return 6;
    }
    if (n != prev) {
      st.distinct[idx].fetch_add(1);
      prev = n;
      st.seen[idx].store(n, std::memory_order_release);
    }
    if (lockstep) std::this_thread::yield();
  }
  return 0;
}

struct OrderCase {
  const char* label;
  bool lockstep;  // the writer waits for every reader to see each update
  std::uint64_t updates;
  friend void PrintTo(const OrderCase& c, std::ostream* os) { *os << '"' << c.label << '"'; }
};

class RegistryConcurrentReaders : public RegistryFaultTest,
                                  public ::testing::WithParamInterface<OrderCase> {};

TEST_P(RegistryConcurrentReaders, SeeEveryCommittedUpdateInOrder) {
  const auto& c = GetParam();
  constexpr int kReaders = 3;
  auto w = RegistryWriter::create(names_, config(4));
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE(w->allocate());
  ASSERT_TRUE(w->write(counter_record(0, 0)));
  SharedBlock<OrderState> st;
  std::vector<pid_t> readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.push_back(spawn([&, i] { return order_reader(names_, i, c.lockstep, *st); }));
  }
  // The full-speed writer stops at c.updates or after a few seconds (sanitizer
  // builds are slow), whichever comes first.
  const pid_t writer = spawn([&]() -> int {
    const auto stop_at = steady_clock::now() + std::chrono::seconds(3 * DYNMGR_FAULT_SCALE);
    std::uint64_t n = 1;
    for (; n <= c.updates; ++n) {
      if (!c.lockstep && (n & 1023) == 0 && steady_clock::now() > stop_at) break;
      if (!w->write(counter_record(0, n))) return 1;
      st->committed.store(n, std::memory_order_release);
      if (c.lockstep) {
        const bool all_saw = wait_until(
            [&] {
              for (int i = 0; i < kReaders; ++i) {
                if (st->seen[i].load(std::memory_order_acquire) < n) return false;
              }
              return true;
            },
            milliseconds(10000), std::chrono::microseconds(20));
        if (!all_saw) return 2;
      }
    }
    st->last.store(n - 1, std::memory_order_release);
    return 0;
  });
  const int ws = testing::wait_child(writer, milliseconds(60000));
  EXPECT_TRUE(testing::exited_with(ws, 0)) << "writer " << testing::describe_status(ws) << " "
                                           << st->note.read();
  for (int i = 0; i < kReaders; ++i) {
    const int rs = testing::wait_child(readers[static_cast<std::size_t>(i)], milliseconds(60000));
    EXPECT_TRUE(testing::exited_with(rs, 0))
        << "reader " << i << " " << testing::describe_status(rs) << " " << st->note.read();
    EXPECT_EQ(st->seen[i].load(), st->last.load()) << "reader " << i;
    if (c.lockstep) {
      EXPECT_EQ(st->distinct[i].load(), c.updates) << "reader " << i << " missed updates";
    } else {
      EXPECT_GT(st->distinct[i].load(), 1U) << "reader " << i << " saw no progress";
    }
  }
  std::cout << "[ stats    ] " << st->last.load() << " updates; distinct values seen per reader:";
  for (int i = 0; i < kReaders; ++i) std::cout << ' ' << st->distinct[i].load();
  std::cout << '\n';
}

INSTANTIATE_TEST_SUITE_P(
    Registry, RegistryConcurrentReaders,
    ::testing::Values(OrderCase{"full_speed", false, 300'000ULL * DYNMGR_FAULT_SCALE},
                      OrderCase{"lockstep", true, 2'000ULL * DYNMGR_FAULT_SCALE}),
    [](const auto& tp) { return std::string(tp.param.label); });

}  // namespace
}  // namespace dynmgr
