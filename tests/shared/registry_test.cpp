// shared/registry.cpp: the shared-memory registry, single process and across
// fork: layout, round trips, limits (capacity, payload) that change nothing when
// exceeded, and stale segments that are detected and replaced, never waited on.
// The SIGKILL loops live in registry_fault_test.cpp.

#include "shared/registry.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <ostream>
#include <random>

#include "registry_support.hpp"
#include "registry_test_hooks.hpp"
#include "shared/clock.hpp"
#include "shared/process_identity.hpp"
#include "shm_fixture.hpp"
#include "worker_info_support.hpp"

namespace dynmgr {
namespace {

using testing::check_counter_record;
using testing::counter_record;
using testing::dump;
using testing::dump_all;
using testing::SharedBlock;

RegistryConfig small_config(std::uint32_t capacity = 8, std::uint32_t max_payload = 256) {
  RegistryConfig c;
  c.capacity = capacity;
  c.max_payload = max_payload;
  c.control_depth = 16;
  c.mailbox_depth = 4;
  return c;
}

class RegistryTest : public testing::ShmTest {
 protected:
  RegistryWriter make_writer(const RegistryConfig& c = small_config()) {
    auto w = RegistryWriter::create(names_, c);
    if (!w) throw std::runtime_error(w.error().message);
    return std::move(*w);
  }
  RegistryReader make_reader() {
    auto r = RegistryReader::open(names_);
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(*r);
  }
  // The worker-side words of a slot, as a worker maps them.
  WorkerWords words_of(std::uint32_t slot) {
    const auto h = make_reader().header();
    auto w = WorkerWords::open(names_, slot, h.capacity, h.words_stride);
    if (!w) throw std::runtime_error(w.error().message);
    return std::move(*w);
  }
  // Allocates a slot and writes counter_record(slot, n) into it.
  std::uint32_t put(RegistryWriter& w, std::uint64_t n) {
    auto slot = w.allocate();
    if (!slot) throw std::runtime_error(slot.error().message);
    auto st = w.write(counter_record(*slot, n));
    if (!st) throw std::runtime_error(st.error().message);
    return *slot;
  }
};

// ---------------------------------------------------------------- config

struct ConfigCase {
  const char* label;
  std::uint32_t capacity;
  std::uint32_t max_payload;
  std::uint32_t control_depth;
  std::uint32_t mailbox_depth;
  const char* reason;  // nullptr = valid
  friend void PrintTo(const ConfigCase& c, std::ostream* os) { *os << '"' << c.label << '"'; }
};

class RegistryConfigValidate : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(RegistryConfigValidate, Table) {
  const auto& c = GetParam();
  RegistryConfig cfg;
  cfg.capacity = c.capacity;
  cfg.max_payload = c.max_payload;
  cfg.control_depth = c.control_depth;
  cfg.mailbox_depth = c.mailbox_depth;
  auto st = cfg.validate();
  if (c.reason == nullptr) {
    EXPECT_TRUE(st) << st.error().message;
    return;
  }
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kInvalid);
  EXPECT_NE(st.error().message.find(c.reason), std::string::npos) << st.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Registry, RegistryConfigValidate,
    ::testing::Values(
        ConfigCase{"defaults", 4096, 4096, 256, 64, nullptr},
        ConfigCase{"smallest", 1, 64, 1, 1, nullptr},
        ConfigCase{"largest", 1'000'000, 16 * 1024 * 1024, 1, 1, nullptr},
        ConfigCase{"zero_capacity", 0, 4096, 1, 1, "invalid max-workers 0"},
        ConfigCase{"huge_capacity", 1'000'001, 4096, 1, 1, "invalid max-workers 1000001"},
        ConfigCase{"tiny_payload", 16, 63, 1, 1, "invalid max-payload 63"},
        ConfigCase{"huge_payload", 16, 16 * 1024 * 1024 + 1, 1, 1, "invalid max-payload"},
        ConfigCase{"zero_control_depth", 16, 4096, 0, 1, "queue depths"},
        ConfigCase{"zero_mailbox_depth", 16, 4096, 1, 0, "queue depths"}),
    [](const auto& tp) { return std::string(tp.param.label); });

TEST_F(RegistryTest, CreateRejectsAnInvalidConfigAndCreatesNothing) {
  auto w = RegistryWriter::create(names_, small_config(0));
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, Errc::kInvalid);
  EXPECT_TRUE(testing::shm_objects(names_).empty());
}

// ---------------------------------------------------------------- header

TEST_F(RegistryTest, ReaderSeesTheHeader) {
  auto w = make_writer(small_config(8, 256));
  auto r = make_reader();
  const auto h = r.header();
  EXPECT_EQ(h.capacity, 8U);
  EXPECT_EQ(h.max_payload, 256U);
  EXPECT_EQ(h.control_depth, 16U);
  EXPECT_EQ(h.mailbox_depth, 4U);
  EXPECT_EQ(h.control_msg_size, small_config().control_msg_size());
  EXPECT_EQ(h.mailbox_msg_size, small_config().mailbox_msg_size());
  EXPECT_EQ(h.supervisor_pid, ::getpid());
  EXPECT_EQ(h.supervisor_start_time, ProcessIdentity::self().start_time);
  EXPECT_EQ(h.manager_state, ManagerState::kStarting);
  EXPECT_EQ(h.used, 0U);
  EXPECT_EQ(h.high_water, 0U);
  EXPECT_NE(h.generation, 0U);
  EXPECT_GT(h.created_ms, 0U);
  EXPECT_TRUE(r.supervisor_alive());
  EXPECT_FALSE(r.superseded());

  w.set_manager_state(ManagerState::kUp);
  w.set_control_generation(41);
  w.add_dropped_frames(2);
  w.add_dropped_frames(3);
  const auto h2 = r.header();
  EXPECT_EQ(h2.manager_state, ManagerState::kUp);
  EXPECT_EQ(h2.control_generation, 41U);
  EXPECT_EQ(h2.dropped_frames, 5U);
}

// Found by fuzz/fuzz_registry_reader: snapshot reserved the header's `used`
// records before reading any, so a damaged count threw (length_error or
// bad_alloc) out of every `state`. Counts are bounded by the capacity.
TEST_F(RegistryTest, ADamagedUsedCountIsBoundedByTheCapacity) {
  auto w = make_writer(small_config(4));
  put(w, 1);
  RegistryTestHooks::set_used(w, 0xfffffff0U);
  auto r = make_reader();
  EXPECT_LE(r.header().used, 4u);
  auto all = r.snapshot();
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->size(), 1u);
}

TEST_F(RegistryTest, EveryCreateGetsANewGeneration) {
  std::uint64_t first = 0;
  {
    auto w = make_writer();
    first = w.header().generation;
  }
  auto w = make_writer();
  EXPECT_NE(w.header().generation, first);
}

TEST_F(RegistryTest, OpenWithoutRegistryIsNoSupervisor) {
  auto r = RegistryReader::open(names_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNoSupervisor);
  EXPECT_NE(r.error().message.find("'" + names_.instance() + "'"), std::string::npos)
      << r.error().message;
  auto w = RegistryWriter::attach(names_);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, Errc::kNoSupervisor);
}

TEST_F(RegistryTest, OpenAfterTheSupervisorDiedIsNoSupervisor) {
  const pid_t pid = spawn([&] {
    auto w = RegistryWriter::create(names_, small_config());
    return w ? 0 : 1;  // exits without removing the segment: a crashed supervisor
  });
  ASSERT_TRUE(testing::exited_with(testing::wait_child(pid), 0));
  ASSERT_FALSE(testing::shm_objects(names_).empty());
  auto r = RegistryReader::open(names_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNoSupervisor);
  EXPECT_NE(r.error().message.find("stale registry of pid " + std::to_string(pid)),
            std::string::npos)
      << r.error().message;
}

