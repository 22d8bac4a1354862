// Pool pickup strategies (shared/pool.cpp pick_worker), row by row:
//   hashring  stable for a message, spreads messages, busy or not; only
//             running members count; removing a member moves only its messages
//   random    only free (running, not busy) members; covers every free one
//   stream    the first free member in slot order
//   none free -> kNoFreeWorker; not a pool -> kNotPool
#include "shared/pool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace dynmgr {
namespace {

SlotRecord member(std::uint32_t slot, bool busy = false,
                  WorkerStatus status = WorkerStatus::kRunning, bool pool = true) {
  SlotRecord r;
  r.slot = slot;
  r.id = "pool-" + std::to_string(slot + 1);
  r.status = status;
  r.pool = pool;
  r.busy_since_ms = busy ? 1'700'000'000'000ULL : 0;
  r.timeout_ms = 0;
  return r;
}

std::vector<SlotRecord> free_members(std::uint32_t n) {
  std::vector<SlotRecord> v;
  for (std::uint32_t i = 0; i < n; ++i) v.push_back(member(i));
  return v;
}

std::uint32_t pick(PoolStrategy s, const std::vector<SlotRecord>& w, const std::string& msg,
                   std::uint64_t seed = 0) {
  auto r = pick_worker(s, w, msg, seed);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : ~0u;
}

TEST(PickWorker, NotAPoolIsNotPool) {
  for (const auto& workers : {std::vector<SlotRecord>{}, free_members(3)}) {
    auto r = pick_worker(PoolStrategy::kNone, workers, R"("get")", 1);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kNotPool);
  }
}

TEST(PickWorker, HashringIsStableForTheSameMessage) {
  auto workers = free_members(5);
  const std::string msg = R"(["synch",1])";
  const std::uint32_t first = pick(PoolStrategy::kHashring, workers, msg);
  std::mt19937 rng(7);
  for (int i = 0; i < 50; ++i) {
    // Whatever the seed and the order the members are listed in.
    std::shuffle(workers.begin(), workers.end(), rng);
    EXPECT_EQ(pick(PoolStrategy::kHashring, workers, msg, rng()), first);
  }
}

TEST(PickWorker, HashringSpreadsDifferentMessages) {
  const auto workers = free_members(4);
  std::map<std::uint32_t, int> hits;
  for (int i = 0; i < 2000; ++i) {
    ++hits[pick(PoolStrategy::kHashring, workers, "[\"key\"," + std::to_string(i) + "]")];
  }
  ASSERT_EQ(hits.size(), 4u);
  for (const auto& [slot, n] : hits) {
    EXPECT_GT(n, 300) << "slot " << slot << " got " << n << " of 2000";  // fair share is 500
  }
}

TEST(PickWorker, HashringKeepsItsChoiceWhenThatWorkerIsBusy) {
  auto workers = free_members(3);
  const std::string msg = R"("sticky")";
  const std::uint32_t chosen = pick(PoolStrategy::kHashring, workers, msg);
  for (auto& w : workers) w.busy_since_ms = 1;  // every member busy: still picked, not an error
  EXPECT_EQ(pick(PoolStrategy::kHashring, workers, msg), chosen);
}

TEST(PickWorker, HashringCountsOnlyRunningMembers) {
  std::vector<SlotRecord> workers = {
      member(0, false, WorkerStatus::kStarting), member(1, false, WorkerStatus::kRestarting),
      member(2, false, WorkerStatus::kFailed), member(3, false, WorkerStatus::kRunning, false),
      member(4)};
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(pick(PoolStrategy::kHashring, workers, std::to_string(i)), 4u);
  }
  workers.pop_back();
  auto r = pick_worker(PoolStrategy::kHashring, workers, "1", 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNoFreeWorker);
}

TEST(PickWorker, HashringMovesOnlyTheMessagesOfARemovedMember) {
  const auto all = free_members(5);
  auto without = all;
  without.erase(without.begin() + 2);  // slot 2 goes
  int moved = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string msg = "m" + std::to_string(i);
    const std::uint32_t before = pick(PoolStrategy::kHashring, all, msg);
    const std::uint32_t after = pick(PoolStrategy::kHashring, without, msg);
    if (before != 2) {
      EXPECT_EQ(after, before) << msg;
    } else {
      EXPECT_NE(after, 2u);
      ++moved;
    }
  }
  EXPECT_GT(moved, 0);
}

