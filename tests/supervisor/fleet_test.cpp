// The supervisor's Fleet (supervisor/fleet.hpp): sleeping passive ids keep
// their id and slot only, and find() wakes them through the Waker; spec_of()
// rebuilds a spec from a published record. Pure: no process, no registry.

#include "supervisor/fleet.hpp"

#include <gtest/gtest.h>

#include <map>

namespace dynmgr {
namespace {

Entry entry(std::uint32_t slot, const std::string& id) {
  Entry e;
  e.id = id;
  e.rec.id = id;
  e.rec.slot = slot;
  e.rec.payload = "{\"slot\":" + std::to_string(slot) + "}";
  return e;
}

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fleet_.set_waker([this](std::uint32_t slot) -> std::optional<Entry> {
      ++wakes_;
      auto it = slots_.find(slot);
      if (it == slots_.end()) return std::nullopt;
      return entry(slot, it->second);
    });
    for (std::uint32_t s : {0u, 1u, 2u, 9u}) {
      slots_[s] = "w" + std::to_string(s);
      fleet_.add(entry(s, slots_[s]));
    }
  }
  Fleet fleet_;
  std::map<std::uint32_t, std::string> slots_;  // what the "registry" holds
  int wakes_ = 0;
};

TEST_F(FleetTest, ASleepingIdKeepsItsSlotAndIdAndWakesOnFind) {
  fleet_.find_awake(2)->life.timer_token = 41;
  fleet_.sleep(2);
  fleet_.sleep(9);
  EXPECT_EQ(fleet_.size(), 4u);
  EXPECT_EQ(fleet_.asleep_count(), 2u);
  EXPECT_EQ(fleet_.awake().size(), 2u);
  EXPECT_TRUE(fleet_.asleep(2));
  EXPECT_EQ(fleet_.find_awake(2), nullptr);
  EXPECT_EQ(fleet_.slot_of("w2"), 2u);
  EXPECT_EQ(fleet_.token_floor(), 41u);
  EXPECT_EQ(wakes_, 0);  // none of that woke anything

  Entry* e = fleet_.find_id("w2");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(wakes_, 1);
  EXPECT_EQ(e->rec.payload, "{\"slot\":2}");
  EXPECT_FALSE(fleet_.asleep(2));
  EXPECT_EQ(fleet_.asleep_count(), 1u);
  EXPECT_EQ(fleet_.find(2), e);  // awake now: no second wake
  EXPECT_EQ(wakes_, 1);
  auto all = fleet_.slots();
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<std::uint32_t>{0, 1, 2, 9}));
  EXPECT_EQ(fleet_.asleep_slots(), (std::vector<std::uint32_t>{9}));
}

TEST_F(FleetTest, ErasingASleepingIdForgetsItsIdToo) {
  fleet_.sleep(1);
  fleet_.erase(1);
  EXPECT_FALSE(fleet_.asleep(1));
  EXPECT_FALSE(fleet_.slot_of("w1"));
  EXPECT_EQ(fleet_.find(1), nullptr);
  EXPECT_EQ(fleet_.size(), 3u);
  // Even when its slot can no longer be read.
  fleet_.sleep(0);
  slots_.erase(0);
  fleet_.erase(0);
  EXPECT_FALSE(fleet_.slot_of("w0"));
  EXPECT_EQ(fleet_.size(), 2u);
  EXPECT_FALSE(fleet_.empty());
  fleet_.sleep(2);
  fleet_.sleep(9);
  EXPECT_FALSE(fleet_.empty());  // asleep is not gone
  fleet_.erase(2);
  fleet_.erase(9);
  EXPECT_TRUE(fleet_.empty());
}

TEST_F(FleetTest, DroppingTheSleepingIdsKeepsTheAwakeOnesAndWakesNone) {
  fleet_.sleep(0);
  fleet_.sleep(9);
  EXPECT_EQ(fleet_.drop_asleep(), 2u);
  EXPECT_EQ(wakes_, 0);
  EXPECT_EQ(fleet_.size(), 2u);
  EXPECT_FALSE(fleet_.slot_of("w0"));
  EXPECT_FALSE(fleet_.slot_of("w9"));
  EXPECT_NE(fleet_.find_id("w1"), nullptr);
  EXPECT_NE(fleet_.find_id("w2"), nullptr);
  EXPECT_EQ(fleet_.find(9), nullptr);
  EXPECT_EQ(fleet_.drop_asleep(), 0u);
}

TEST_F(FleetTest, ASlotThatCannotBeReadStaysAsleepAndIsNotFound) {
  fleet_.sleep(9);
  slots_.erase(9);
  EXPECT_EQ(fleet_.find_id("w9"), nullptr);
  EXPECT_TRUE(fleet_.asleep(9));
  EXPECT_EQ(fleet_.slot_of("w9"), 9u);
}

TEST(SpecOf, RebuildsEverySpecFieldFromThePublishedRecord) {
  SlotRecord r;
  r.payload = R"({"a":[1,2.5,"x"]})";
  r.timeout_ms = 0;
  r.lull = 2.5;
  r.instant_perform = true;
  r.restart = RestartType::kTransient;
  r.max_restarts = 3;
  r.within_ms = 4000;
  r.on_overrun = OnOverrun::kKill;
  r.max_memory = 1 << 20;
  r.rlimit_values.nofile = 256;
  r.user = "nobody";
  r.group = "nogroup";
  r.passivate_after_ms = 700;
  r.options = R"({"exec":["/bin/true"]})";
  const ChildSpec s = spec_of(r);
  EXPECT_EQ(to_json(s.payload), R"({"a":[1,2.5,"x"]})");
  EXPECT_EQ(s.timeout_ms, 0u);
  EXPECT_EQ(s.lull, 2.5);
  EXPECT_TRUE(s.instant_perform);
  EXPECT_EQ(s.restart, RestartType::kTransient);
  EXPECT_EQ(s.max_restarts, 3u);
  EXPECT_EQ(s.within_ms, 4000u);
  EXPECT_EQ(s.on_overrun, OnOverrun::kKill);
  EXPECT_EQ(s.max_memory, 1u << 20);
  EXPECT_EQ(s.rlimits.nofile, 256u);
  EXPECT_EQ(s.user, "nobody");
  EXPECT_EQ(s.group, "nogroup");
  EXPECT_EQ(s.passivate_after_ms, 700u);
  EXPECT_EQ(to_json(json::value(s.options)), R"({"exec":["/bin/true"]})");
}

}  // namespace
}  // namespace dynmgr