TEST_F(RegistryTest, SupervisedByAnotherPidAfterSetSupervisor) {
  auto w = make_writer();
  auto r = make_reader();
  w.set_supervisor(::getppid(), 0);  // start time 0: any process with that pid
  EXPECT_EQ(r.header().supervisor_pid, ::getppid());
  EXPECT_TRUE(r.supervisor_alive());
  w.set_supervisor(::getpid(), ProcessIdentity::self().start_time + 1);  // a reused pid
  EXPECT_FALSE(r.supervisor_alive());
}

TEST_F(RegistryTest, SupersededWhenReplacedOrRemoved) {
  auto w = make_writer();
  auto r = make_reader();
  EXPECT_FALSE(r.superseded());
  {
    auto w2 = make_writer();  // a new supervisor replaces the segment
    EXPECT_TRUE(r.superseded());
    auto r2 = make_reader();
    EXPECT_FALSE(r2.superseded());
    w2.remove_name();
    EXPECT_TRUE(r2.superseded());
  }
  EXPECT_TRUE(testing::shm_objects(names_).empty());
}

// ---------------------------------------------------------------- slots

// Every described member of the record survives the slot (a member added to
// WorkerInfo without its shared-memory word fails here).
TEST_F(RegistryTest, EveryDescribedMemberSurvivesTheSlot) {
  auto w = make_writer();
  auto r = make_reader();
  auto slot = w.allocate();
  ASSERT_TRUE(slot);
  SlotRecord in;
  static_cast<WorkerInfo&>(in) = testing::every_member_set();
  in.slot = *slot;
  // rlimits are stored as words (rlimit_values); the text read back is derived from them.
  in.rlimit_values.nofile = 1024;
  in.rlimit_values.core = 0;
  in.rlimits = R"({"nofile":1024,"core":0})";
  // The ids user/group resolved to are words of the slot too (not described).
  in.run_as = RunAs{65534, 65533};
  // The worker-owned words are the worker's to store, not write()'s.
  in.busy_since_ms = 0;
  in.last_perform_ms = 0;
  ASSERT_TRUE(w.write(in));
  // The exit history is written apart (an exit at a time, or restored whole).
  ASSERT_TRUE(w.set_exits(*slot, in.exits));
  auto out = r.read(*slot);
  ASSERT_TRUE(out) << out.error().message;
  boost::mp11::mp_for_each<
      boost::describe::describe_members<WorkerInfo, boost::describe::mod_public>>(
      [&](auto d) { EXPECT_TRUE(testing::same(in.*d.pointer, (*out).*d.pointer)) << d.name; });
  EXPECT_EQ(out->run_as, in.run_as);
  in.run_as.reset();
  ASSERT_TRUE(w.write(in));
  EXPECT_FALSE(r.read(*slot)->run_as);
}

TEST_F(RegistryTest, WriteThenReadEveryField) {
  auto w = make_writer();
  auto r = make_reader();
  auto slot = w.allocate();
  ASSERT_TRUE(slot);
  EXPECT_EQ(*slot, 0U);  // dense: lowest free slot first
  SlotRecord in;
  in.slot = *slot;
  in.id = "counter";
  in.status = WorkerStatus::kRestarting;
  in.pid = 4242;
  in.pid_start_time = 777;
  in.restarts = 3;
  in.last_exit = ExitInfo::from_wait_status(SIGKILL);
  in.timeout_ms = 250;
  in.lull = 2.5;
  in.instant_perform = true;
  in.pool = true;
  in.restart = RestartType::kTransient;
  in.max_restarts = 7;
  in.within_ms = 9000;
  in.started_ms = 123456;
  in.mailbox_generation = 99;
  in.payload = R"({"n":1})";
  in.value = R"(["+","tomato"])";
  const std::uint64_t before = wall_ms();
  ASSERT_TRUE(w.write(in));

  auto out = r.read(*slot);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->slot, *slot);
  EXPECT_GE(out->updated_ms, before);
  EXPECT_GT(out->incarnation, 0U);
  SlotRecord expect = in;
  expect.incarnation = out->incarnation;
  expect.updated_ms = out->updated_ms;
  EXPECT_EQ(dump(*out), dump(expect));
  EXPECT_EQ(out->busy_since_ms, 0U);
  EXPECT_EQ(out->last_perform_ms, 0U);

  auto own = w.read(*slot);
  ASSERT_TRUE(own);
  EXPECT_EQ(dump(*own), dump(*out));

  auto found = r.find("counter");
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->slot, *slot);
  auto missing = r.find("nobody");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_NE(missing.error().message.find("'nobody'"), std::string::npos);

  const auto h = r.header();
  EXPECT_EQ(h.used, 1U);
  EXPECT_EQ(h.high_water, 1U);
}

TEST_F(RegistryTest, LongExitReasonIsTruncatedNotOverflowed) {
  auto w = make_writer();
  auto r = make_reader();
  SlotRecord rec = counter_record(0, 1);
  rec.last_exit.reason = std::string(1000, 'r');
  ASSERT_TRUE(w.allocate());
  ASSERT_TRUE(w.write(rec));
  auto out = r.read(0);
  ASSERT_TRUE(out);
  EXPECT_LT(out->last_exit.reason.size(), 1000U);
  EXPECT_EQ(out->last_exit.reason, std::string(out->last_exit.reason.size(), 'r'));
}

TEST_F(RegistryTest, IncarnationChangesOnlyWhenTheSlotIsReused) {
  auto w = make_writer();
  auto r = make_reader();
  const std::uint32_t s = put(w, 1);
  const auto inc1 = r.read(s)->incarnation;
  ASSERT_TRUE(w.write(counter_record(s, 2)));
  EXPECT_EQ(r.read(s)->incarnation, inc1);  // an update keeps the incarnation
  w.release(s);
  const std::uint32_t s2 = put(w, 3);
  EXPECT_EQ(s2, s);
  EXPECT_NE(r.read(s2)->incarnation, inc1);  // a new occupant gets a new one
}

TEST_F(RegistryTest, ReleaseFreesAndReusesLowestSlot) {
  auto w = make_writer();
  auto r = make_reader();
  for (std::uint64_t n = 0; n < 5; ++n) EXPECT_EQ(put(w, n), n);
  EXPECT_EQ(r.header().high_water, 5U);
  w.release(1);
  w.release(4);
  auto freed = r.read(1);
  ASSERT_FALSE(freed);
  EXPECT_EQ(freed.error().code, Errc::kNotFound);
  EXPECT_EQ(r.header().used, 3U);
  EXPECT_EQ(r.header().high_water, 4U);  // trailing free slot trimmed
  w.release(4);                          // releasing twice is harmless
  w.release(1000);                       // out of range is ignored
  EXPECT_EQ(r.header().used, 3U);
  auto a = w.allocate();
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, 1U);
  auto snap = r.snapshot();
  ASSERT_TRUE(snap);
  ASSERT_EQ(snap->size(), 3U);
  EXPECT_EQ((*snap)[0].slot, 0U);
  EXPECT_EQ((*snap)[1].slot, 2U);
  EXPECT_EQ((*snap)[2].slot, 3U);
  for (const auto& rec : *snap) EXPECT_EQ(check_counter_record(rec), "");
}