TEST(PickWorker, RandomPicksOnlyFreeWorkersAndCoversThemAll) {
  const std::vector<SlotRecord> workers = {
      member(0, true), member(1), member(2, false, WorkerStatus::kStarting), member(3),
      member(4, false, WorkerStatus::kRunning, /*pool=*/false), member(5, true)};
  std::set<std::uint32_t> seen;
  for (std::uint64_t seed = 0; seed < 500; ++seed) seen.insert(pick(PoolStrategy::kRandom, workers, "x", seed));
  EXPECT_EQ(seen, (std::set<std::uint32_t>{1, 3}));
}

TEST(PickWorker, StreamPicksTheFirstFreeWorkerInSlotOrder) {
  struct Row {
    const char* what;
    std::vector<SlotRecord> workers;
    std::uint32_t expected;
  };
  const std::vector<Row> rows = {
      {"all free", free_members(3), 0},
      {"first busy", {member(0, true), member(1), member(2)}, 1},
      {"listed out of order",
       {member(3), member(1, true), member(2), member(0, false, WorkerStatus::kRestarting)},
       2},
      {"non-member first", {member(0, false, WorkerStatus::kRunning, false), member(1)}, 1},
      {"only the last free", {member(0, true), member(1, true), member(2)}, 2},
  };
  for (const auto& row : rows) {
    for (std::uint64_t seed : {0ULL, 1ULL, 99ULL}) {
      EXPECT_EQ(pick(PoolStrategy::kStream, row.workers, "x", seed), row.expected) << row.what;
    }
  }
}

// README "Passivation": a passive member counts as a member for hashring,
// and random/stream take one only when no member is free (the call starts it).
TEST(PickWorker, PassiveMembersArePickedOnlyWhenNoneIsFree) {
  const std::vector<SlotRecord> mixed = {member(0, false, WorkerStatus::kPassive), member(1, true),
                                         member(2), member(3, false, WorkerStatus::kPassivating)};
  for (auto s : {PoolStrategy::kRandom, PoolStrategy::kStream}) {
    for (std::uint64_t seed = 0; seed < 50; ++seed) EXPECT_EQ(pick(s, mixed, "x", seed), 2u);
  }
  const std::vector<SlotRecord> none_free = {member(0, true),
                                             member(1, false, WorkerStatus::kPassive),
                                             member(2, false, WorkerStatus::kPassive)};
  EXPECT_EQ(pick(PoolStrategy::kStream, none_free, "x", 0), 1u);
  std::set<std::uint32_t> seen;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    seen.insert(pick(PoolStrategy::kRandom, none_free, "x", seed));
  }
  EXPECT_EQ(seen, (std::set<std::uint32_t>{1, 2}));
  // Hashring: the same member for a message whether it is running or passive.
  auto running = free_members(4);
  auto some_passive = running;
  some_passive[1].status = WorkerStatus::kPassive;
  some_passive[3].status = WorkerStatus::kPassivating;
  for (int i = 0; i < 200; ++i) {
    const std::string msg = "m" + std::to_string(i);
    EXPECT_EQ(pick(PoolStrategy::kHashring, running, msg),
              pick(PoolStrategy::kHashring, some_passive, msg));
  }
}

TEST(PickWorker, NoFreeWorkerIsAnError) {
  const std::vector<std::vector<SlotRecord>> cases = {
      {},
      {member(0, true), member(1, true)},
      {member(0, false, WorkerStatus::kRestarting), member(1, true)},
      {member(0, false, WorkerStatus::kRunning, /*pool=*/false)},
  };
  for (auto s : {PoolStrategy::kRandom, PoolStrategy::kStream}) {
    for (std::size_t i = 0; i < cases.size(); ++i) {
      auto r = pick_worker(s, cases[i], "x", 3);
      ASSERT_FALSE(r) << to_string(s) << " case " << i;
      EXPECT_EQ(r.error().code, Errc::kNoFreeWorker);
      EXPECT_EQ(r.error().message, "no free worker in the pool");
    }
  }
  auto h = pick_worker(PoolStrategy::kHashring, {}, "x", 3);
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, Errc::kNoFreeWorker);
}

TEST(PickupStrategy, ParseAndName) {
  for (auto s : {PoolStrategy::kHashring, PoolStrategy::kRandom, PoolStrategy::kStream}) {
    auto p = parse_pool_strategy(to_string(s));
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, s);
  }
  EXPECT_EQ(to_string(PoolStrategy::kNone), "none");
  for (const char* bad : {"", "none", "Stream", "lifo"}) {
    auto p = parse_pool_strategy(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.error().code, Errc::kInvalid);
  }
}

}  // namespace
}  // namespace dynmgr
