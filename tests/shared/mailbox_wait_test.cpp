// shared/mailbox_wait.cpp: waiting, on a real registry, for the supervisor to
// publish a dead mailbox's replacement. The test plays the supervisor: it
// writes the slot from the wait's keep_trying callback, so nothing sleeps to
// synchronise.

#include "shared/mailbox_wait.hpp"

#include "registry_test_hooks.hpp"
#include "shm_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>

namespace dynmgr {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

class MailboxWaitTest : public testing::ShmTest {
 protected:
  void SetUp() override {
    RegistryConfig c;
    c.capacity = 1;  // one slot: a freed slot is handed out again as slot 0
    c.max_payload = 256;
    c.control_depth = 4;
    c.mailbox_depth = 4;
    auto w = RegistryWriter::create(names_, c);
    if (!w) throw std::runtime_error(w.error().message);
    writer_.emplace(std::move(*w));
    auto r = RegistryReader::open(names_);
    if (!r) throw std::runtime_error(r.error().message);
    reader_.emplace(std::move(*r));
    seen_ = put(1);
  }

  // Allocates the slot if needed and writes `id` with mailbox generation `gen`;
  // returns the record as a reader sees it.
  SlotRecord put(std::uint64_t gen, const std::string& id = "w") {
    SlotRecord r;
    if (auto now = writer_->read(0); now && now->status != WorkerStatus::kFree) {
      r = *now;
    } else {
      auto slot = writer_->allocate();
      if (!slot) throw std::runtime_error(slot.error().message);
      r.slot = *slot;
    }
    r.id = id;
    r.status = WorkerStatus::kRunning;
    r.mailbox_generation = gen;
    if (auto st = writer_->write(r); !st) throw std::runtime_error(st.error().message);
    auto seen = reader_->read(r.slot);
    if (!seen) throw std::runtime_error(seen.error().message);
    return *seen;
  }

  Result<std::optional<SlotRecord>> wait(std::function<Status()> keep_trying,
                                         milliseconds within = milliseconds(10000)) {
    return await_mailbox_replaced(*reader_, seen_.slot, seen_.incarnation, seen_.mailbox_generation,
                                  Deadline::after(within), milliseconds(1), keep_trying);
  }

  std::optional<RegistryWriter> writer_;
  std::optional<RegistryReader> reader_;
  SlotRecord seen_;
};

TEST_F(MailboxWaitTest, ReturnsTheRecordWithTheNewGeneration) {
  int asked = 0;
  auto r = wait([&]() -> Status {
    if (++asked == 3) put(2);
    return {};
  });
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->mailbox_generation, 2U);
  EXPECT_EQ((*r)->incarnation, seen_.incarnation);
  EXPECT_EQ(asked, 3);
}

TEST_F(MailboxWaitTest, AlreadyReplacedReturnsAtOnce) {
  put(5);
  auto r = wait([]() -> Status { return make_error(Errc::kFailed, "never asked"); });
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->mailbox_generation, 5U);
}

TEST_F(MailboxWaitTest, AFreedSlotIsNullopt) {
  auto r = wait([&]() -> Status {
    writer_->release(seen_.slot);
    return {};
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->has_value());
}

TEST_F(MailboxWaitTest, AReassignedSlotReturnsTheNewIncarnation) {
  auto r = wait([&]() -> Status {
    writer_->release(seen_.slot);
    put(seen_.mailbox_generation, "other");  // same generation, a new id
    return {};
  });
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->has_value());
  EXPECT_NE((*r)->incarnation, seen_.incarnation);
  EXPECT_EQ((*r)->id, "other");
}

TEST_F(MailboxWaitTest, EndsWithTheErrorOfKeepTrying) {
  auto r = wait([]() -> Status { return make_error(Errc::kNoSupervisor, "gone"); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNoSupervisor);
}

TEST_F(MailboxWaitTest, TimesOutWhenNothingChanges) {
  const auto t0 = steady_clock::now();
  auto r = wait({}, milliseconds(50));
  const auto took = steady_clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kTimeout);
  EXPECT_GE(took, milliseconds(50));
  EXPECT_LT(took, milliseconds(2000));
}

// A slot a writer left mid-update is looked at again, not taken for a free one.
TEST_F(MailboxWaitTest, ATornSlotIsReadAgain) {
  RegistryTestHooks::begin_update(*writer_, seen_.slot);
  auto r = wait({}, milliseconds(50));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kTimeout);
}

}  // namespace
}  // namespace dynmgr