TEST_F(RegistryTest, OutOfRangeSlotIsInvalid) {
  auto w = make_writer(small_config(4));
  auto r = make_reader();
  auto rd = r.read(4);
  ASSERT_FALSE(rd);
  EXPECT_EQ(rd.error().code, Errc::kInvalid);
  auto wr = w.write(counter_record(4, 1));
  ASSERT_FALSE(wr);
  EXPECT_EQ(wr.error().code, Errc::kInvalid);
  EXPECT_EQ(r.header().used, 0U);
}

TEST_F(RegistryTest, InvalidIdIsRejectedAndNothingChanges) {
  auto w = make_writer();
  auto r = make_reader();
  const std::uint32_t s = put(w, 5);
  const auto before = dump(*r.read(s));
  for (std::string bad : {std::string(), std::string(256, 'x'), std::string("a\nb")}) {
    SlotRecord rec = counter_record(s, 6);
    rec.id = bad;
    auto st = w.write(rec);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::kInvalid);
  }
  EXPECT_EQ(dump(*r.read(s)), before);
}

TEST_F(RegistryTest, WorkerWordsAreWrittenByTheWorkerOnly) {
  auto w = make_writer();
  const std::uint32_t s = put(w, 1);
  auto worker = words_of(s);
  auto r = make_reader();
  worker.set_busy_since(1111);
  worker.set_last_perform(2222);
  EXPECT_FALSE(WorkerWords::open(names_, 100000, r.header().capacity, r.header().words_stride));
  auto rec = r.read(s);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->busy_since_ms, 1111U);
  EXPECT_EQ(rec->last_perform_ms, 2222U);
  // A supervisor update does not clobber them ...
  ASSERT_TRUE(w.write(counter_record(s, 2)));
  EXPECT_EQ(r.read(s)->last_perform_ms, 2222U);
  // ... a new occupant of the slot starts idle.
  w.release(s);
  ASSERT_EQ(put(w, 3), s);
  EXPECT_EQ(r.read(s)->busy_since_ms, 0U);
  EXPECT_EQ(r.read(s)->last_perform_ms, 0U);
}

// Issue 11, defect 19: what a worker maps. The registry read-only (a store
// into it kills the storing process, nobody else), and of the words object
// exactly its own slot's page, read-write: its reader maps none of the words
// (RegistryReader::Words::kNone), so a page punched out at another slot's del
// has nothing to unmap here.
TEST_F(RegistryTest, AWorkerMapsTheRegistryReadOnlyAndOnlyItsOwnWordsPage) {
  auto w = make_writer();
  put(w, 1);
  const std::uint32_t s = put(w, 2);
  const auto before = dump(*w.read(s));
  struct Map {
    unsigned long from = 0;
    unsigned long to = 0;
    bool writable = false;
    std::string line;
  };
  // This instance's shared mappings of the calling process.
  auto maps = [this] {
    std::vector<Map> out;
    std::FILE* f = std::fopen("/proc/self/maps", "r");
    char line[4096];
    while (f != nullptr && std::fgets(line, sizeof line, f) != nullptr) {
      Map m;
      char perms[8] = {};
      if (std::sscanf(line, "%lx-%lx %7s", &m.from, &m.to, perms) != 3) continue;
      m.writable = perms[1] == 'w';
      m.line = line;
      if (m.line.find(names_.prefix()) != std::string::npos) out.push_back(m);
    }
    if (f != nullptr) std::fclose(f);
    return out;
  };
  // The writer's own mappings, which a forked child inherits (a real worker
  // is exec'ed and has none of them): left out of the child's count.
  std::set<unsigned long> writers;
  for (const auto& m : maps()) writers.insert(m.from);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto r = RegistryReader::open(names_, RegistryReader::Words::kNone);
    if (!r) ::_exit(10);
    const auto h = r->header();
    auto words = WorkerWords::open(names_, s, h.capacity, h.words_stride);
    if (!words) ::_exit(10);
    words->set_busy_since(7);
    char* registry = nullptr;
    int writable_words = 0;
    for (const auto& m : maps()) {
      if (writers.count(m.from) != 0) continue;
      if (m.line.find(names_.words()) != std::string::npos) {
        if (!m.writable) ::_exit(15);  // the whole object, read-only: a reader's
        ++writable_words;
        if (m.to - m.from != h.words_stride) ::_exit(11);
      }
      if (m.line.find(names_.registry()) != std::string::npos) {
        if (m.writable) ::_exit(12);
        registry = reinterpret_cast<char*>(m.from);
      }
    }
    if (writable_words != 1) ::_exit(13);
    if (registry == nullptr) ::_exit(14);
    *static_cast<volatile char*>(registry + 4096 * 3) = 'X';  // faults: read-only
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
#if defined(__SANITIZE_ADDRESS__)
  // ASan takes the SIGSEGV itself, reports it and aborts.
  ASSERT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) >= 10 && WEXITSTATUS(status) <= 15)
      << "exit " << WEXITSTATUS(status);
  ASSERT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#else
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGSEGV);
#endif
  // The child's own word landed; nothing else of the slot changed.
  auto after = *w.read(s);
  EXPECT_EQ(after.busy_since_ms, 7u);
  after.busy_since_ms = 0;
  EXPECT_EQ(dump(after), before);
}

// The words object removed (a /dev/shm clean-up): the supervisor makes it
// again with the counters its mapping still holds, and a worker that maps its
// page of the new one sees they were carried over.
TEST_F(RegistryTest, RemovedWordsAreRecreatedWithTheirCounters) {
  auto w = make_writer();
  const std::uint32_t s = put(w, 1);
  {
    auto words = words_of(s);
    words.count_work(Work::kPerform, 10);
    words.set_last_perform(1234);
    ASSERT_FALSE(words.superseded());
    ASSERT_EQ(::unlink(Names::shm_path(names_.words()).c_str()), 0);
    EXPECT_TRUE(words.superseded());
  }
  EXPECT_EQ(w.words_intact().error().code, Errc::kNotFound);
  ASSERT_TRUE(w.recreate_words());
  EXPECT_TRUE(w.words_intact());
  auto r = make_reader();
  EXPECT_EQ(r.stats(s).performs, 1u);
  EXPECT_EQ(r.read(s)->last_perform_ms, 1234u);
  words_of(s).count_work(Work::kPerform, 10);
  EXPECT_EQ(r.stats(s).performs, 2u);
}

// A worker's reader (no words mapped) reads the worker-owned words as zeros
// and is not superseded by a new words object: the worker follows that with
// its own page (WorkerWords::superseded). A reader with the words is.
TEST_F(RegistryTest, AReaderWithoutTheWordsReadsThemAsZerosAndIgnoresTheirRecreation) {
  auto w = make_writer();
  const std::uint32_t s = put(w, 1);
  words_of(s).set_last_perform(1234);
  auto bare = RegistryReader::open(names_, RegistryReader::Words::kNone);
  ASSERT_TRUE(bare);
  auto full = make_reader();
  EXPECT_EQ(bare->read(s)->last_perform_ms, 0u);
  EXPECT_EQ(full.read(s)->last_perform_ms, 1234u);
  ASSERT_EQ(::unlink(Names::shm_path(names_.words()).c_str()), 0);
  ASSERT_TRUE(w.recreate_words());
  EXPECT_FALSE(bare->superseded());
  EXPECT_TRUE(full.superseded());
}

TEST_F(RegistryTest, BriefSnapshotCopiesTheFixedWordsNotTheData) {
  auto w = make_writer();
  SlotRecord in = counter_record(*w.allocate(), 1);
  in.id = "brief";
  in.pid = 4242;
  in.restarts = 2;
  in.started_ms = 123456;
  in.status = WorkerStatus::kRestarting;
  in.last_exit = ExitInfo::from_wait_status(SIGKILL);
  in.payload = R"({"n":1})";
  in.value = R"("v")";
  in.options = R"({"o":1})";
  ASSERT_TRUE(w.write(in));
  ExitRecord x;
  x.at_ms = 5;
  x.exit = in.last_exit;
  ASSERT_TRUE(w.record_exit(in.slot, x));
  auto worker = words_of(in.slot);
  worker.set_mailbox_depth(17);
  worker.set_busy_since(99);
  auto r = make_reader();

  auto full = r.snapshot();
  auto brief = r.snapshot(RegistryReader::Detail::kBrief);
  ASSERT_TRUE(full && brief);
  ASSERT_EQ(full->size(), 1U);
  ASSERT_EQ(brief->size(), 1U);
  const SlotRecord& b = brief->front();
  const SlotRecord& f = full->front();
  EXPECT_EQ(b.id, "brief");
  EXPECT_EQ(b.slot, in.slot);
  EXPECT_EQ(b.pid, 4242);
  EXPECT_EQ(b.restarts, 2U);
  EXPECT_EQ(b.started_ms, 123456U);
  EXPECT_EQ(b.status, WorkerStatus::kRestarting);
  EXPECT_EQ(b.last_exit.reason, f.last_exit.reason);
  EXPECT_EQ(b.busy_since_ms, 99U);
  EXPECT_EQ(b.incarnation, f.incarnation);
  // What it leaves out, and the full snapshot does not.
  EXPECT_EQ(f.payload, in.payload);
  EXPECT_EQ(f.exits.size(), 1U);
  EXPECT_EQ(b.payload, SlotRecord{}.payload);  // left at the default ("null")
  EXPECT_EQ(b.value, SlotRecord{}.value);
  EXPECT_EQ(b.options, "{}");
  EXPECT_TRUE(b.exits.empty());
  EXPECT_EQ(r.mailbox_depth(in.slot), 17U);
  EXPECT_EQ(r.mailbox_depth(in.slot), r.stats(in.slot).mailbox_depth);
  EXPECT_EQ(r.mailbox_depth(1'000'000), 0U);
}

TEST_F(RegistryTest, WriterAndReaderInDifferentProcesses) {
  auto w = make_writer();
  const std::uint32_t s = put(w, 10);
  SharedBlock<testing::ChildNote> note;
  const pid_t pid = spawn([&] {
    auto r = RegistryReader::open(names_);
    if (!r) {
      note->write(r.error().message);
      return 1;
    }
    auto rec = r->find("w" + std::to_string(s));
    if (!rec) {
      note->write(rec.error().message);
      return 2;
    }
    note->write(check_counter_record(*rec));
    return rec->value == "10" ? 0 : 3;
  });
  const int status = testing::wait_child(pid, std::chrono::seconds(10));
  EXPECT_TRUE(testing::exited_with(status, 0))
      << testing::describe_status(status) << " " << note->read();
}

// ---------------------------------------------------------------- id index

// find() goes through the id index: through put/del/rename churn (enough
// deletions to force many tombstone rebuilds) every live id is found in its
// slot and every removed one is not.
TEST_F(RegistryTest, IdIndexFindsEveryLiveIdThroughChurn) {
  auto w = make_writer(small_config(64, 128));
  auto r = make_reader();
  std::mt19937 rng(11);
  std::map<std::string, std::uint32_t> live;  // id -> slot
  std::map<std::uint32_t, std::string> by_slot;
  std::vector<std::string> gone;
  int serial = 0;
  for (int op = 0; op < 3000; ++op) {
    const int kind = static_cast<int>(rng() % 3);
    if (kind == 0 && live.size() < 64) {  // put a new id
      auto slot = w.allocate();
      ASSERT_TRUE(slot);
      SlotRecord rec = counter_record(*slot, 1);
      rec.id = "id-" + std::to_string(serial++);
      ASSERT_TRUE(w.write(rec));
      live[rec.id] = *slot;
      by_slot[*slot] = rec.id;
    } else if (kind == 1 && !live.empty()) {  // del
      auto it = std::next(live.begin(), static_cast<long>(rng() % live.size()));
      w.release(it->second);
      by_slot.erase(it->second);
      gone.push_back(it->first);
      live.erase(it);
    } else if (kind == 2 && !live.empty()) {  // the same slot gets another id
      auto it = std::next(live.begin(), static_cast<long>(rng() % live.size()));
      SlotRecord rec = counter_record(it->second, 2);
      rec.id = "renamed-" + std::to_string(serial++);
      ASSERT_TRUE(w.write(rec));
      gone.push_back(it->first);
      live[rec.id] = it->second;
      by_slot[it->second] = rec.id;
      live.erase(it);
    }
    if (op % 50 != 0) continue;
    if (op == 2950) {
      EXPECT_GT(w.header().index_generation, 0u) << "no rebuild was exercised";
    }
    for (const auto& [id, slot] : live) {
      auto found = r.find(id);
      ASSERT_TRUE(found) << "op " << op << ": " << id << ": " << found.error().message;
      EXPECT_EQ(found->slot, slot) << id;
    }
    for (std::size_t i = gone.size() > 20 ? gone.size() - 20 : 0; i < gone.size(); ++i) {
      if (live.count(gone[i]) != 0) continue;
      auto found = r.find(gone[i]);
      ASSERT_FALSE(found) << "op " << op << ": removed id " << gone[i] << " still found";
      EXPECT_EQ(found.error().code, Errc::kNotFound);
    }
  }
}

// A reader in another process looking up an id that never moves always finds
// it, while the writer churns every other slot and rebuilds the index.
TEST_F(RegistryTest, AStableIdIsAlwaysFoundWhileTheIndexIsRebuilt) {
  auto w = make_writer(small_config(16, 128));
  SlotRecord stable = counter_record(0, 7);
  stable.id = "stable";
  ASSERT_TRUE(w.allocate());
  ASSERT_TRUE(w.write(stable));
  SharedBlock<std::atomic<int>> stop;
  SharedBlock<testing::ChildNote> note;
  const pid_t pid = spawn([&] {
    auto r = RegistryReader::open(names_);
    if (!r) return 1;
    int lookups = 0;
    while (stop->load() == 0 || lookups < 20000) {
      auto rec = r->find("stable");
      if (!rec || rec->slot != 0 || rec->value != "7") {
        note->write(rec ? "wrong record in slot " + std::to_string(rec->slot)
                        : rec.error().message);
        return 2;
      }
      ++lookups;
    }
    return 0;
  });
  for (int round = 0; round < 20000; ++round) {
    auto slot = w.allocate();
    ASSERT_TRUE(slot);
    SlotRecord rec = counter_record(*slot, 1);
    rec.id = "churn-" + std::to_string(round);
    ASSERT_TRUE(w.write(rec));
    w.release(*slot);
  }
  stop->store(1);
  EXPECT_GE(w.header().index_generation, 2u * 100) << "the churn must rebuild the index often";
  const int status = testing::wait_child(pid, std::chrono::seconds(30));
  EXPECT_TRUE(testing::exited_with(status, 0))
      << testing::describe_status(status) << " " << note->read();
}

// A pid that certainly names no process any more (a reaped child).
pid_t dead_pid() {
  const pid_t pid = testing::fork_child([] { return 0; });
  testing::wait_child(pid);
  return pid;
}

TEST_F(RegistryTest, TornSlotOfADeadWriterIsReportedAtOnce) {
  // RegistryTestHooks::begin_update leaves the slot's seqlock odd, as a writer killed
  // mid-update would: a reader gives up with kTorn, it does not spin forever.
  auto w = make_writer();
  auto r = make_reader();
  const std::uint32_t a = put(w, 1);
  const std::uint32_t b = put(w, 2);
  RegistryTestHooks::begin_update(w, b);
  w.set_supervisor(dead_pid(), 0);  // the writer is gone
  const auto t0 = std::chrono::steady_clock::now();
  auto torn = r.read(b);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(torn);
  EXPECT_EQ(torn.error().code, Errc::kTorn);
  EXPECT_NE(torn.error().message.find("slot " + std::to_string(b)), std::string::npos);
  EXPECT_LT(took, std::chrono::milliseconds(300));
  EXPECT_TRUE(r.read(a));  // other slots are unaffected
  auto snap = r.snapshot();
  ASSERT_FALSE(snap);
  EXPECT_EQ(snap.error().code, Errc::kTorn);
}

TEST_F(RegistryTest, LiveWriterMidUpdateIsWaitedForButNotForever) {
  // A live writer may be preempted mid-update: the reader waits for it (about a
  // second), then reports kTorn rather than hang.
  auto w = make_writer();
  auto r = make_reader();
  const std::uint32_t b = put(w, 2);
  RegistryTestHooks::begin_update(w, b);
  const auto t0 = std::chrono::steady_clock::now();
  auto torn = r.read(b);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(torn);
  EXPECT_EQ(torn.error().code, Errc::kTorn);
  EXPECT_GE(took, std::chrono::milliseconds(500));
  EXPECT_LT(took, std::chrono::seconds(3));
}

// ---------------------------------------------------------------- limits (DESIGN §4.7)

TEST_F(RegistryTest, CapacityFullIsAClearErrorAndChangesNothing) {
  auto w = make_writer(small_config(4));
  auto r = make_reader();
  for (std::uint64_t n = 0; n < 4; ++n) put(w, 100 + n);
  auto before = r.snapshot();
  ASSERT_TRUE(before);
  ASSERT_EQ(before->size(), 4U);
  const auto header_before = r.header();

  for (int attempt = 0; attempt < 3; ++attempt) {
    auto full = w.allocate();
    ASSERT_FALSE(full) << "allocated slot " << *full << " beyond capacity";
    EXPECT_EQ(full.error().code, Errc::kFull);
    EXPECT_NE(full.error().message.find("registry is full: 4 workers"), std::string::npos)
        << full.error().message;
    EXPECT_NE(full.error().message.find("--max-workers"), std::string::npos);
  }

  auto after = r.snapshot();
  ASSERT_TRUE(after);
  EXPECT_EQ(dump_all(*after), dump_all(*before));
  EXPECT_EQ(r.header().used, header_before.used);
  EXPECT_EQ(r.header().high_water, header_before.high_water);

  // Freeing one slot makes exactly that one available again.
  w.release(2);
  auto again = w.allocate();
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 2U);
  EXPECT_FALSE(w.allocate());
}

struct TooLargeCase {
  const char* label;
  std::size_t payload;
  std::size_t value;
  const char* what;  // "payload" or "value"
  friend void PrintTo(const TooLargeCase& c, std::ostream* os) { *os << '"' << c.label << '"'; }
};

class RegistryTooLargeTest : public RegistryTest,
                             public ::testing::WithParamInterface<TooLargeCase> {};

TEST_P(RegistryTooLargeTest, IsRejectedAndNothingStoredChanges) {
  const auto& c = GetParam();
  auto w = make_writer(small_config(4, 128));
  auto r = make_reader();
  for (std::uint64_t n = 0; n < 4; ++n) put(w, n);
  auto before = r.snapshot();
  ASSERT_TRUE(before);

  for (std::uint32_t slot = 0; slot < 4; ++slot) {
    SlotRecord rec = counter_record(slot, 1000 + slot);
    rec.payload = std::string(c.payload, 'p');
    rec.value = std::string(c.value, 'v');
    auto st = w.write(rec);
    ASSERT_FALSE(st) << "slot " << slot;
    EXPECT_EQ(st.error().code, Errc::kTooLarge);
    const std::string& msg = st.error().message;
    EXPECT_NE(msg.find(c.what), std::string::npos) << msg;
    EXPECT_NE(msg.find("limit of 128 bytes"), std::string::npos) << msg;
  }
  auto after = r.snapshot();
  ASSERT_TRUE(after);
  EXPECT_EQ(dump_all(*after), dump_all(*before));
}

INSTANTIATE_TEST_SUITE_P(
    Registry, RegistryTooLargeTest,
    ::testing::Values(TooLargeCase{"payload_one_over", 129, 4, "payload of 129"},
                      TooLargeCase{"payload_far_over", 100000, 4, "payload of 100000"},
                      TooLargeCase{"value_one_over", 4, 129, "value of 129"},
                      TooLargeCase{"both_over", 200, 300, "payload of 200"}),
    [](const auto& tp) { return std::string(tp.param.label); });

TEST_F(RegistryTest, PayloadAtTheLimitFits) {
  auto w = make_writer(small_config(2, 128));
  auto r = make_reader();
  SlotRecord rec = counter_record(0, 1);
  rec.payload = std::string(128, 'p');
  rec.value = std::string(128, 'v');
  ASSERT_TRUE(w.allocate());
  ASSERT_TRUE(w.write(rec));
  auto out = r.read(0);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->payload, rec.payload);
  EXPECT_EQ(out->value, rec.value);
  // The neighbouring slot is untouched by a full-size payload.
  EXPECT_FALSE(r.read(1));
}

// Small payload + value live inline in the slot header, larger ones out of
// line; one slot moves between the two as its data grows and shrinks, and the
// neighbours never see a byte of it. Sizes straddle the inline room (368 bytes).
struct PlacementCase {
  const char* label;
  std::size_t payload;
  std::size_t value;
};

class RegistryPlacement : public RegistryTest,
                          public ::testing::WithParamInterface<PlacementCase> {};

TEST_P(RegistryPlacement, RoundTripsAndMovesBetweenInlineAndOutOfLine) {
  const auto& c = GetParam();
  auto w = make_writer(small_config(3, 1024));
  auto r = make_reader();
  for (std::uint64_t n = 0; n < 3; ++n) put(w, n);
  const std::string neighbours_before = dump(*r.read(0)) + dump(*r.read(2));
  SlotRecord rec = counter_record(1, 1);
  // Every step rewrites slot 1: tiny, the case, large, the case again, tiny.
  const std::pair<std::size_t, std::size_t> steps[] = {
      {1, 1}, {c.payload, c.value}, {1024, 1024}, {c.payload, c.value}, {2, 0}};
  char fill = 'a';
  for (const auto& [pl, vl] : steps) {
    rec.payload = std::string(pl, fill++);
    rec.value = std::string(vl, fill++);
    ASSERT_TRUE(w.write(rec)) << pl << "+" << vl;
    auto out = r.read(1);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->payload, rec.payload) << pl << "+" << vl;
    EXPECT_EQ(out->value, rec.value) << pl << "+" << vl;
    auto back = w.read(1);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->payload, rec.payload);
  }
  EXPECT_EQ(dump(*r.read(0)) + dump(*r.read(2)), neighbours_before);
}

INSTANTIATE_TEST_SUITE_P(Registry, RegistryPlacement,
                         ::testing::Values(PlacementCase{"empty", 0, 0},
                                           PlacementCase{"inline_exact", 200, 168},
                                           PlacementCase{"one_over_inline", 200, 169},
                                           PlacementCase{"payload_only_over", 369, 0},
                                           PlacementCase{"value_only_over", 0, 369},
                                           PlacementCase{"both_at_limit", 1024, 1024}),
                         [](const auto& tp) { return std::string(tp.param.label); });

// The writer of a fresh segment maps what it writes, not the whole table: the
// supervisor's resident memory grows with its workers, not with --max-workers.
TEST_F(RegistryTest, AFreshWriterDoesNotTouchEverySlot) {
  const auto rss_kb = [] {
    std::ifstream in("/proc/self/status");
    std::string line;
    long shmem = -1;
    while (std::getline(in, line)) {
      if (line.rfind("RssShmem:", 0) == 0) shmem = std::atol(line.c_str() + 9);
    }
    return shmem;
  };
  const long before = rss_kb();
  ASSERT_GE(before, 0);
  auto w = make_writer(small_config(100000, 4096));  // 100 MiB of slot headers alone
  for (std::uint64_t n = 0; n < 10; ++n) put(w, n);
  // 10 small workers: a few pages, far from the 100 000 a full scan would map.
  EXPECT_LT(rss_kb() - before, 4096) << "KiB of shared memory mapped by the writer";
}

// ---------------------------------------------------------------- attach

TEST_F(RegistryTest, AttachKeepsEverySlotAndContinuesIncarnations) {
  std::vector<std::string> before;
  std::uint64_t max_inc = 0;
  {
    auto w = make_writer();
    for (std::uint64_t n = 0; n < 5; ++n) put(w, n);
    w.release(2);
    auto snap = make_reader().snapshot();
    ASSERT_TRUE(snap);
    before = dump_all(*snap);
    for (const auto& rec : *snap) max_inc = std::max(max_inc, rec.incarnation);
  }
  auto w = RegistryWriter::attach(names_);
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_TRUE(w->torn_slots().empty());
  EXPECT_EQ(w->config().capacity, 8U);
  EXPECT_EQ(w->config().max_payload, 256U);
  EXPECT_EQ(w->header().used, 4U);
  auto r = make_reader();
  auto snap = r.snapshot();
  ASSERT_TRUE(snap);
  EXPECT_EQ(dump_all(*snap), before);
  // The free slot 2 is reused first, with a fresh incarnation.
  auto s = w->allocate();
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, 2U);
  ASSERT_TRUE(w->write(counter_record(2, 9)));
  EXPECT_GT(r.read(2)->incarnation, max_inc);
}

// A writer killed part way through a slot change (layout 12's journal): the
// next writer finishes a change whose journal was complete, and a change
// still being composed never touched the slot. Both with data out of line
// and options, the parts copied after the header.
SlotRecord large_record(std::uint32_t slot, char fill, std::uint64_t n) {
  SlotRecord r = counter_record(slot, n);
  r.payload = "\"" + std::string(240, fill) + "\"";  // with the value, beyond inline
  r.options = "{\"k\":\"" + std::string(100, fill) + "\"}";
  return r;
}

TEST_F(RegistryTest, AChangeKilledHalfWayIntoItsSlotIsFinishedByTheNextWriter) {
  std::uint32_t slot = 0;
  std::uint32_t other = 0;
  {
    auto w = make_writer();
    other = put(w, 7);
    auto s = w.allocate();
    ASSERT_TRUE(s);
    slot = *s;
    ASSERT_TRUE(w.write(large_record(slot, 'a', 1)));
    ASSERT_TRUE(w.record_exit(slot, ExitRecord{}));
    ASSERT_TRUE(RegistryTestHooks::die_in_slot(w, large_record(slot, 'b', 2)));
  }
  auto w = RegistryWriter::attach(names_);
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_TRUE(w->torn_slots().empty());
  ASSERT_TRUE(w->finished_slot());
  EXPECT_EQ(*w->finished_slot(), slot);
  auto r = make_reader();
  auto got = r.read(slot);
  ASSERT_TRUE(got) << got.error().message;
  SlotRecord want = large_record(slot, 'b', 2);
  EXPECT_EQ(got->payload, want.payload);
  EXPECT_EQ(got->options, want.options);
  EXPECT_EQ(got->value, want.value);
  EXPECT_EQ(got->pid, want.pid);
  EXPECT_EQ(got->exits.size(), 1U);  // the history is not the change's: kept
  EXPECT_EQ(r.stats(slot).exits[static_cast<std::size_t>(ExitInfo::Kind::kNone)], 1U);
  EXPECT_EQ(check_counter_record(*r.read(other)), "");
  EXPECT_TRUE(r.find(want.id));
  // Done: a later attach has nothing to finish.
  w = RegistryWriter::attach(names_);
  ASSERT_TRUE(w);
  EXPECT_FALSE(w->finished_slot());
}

TEST_F(RegistryTest, AChangeKilledWhileItsJournalWasComposedLeavesTheSlotAsItWas) {
  std::uint32_t slot = 0;
  {
    auto w = make_writer();
    slot = put(w, 3);
    ASSERT_TRUE(RegistryTestHooks::die_in_journal(w, large_record(slot, 'z', 4)));
  }
  auto w = RegistryWriter::attach(names_);
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_TRUE(w->torn_slots().empty());
  EXPECT_FALSE(w->finished_slot());
  auto got = make_reader().read(slot);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(dump(*got), dump([&] {
              SlotRecord want = counter_record(slot, 3);
              want.incarnation = got->incarnation;
              want.updated_ms = got->updated_ms;
              return want;
            }()));
}

// Memory per id that never ran (a passive id, say): its 1 KiB header and
// nothing else, no words page (a hole until a worker writes it) and no
// out-of-line area for small data.
TEST_F(RegistryTest, AnIdThatNeverRanCostsItsSlotHeaderAndNothingElse) {
  const auto committed = [&] {
    std::size_t bytes = 0;
    for (const auto& n : {names_.registry(), names_.words()}) {
      struct stat st {};
      if (::stat(Names::shm_path(n).c_str(), &st) == 0) bytes += std::size_t(st.st_blocks) * 512;
    }
    return bytes;
  };
  auto w = make_writer(small_config(4000, 4096));
  const std::size_t before = committed();
  constexpr std::uint32_t kIds = 2000;
  for (std::uint32_t i = 0; i < kIds; ++i) {
    auto s = w.allocate();
    ASSERT_TRUE(s);
    SlotRecord r;
    r.slot = *s;
    r.id = "passive-" + std::to_string(i);
    r.status = WorkerStatus::kPassive;
    r.payload = "{\"n\":" + std::to_string(i) + "}";
    ASSERT_TRUE(w.write(r));
  }
  // The id index (8 buckets of 4 bytes per slot of capacity) is the only other cost.
  const std::size_t index = 8192 * 4;
  const std::size_t grew = committed() - before;
  EXPECT_LE(grew, kIds * 1024 + index) << grew / kIds << " bytes per id";
  // A slot given back and taken by another id: its worker's words read as zeros.
  // (A worker is spawned only once its words page is reserved, as here.)
  ASSERT_TRUE(w.reserve_words(0));
  {
    auto words = words_of(0);
    words.set_busy_since(42);
    words.count_work(Work::kCall, 10);
  }
  w.release(0);
  auto s = w.allocate();
  ASSERT_TRUE(s);
  ASSERT_EQ(*s, 0U);
  ASSERT_TRUE(w.write(counter_record(0, 5)));
  auto r = make_reader();
  EXPECT_EQ(r.read(0)->busy_since_ms, 0U);
  EXPECT_EQ(r.stats(0).calls, 0U);
}

// ---------------------------------------------------------------- stale segments (DESIGN §4.5)

// Raw helpers that put something under the registry name behind dynmgr's back.
void write_raw_object(const std::string& name, std::size_t size,
                      const std::function<void(char*)>& fill = {}) {
  ::shm_unlink(name.c_str());
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  if (size > 0) {
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    if (fill) {
      void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      ASSERT_NE(p, MAP_FAILED);
      fill(static_cast<char*>(p));
      ::munmap(p, size);
    }
  }
  ::close(fd);
}

// Maps an existing object read-write and lets fn patch it.
void patch_object(const std::string& name, const std::function<void(char*, std::size_t)>& fn) {
  const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  const auto size = static_cast<std::size_t>(st.st_size);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  fn(static_cast<char*>(p), size);
  ::munmap(p, size);
  ::close(fd);
}

void truncate_object(const std::string& name, std::size_t size) {
  const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
  ::close(fd);
}

struct StaleCase {
  const char* label;
  // Leaves a stale object under the registry name (may create a real registry first).
  std::function<void(const Names&)> make;
  Errc open_error;    // what RegistryReader::open must return
  bool attach_fails;  // RegistryWriter::attach must refuse it too
  const char* reason;
  friend void PrintTo(const StaleCase& c, std::ostream* os) { *os << '"' << c.label << '"'; }
};

class RegistryStale : public RegistryTest, public ::testing::WithParamInterface<StaleCase> {};

// A real registry (its creator gone) whose header is then patched: the segment
// stays otherwise valid.
void real_registry(const Names& n) {
  RegistryConfig c;
  c.capacity = 8;
  c.max_payload = 256;
  ASSERT_TRUE(RegistryWriter::create(n, c));
}
void real_then_patch(const Names& n, const std::function<void(char*, std::size_t)>& fn) {
  real_registry(n);
  patch_object(n.registry(), fn);
}

template <class T>
void put_at(char* p, std::size_t off, T v) {
  std::memcpy(p + off, &v, sizeof v);
}

// Offsets pinned by the layout in registry.cpp (Header): magic u64 at 0,
// layout_version u32 at 8, boost_version u32 at 12, capacity u32 at 24.
const StaleCase kStaleCases[] = {
    {"zero_size", [](const Names& n) { write_raw_object(n.registry(), 0); }, Errc::kStale, true,
     "truncated (0 bytes)"},
    {"tiny", [](const Names& n) { write_raw_object(n.registry(), 100); }, Errc::kStale, true,
     "truncated (100 bytes)"},
    {"zeros_never_ready", [](const Names& n) { write_raw_object(n.registry(), 1 << 20); },
     Errc::kStale, true, "never fully initialized"},
    {"garbage",
     [](const Names& n) {
       write_raw_object(n.registry(), 1 << 16, [](char* p) { std::memset(p, 0x5a, 1 << 16); });
     },
     Errc::kStale, true, ""},
    {"ready_word_cleared",
     [](const Names& n) {
       real_then_patch(n, [](char* p, std::size_t) {
         const std::uint32_t ready = 0x52454459;  // "REDY", searched for, not assumed
         for (std::size_t off = 0; off < 4096; off += 4) {
           if (std::memcmp(p + off, &ready, 4) == 0) std::memset(p + off, 0, 4);
         }
       });
     },
     Errc::kStale, true, "never fully initialized"},
    {"wrong_magic",
     [](const Names& n) {
       real_then_patch(
           n, [](char* p, std::size_t) { put_at<std::uint64_t>(p, 0, 0x1122334455667788ULL); });
     },
     Errc::kStale, true, "another layout"},
    {"wrong_layout_version",
     [](const Names& n) {
       real_then_patch(n, [](char* p, std::size_t) { put_at<std::uint32_t>(p, 8, 99); });
     },
     Errc::kStale, true, "another layout (version 99"},
    {"wrong_boost_version",
     [](const Names& n) {
       real_then_patch(n, [](char* p, std::size_t) { put_at<std::uint32_t>(p, 12, 107000); });
     },
     Errc::kStale, true, "Boost 107000"},
    // Found by fuzz/fuzz_registry_reader: sizing the index for this capacity
    // looped forever (2 * capacity wrapped), so open never returned.
    {"huge_capacity",
     [](const Names& n) {
       real_then_patch(n, [](char* p, std::size_t) { put_at<std::uint32_t>(p, 24, 0x7fffffffU); });
     },
     Errc::kStale, true, "inconsistent (capacity 2147483647"},
    {"truncated_slots",
     [](const Names& n) {
       real_registry(n);
       truncate_object(n.registry(), 4096 + 64);
     },
     Errc::kStale, true, "inconsistent"},
    {"dead_supervisor",
     [](const Names& n) {
       const pid_t pid = testing::fork_child([&] {
         RegistryConfig c;
         c.capacity = 8;
         c.max_payload = 256;
         return RegistryWriter::create(n, c) ? 0 : 1;
       });
       ASSERT_TRUE(testing::exited_with(testing::wait_child(pid), 0));
     },
     Errc::kNoSupervisor, false, "stale registry of pid"},
};

TEST_P(RegistryStale, IsDetectedWithoutWaitingAndReplacedByCreate) {
  const auto& c = GetParam();
  c.make(names_);
  if (HasFatalFailure()) return;
  ASSERT_FALSE(testing::shm_objects(names_).empty());

  // The verdict is reached in a child with a deadline: a hang fails the test
  // instead of wedging it.
  struct Verdict {
    std::atomic<int> open_errc{-1};
    std::atomic<int> attach_errc{-1};
    std::atomic<long> open_us{-1};
    std::atomic<long> attach_us{-1};
    testing::ChildNote open_msg;
    testing::ChildNote note;
  };
  SharedBlock<Verdict> v;
  const pid_t pid = spawn([&] {
    auto t0 = std::chrono::steady_clock::now();
    auto r = RegistryReader::open(names_);
    v->open_us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    if (r) return 1;
    v->open_errc = static_cast<int>(r.error().code);
    v->open_msg.write(r.error().message);
    t0 = std::chrono::steady_clock::now();
    auto a = RegistryWriter::attach(names_);
    v->attach_us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    v->attach_errc = a ? 0 : static_cast<int>(a.error().code);
    // The supervisor holding the instance lock replaces whatever is there.
    RegistryConfig cfg;
    cfg.capacity = 8;
    cfg.max_payload = 256;
    auto w = RegistryWriter::create(names_, cfg);
    if (!w) {
      v->note.write("create: " + w.error().message);
      return 2;
    }
    auto slot = w->allocate();
    if (!slot || !w->write(testing::counter_record(*slot, 5))) return 3;
    auto r2 = RegistryReader::open(names_);
    if (!r2) {
      v->note.write("open after create: " + r2.error().message);
      return 4;
    }
    auto rec = r2->read(*slot);
    if (!rec || rec->value != "5") return 5;
    return 0;
  });
  const int status = testing::wait_child(pid, std::chrono::seconds(10));
  ASSERT_TRUE(testing::exited_with(status, 0))
      << testing::describe_status(status) << " (a kill by signal 9 means it hung) "
      << v->note.read();
  EXPECT_EQ(v->open_errc.load(), static_cast<int>(c.open_error)) << v->open_msg.read();
  EXPECT_NE(v->open_msg.read().find(c.reason), std::string::npos) << v->open_msg.read();
  EXPECT_LT(v->open_us.load(), 1'000'000) << "open waited on a stale segment";
  EXPECT_LT(v->attach_us.load(), 1'000'000) << "attach waited on a stale segment";
  if (c.attach_fails) {
    EXPECT_EQ(v->attach_errc.load(), static_cast<int>(Errc::kStale));
  } else {
    EXPECT_EQ(v->attach_errc.load(), 0);  // a dead supervisor's valid registry is adoptable
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, RegistryStale, ::testing::ValuesIn(kStaleCases),
                         [](const auto& tp) { return std::string(tp.param.label); });

// ---------------------------------------------------------------- exit history

ExitRecord exit_n(std::uint64_t n) {
  ExitRecord x;
  x.at_ms = 1000 + n;
  x.uptime_ms = n * 10;
  x.exit.kind = ExitInfo::Kind::kExited;
  x.exit.code = static_cast<int>(n);
  x.exit.reason = "exited with code " + std::to_string(n);
  x.restarted = n % 2 == 0;
  x.restart_in_ms = x.restarted ? n * 100 : 0;
  return x;
}

TEST_F(RegistryTest, ExitHistoryKeepsTheLastTenNewestFirst) {
  auto w = make_writer();
  auto r = make_reader();
  const auto slot = w.allocate().value();
  ASSERT_TRUE(w.write(counter_record(slot, 1)));
  EXPECT_TRUE(r.read(slot)->exits.empty());
  for (std::uint64_t n = 1; n <= 12; ++n) ASSERT_TRUE(w.record_exit(slot, exit_n(n)));
  auto got = r.read(slot);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->exits.size(), kExitHistory);
  for (std::size_t k = 0; k < kExitHistory; ++k) {
    EXPECT_EQ(got->exits[k], exit_n(12 - k)) << k;  // 12 (newest) down to 3
  }
  // A write of the record (every perform) leaves the history alone.
  ASSERT_TRUE(w.write(counter_record(slot, 2)));
  EXPECT_EQ(r.read(slot)->exits.size(), kExitHistory);
  EXPECT_EQ(r.find("w" + std::to_string(slot))->exits.front(), exit_n(12));
}

TEST_F(RegistryTest, ExitHistoryGoesWithTheIdAndCutsLongReasons) {
  auto w = make_writer();
  auto r = make_reader();
  const auto slot = w.allocate().value();
  ASSERT_TRUE(w.write(counter_record(slot, 1)));
  ExitRecord x = exit_n(1);
  x.exit.reason = std::string(1000, 'r');
  ASSERT_TRUE(w.record_exit(slot, x));
  EXPECT_EQ(r.read(slot)->exits.at(0).exit.reason, std::string(216, 'r'));
  // replace(new_id): the slot gets another id, which starts without history.
  auto renamed = counter_record(slot, 1);
  renamed.id = "other";
  ASSERT_TRUE(w.write(renamed));
  EXPECT_TRUE(r.read(slot)->exits.empty());
  ASSERT_TRUE(w.record_exit(slot, exit_n(2)));
  w.release(slot);
  const auto again = w.allocate().value();
  ASSERT_EQ(again, slot);
  ASSERT_TRUE(w.write(counter_record(slot, 3)));
  EXPECT_TRUE(r.read(slot)->exits.empty());
  // Only slots in use have a history.
  EXPECT_EQ(w.record_exit(slot + 1, exit_n(1)).error().code, Errc::kInvalid);
  EXPECT_EQ(w.record_exit(small_config().capacity, exit_n(1)).error().code, Errc::kInvalid);
}

TEST_F(RegistryTest, SetExitsRestoresAStoredHistory) {
  auto w = make_writer();
  auto r = make_reader();
  const auto slot = w.allocate().value();
  ASSERT_TRUE(w.write(counter_record(slot, 1)));
  std::vector<ExitRecord> stored;
  for (std::uint64_t n = 15; n > 0; --n) stored.push_back(exit_n(n));
  ASSERT_TRUE(w.set_exits(slot, stored));
  auto got = r.read(slot)->exits;
  ASSERT_EQ(got.size(), kExitHistory);
  EXPECT_EQ(got.front(), exit_n(15));
  EXPECT_EQ(got.back(), exit_n(6));
  ASSERT_TRUE(w.record_exit(slot, exit_n(16)));
  EXPECT_EQ(r.read(slot)->exits.front(), exit_n(16));
  EXPECT_EQ(r.read(slot)->exits.back(), exit_n(7));
}

}  // namespace
}  // namespace dynmgr

// ---------------------------------------------------------------- recreate

namespace dynmgr {
namespace {

// README "Tampered shared memory": a registry removed or truncated under a
// running supervisor is recreated from the writer's own records; each slot
// keeps its index and incarnation (workers and clients address it so), and
// what only the segment held (exit history, counters) comes along as far as
// the old object still holds it.
TEST_F(RegistryTest, RecreateAfterRemovalKeepsSlotsIncarnationsHistoryAndCounters) {
  auto w = make_writer();
  const std::uint32_t a = put(w, 1);
  const std::uint32_t b = put(w, 2);
  ExitRecord x;
  x.at_ms = 5;
  x.exit.kind = ExitInfo::Kind::kExited;
  x.exit.code = 3;
  x.exit.reason = "exit 3";
  ASSERT_TRUE(w.record_exit(b, x));
  std::vector<SlotRecord> recs = {*w.read(a), *w.read(b)};
  {
    words_of(b).count_work(Work::kCall, 100);
  }
  ASSERT_EQ(::unlink(Names::shm_path(names_.registry()).c_str()), 0);
  EXPECT_EQ(w.intact().error().code, Errc::kNotFound);

  ASSERT_TRUE(w.recreate(recs));
  EXPECT_TRUE(w.intact());
  auto r = make_reader();
  for (const auto& want : recs) {
    auto got = r.read(want.slot);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->id, want.id);
    EXPECT_EQ(got->incarnation, want.incarnation);
    EXPECT_EQ(got->payload, want.payload);
    ASSERT_TRUE(r.find(want.id));
  }
  auto hb = r.read(b);
  ASSERT_EQ(hb->exits.size(), 1u);
  EXPECT_EQ(hb->exits[0].exit.reason, "exit 3");
  EXPECT_EQ(r.stats(b).calls, 1u);
  EXPECT_EQ(r.header().used, 2u);
  // The next slot handed out is a new one, with a new incarnation.
  const std::uint32_t c = put(w, 3);
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
  EXPECT_GT(w.read(c)->incarnation, std::max(recs[0].incarnation, recs[1].incarnation));
}

TEST_F(RegistryTest, RecreateAfterTruncationRestoresTheRecordsFromTheWriter) {
  auto w = make_writer();
  const std::uint32_t a = put(w, 7);
  std::vector<SlotRecord> recs = {*w.read(a)};
  ASSERT_EQ(::truncate(Names::shm_path(names_.registry()).c_str(), 0), 0);
  EXPECT_EQ(w.intact().error().code, Errc::kStale);
  ASSERT_TRUE(w.recreate(recs));
  auto r = make_reader();
  auto got = r.read(a);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->id, recs[0].id);
  EXPECT_EQ(got->incarnation, recs[0].incarnation);
  EXPECT_EQ(got->payload, recs[0].payload);
}

}  // namespace
}  // namespace dynmgr
