#include "shared/registry.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <boost/version.hpp>
#include <cerrno>
#include <cstring>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "shared/clock.hpp"
#include "shared/enum_names.hpp"
#include "shared/json.hpp"
#include "shared/process_identity.hpp"

namespace bip = boost::interprocess;

namespace dynmgr {
namespace {

constexpr std::uint64_t kMagic = 0x52474d4e59440001ULL;  // "DYNMGR" + 0001
// 2: pool_strategy in the header, 256-byte exit reasons.
// 3: dense 1 KiB slot headers with small payload + value inline; larger data
//    out of line (see the layout note below).
// 4: an id -> slot hash index, so finding a worker by id does not scan.
// 5: what adoption needs: the spec's options (out of line), the orphan grace,
//    the adopted count and the supervisor's start time in the header.
// 6: the state database's health (persistence, its dir, its last error) in the header.
// 7: each slot's last kExitHistory exits, after its out-of-line data, and a
//    table of per-slot counters for metrics (SlotStats).
// 8: the containment the supervisor chose, in the header.
// 9: resource limits in the slot (max_memory, rlimits, on_overrun kill) and two
//    more exit kinds (overrun, max_memory) in the per-slot exit counters.
// 10: the worker-owned words (busy since, last perform, work counters) moved
//    out to the words object, a page per slot; the registry is read-only to
//    workers. The header records the words' stride. The spec's user and group
//    (as given) and the ids they resolved to.
// 11: passivation: the spec's passivate_after and the slot's passivation count
//    (in the two words layout 10 left unused), statuses passive and passivating.
// 12: a write-ahead journal of the slot change in progress (a successor of a
//    writer killed mid-write finishes the change instead of losing the slot);
//    the exit counters moved into the slot header (inline data 248 -> 192
//    bytes), so a slot in use costs its 1 KiB header and nothing else.
constexpr std::uint32_t kLayoutVersion = 12;
constexpr std::uint32_t kReadyWord = 0x52454459;  // "REDY"
constexpr std::size_t kIdCapacity = 256;
constexpr std::size_t kReasonCapacity = 256;
constexpr std::size_t kStateDirCapacity = 1024;
constexpr std::uint32_t kMaxStatus = enums::max_value<WorkerStatus>();
constexpr ExitInfo::Kind kMaxExitKind = static_cast<ExitInfo::Kind>(enums::max_value<ExitInfo::Kind>());
// A reader that finds a slot mid-update spins, then yields, then — if the writer
// is still alive — sleeps in short steps for at most kLiveWriterPatience: a live
// writer may simply be preempted mid-update (tens of ms on a loaded machine), and
// calling that kTorn made snapshots fail at random under load. A dead writer
// never finishes, so its slot is kTorn as soon as the yield phase is over.
// (Few yields: under load each one can give the CPU away for a whole timeslice.)
constexpr int kSpinRetries = 64;
constexpr int kYieldRetries = kSpinRetries + 64;
constexpr auto kLiveWriterPatience = std::chrono::milliseconds(1000);
constexpr auto kPatienceStep = std::chrono::microseconds(100);

// Everything below lives in shared memory: fixed layout, no pointers, no locks.
struct alignas(64) Header {
  std::uint64_t magic;
  std::uint32_t layout_version;
  std::uint32_t boost_version;
  std::uint32_t header_size;
  std::uint32_t slot_size;
  std::uint32_t capacity;
  std::uint32_t max_payload;
  std::uint32_t control_depth;
  std::uint32_t control_msg_size;
  std::uint32_t mailbox_depth;
  std::uint32_t mailbox_msg_size;
  std::uint64_t generation;
  std::uint64_t created_ms;
  std::atomic<std::int32_t> supervisor_pid;
  std::atomic<std::uint32_t> manager_state;
  std::atomic<std::uint64_t> supervisor_start_time;
  std::atomic<std::uint64_t> control_generation;
  std::atomic<std::uint32_t> high_water;
  std::atomic<std::uint32_t> used;
  std::atomic<std::uint64_t> dropped_frames;
  std::atomic<std::uint32_t> pool_strategy;
  std::uint32_t index_buckets;                       // a power of two, >= 2 x capacity
  std::atomic<std::uint64_t> index_generation;       // odd while the index is rebuilt
  std::atomic<std::uint32_t> orphan_grace_ms;        // how long workers wait for a successor
  std::atomic<std::uint32_t> adopted;                // workers the current supervisor adopted
  std::atomic<std::uint64_t> supervisor_started_ms;  // wall ms the current supervisor took over
  // The state database, as the supervisor last saw it. The texts are guarded
  // by persistence_seq (odd while the supervisor rewrites them).
  std::atomic<std::uint32_t> persistence;  // Persistence: 0 off, 1 ok, 2 failing
  std::atomic<std::uint64_t> persistence_seq;
  std::atomic<std::uint64_t> persistence_pending;
  std::atomic<std::uint64_t> persistence_last_commit_ms;
  std::uint32_t state_dir_len;
  char state_dir[kStateDirCapacity];
  std::uint32_t persistence_error_len;
  char persistence_error[kReasonCapacity];
  std::atomic<std::uint32_t> containment;  // Containment
  std::uint32_t words_stride;              // bytes per slot in the words object
  std::atomic<std::uint32_t> ready;        // kReadyWord once every field above is set
};

struct alignas(64) SlotHeader {
  std::atomic<std::uint64_t> seq;  // odd while the writer updates the slot
  // Seqlock-protected too (they held the worker-owned words until layout 9):
  std::uint64_t passivate_after_ms;  // the spec's, 0: never
  std::uint64_t passivations;        // clean stops for idleness of this id
  // Seqlock-protected fields (written only by the supervisor):
  std::uint32_t in_use;
  std::uint32_t status;
  std::uint64_t incarnation;
  std::int32_t pid;
  std::uint32_t restarts;
  std::uint64_t pid_start_time;
  std::uint64_t mailbox_generation;
  std::uint64_t started_ms;
  std::uint64_t updated_ms;
  double lull;
  std::uint32_t timeout_ms;
  std::uint32_t restart_type;
  std::uint32_t flags;  // bit 0 instant_perform, bit 1 pool member
  std::uint32_t max_restarts;
  std::uint32_t within_ms;
  std::int32_t exit_kind;
  std::int32_t exit_code;
  std::uint32_t exit_reason_len;
  char exit_reason[kReasonCapacity];
  std::uint32_t id_len;
  char id[kIdCapacity];
  std::uint32_t payload_len;
  std::uint32_t value_len;
  std::uint32_t options_len;  // the spec's options (JSON text), always out of line
  std::uint32_t exit_count;   // entries in the slot's exit history (0..kExitHistory)
  std::uint64_t max_memory;   // bytes, 0: none
  // Exit counters for metrics, by ExitInfo::Kind: the supervisor's. Zeroed
  // when the slot gets a new id, kept across restarts of the same id.
  std::uint64_t exits[kExitKinds];
  std::uint64_t rlimits[4];   // nofile, as, cpu, core; each set when its kRlimitSet bit is
  std::uint32_t run_uid;      // the ids user/group resolved to, when flag kRunAs is set
  std::uint32_t run_gid;
  char user[kMaxIdentityName];   // the spec's user as given, NUL-padded ("" unset)
  char group[kMaxIdentityName];  // the spec's group as given, NUL-padded
  // payload then value, back to back, when both fit (flag kInlineData);
  // otherwise they sit in the slot's out-of-line area.
  char inline_data[192];
};

// One entry of a slot's exit history (newest first, after its options).
constexpr std::size_t kHistoryReasonCapacity = 216;
struct HistoryEntry {
  std::uint64_t at_ms;
  std::uint64_t uptime_ms;
  std::uint64_t restart_in_ms;
  std::int32_t kind;
  std::int32_t code;
  std::uint32_t restarted;
  std::uint32_t reason_len;
  char reason[kHistoryReasonCapacity];
};
static_assert(sizeof(HistoryEntry) == 256);
constexpr std::size_t kHistoryBytes = kExitHistory * sizeof(HistoryEntry);

// The head of a slot's page in the words object: what the worker of the slot
// stores about itself (one writer: that worker; the supervisor zeroes the
// page when the slot gets a new id, and writes command_verdict alone). Read
// without the seqlock: each word whole.
struct alignas(64) WordsPage {
  std::atomic<std::uint64_t> busy_since_ms;
  std::atomic<std::uint64_t> last_perform_ms;
  std::atomic<std::uint64_t> performs;
  std::atomic<std::uint64_t> calls;
  std::atomic<std::uint64_t> casts;
  std::atomic<std::uint64_t> busy_us;
  std::atomic<std::uint64_t> mailbox_depth;
  std::atomic<std::uint64_t> perform_us;
  std::atomic<std::uint64_t> call_us;
  std::atomic<std::uint64_t> perform_buckets[kDurationBuckets];
  std::atomic<std::uint64_t> call_buckets[kDurationBuckets];
  // The supervisor's answer to the worker's last kWorkerCommandExited:
  // seq << 1 | 1 to restart the command in place, seq << 1 to end the worker
  // (WorkerWords::command_verdict). Written by the supervisor only.
  std::atomic<std::uint64_t> command_verdict;
};
static_assert(sizeof(WordsPage) <= 4096, "a worker's words fit its page");
static_assert(kExitKinds == enums::max_value<ExitInfo::Kind>() + 1, "an exit counter per kind");

// The write-ahead journal: the one slot change in progress, written in full
// before the slot is touched. Every change of a slot (write, an exit recorded,
// a release) is composed here first, then copied into the slot under its
// seqlock, then the journal is marked done. A writer killed at any instruction
// leaves either an incomplete journal (seq odd: the slot was not touched yet)
// or a complete one (seq even, slot set: the change may be half copied), which
// attach() copies again. Copying is idempotent: it sets whole bytes and words,
// never adds to them. Only the writer reads it; readers never look.
struct alignas(64) Journal {
  std::atomic<std::uint64_t> seq;   // odd while the journal itself is filled
  std::atomic<std::uint32_t> slot;  // 1 + the slot the change is for; 0: none pending
  std::uint32_t flags;              // kJournalNewId: the slot gets a new id (or none)
  // Out-of-line bytes the change sets: [offset, offset + length) of the
  // journal's own out-of-line area, copied to the same place in the slot's.
  std::uint32_t range_offset[3];
  std::uint32_t range_length[3];
  std::uint32_t ranges;
  SlotHeader image;  // the slot's header as the change leaves it (its seq unused)
};
constexpr std::uint32_t kJournalNewId = 1U;  // the slot's words page is cleared too

// Layout: [Header + Journal, one page][id index][SlotHeader x capacity]
//         [out-of-line data x (capacity + 1)]: the last area is the journal's.
// A slot's out-of-line area: payload and value (2 x max_payload) when they do
// not fit inline, then the spec's options (max_payload), which only a
// supervisor that adopts the fleet reads, then the exit history (touched only
// once the worker has exited). tmpfs commits only the pages touched.
//
// The id index: open addressing, linear probing, FNV-1a of the id; each bucket
// holds 0 (empty), kTombstone (deleted) or slot + 1. Only the writer stores;
// readers probe with acquire loads and confirm every hit by reading the slot
// under its seqlock, so a stale bucket can only cost a look, never a wrong
// answer. Deletions leave tombstones (a probe chain is never cut); when they
// pile up, the writer rebuilds the table with index_generation odd, and a
// reader whose probe overlapped a rebuild falls back to a scan.
// Headers are dense (1 KiB each) so that a process touching every slot — the
// supervisor scanning busy words, `state` reading them all — maps 1 KiB per
// worker, not a page per worker; the out-of-line area of a slot (payload then
// value, 2 x max_payload) is touched only by data too large for inline_data.
constexpr std::uint32_t kInstantPerform = 1U;
constexpr std::uint32_t kPoolMember = 2U;
constexpr std::uint32_t kInlineData = 4U;
constexpr std::uint32_t kOverrunKill = 8U;
constexpr std::uint32_t kRlimitSet = 16U;  // << 0..3: rlimits[i] is set
constexpr std::uint32_t kRunAs = 256U;     // run_uid and run_gid hold the worker's ids
// A process has run for this id since the slot got it: only then can its words
// page hold anything. Readers leave the other pages alone, since reading a
// tmpfs hole commits a page (4 KiB for each id that never ran).
constexpr std::uint32_t kWordsUsed = 512U;

std::optional<std::uint64_t> Rlimits::*const kRlimitMembers[4] = {&Rlimits::nofile, &Rlimits::as,
                                                                  &Rlimits::cpu, &Rlimits::core};
static_assert(sizeof(SlotHeader) == 1024, "slot headers are 1 KiB: keep the layout dense");

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

std::size_t round_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

// Bytes of out-of-line data per slot (recorded in the header as slot_size).
std::size_t data_size_for(std::uint32_t max_payload) {
  return round_up(3 * std::size_t{max_payload} + kHistoryBytes, 64);
}

template <class H>
constexpr std::size_t journal_offset_v() {
  return (sizeof(H) + 63) / 64 * 64;
}
std::size_t journal_offset() { return journal_offset_v<Header>(); }
std::size_t header_size() { return round_up(journal_offset() + sizeof(Journal), 4096); }

constexpr std::uint32_t kTombstone = 0xffffffffU;

std::uint32_t index_buckets_for(std::uint32_t capacity) {
  std::uint32_t b = 16;
  // Bounded for any capacity: 2 * capacity wrapped and b doubled to 0 forever.
  while (b < 2 * std::uint64_t{capacity} && b < (1U << 31)) b *= 2;
  return b;
}

std::size_t index_size(std::uint32_t capacity) {
  return round_up(std::size_t{index_buckets_for(capacity)} * sizeof(std::uint32_t), 4096);
}

std::size_t slot_table_size(std::uint32_t capacity) {
  return round_up(std::size_t{capacity} * sizeof(SlotHeader), 4096);
}

std::size_t segment_size(std::uint32_t capacity, std::uint32_t max_payload) {
  return header_size() + index_size(capacity) + slot_table_size(capacity) +
         (std::size_t{capacity} + 1) * data_size_for(max_payload);
}

// FNV-1a, 64 bits: the same in every process and build (std::hash is not).
std::uint64_t id_hash(std::string_view id) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// Single writer per word: a load and a store, not a locked read-modify-write.
void bump(std::atomic<std::uint64_t>& w, std::uint64_t by) {
  w.store(w.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

void clear_words(WordsPage* p) {
  if (p == nullptr) return;
  for (auto* w : {&p->busy_since_ms, &p->last_perform_ms, &p->performs, &p->calls, &p->casts,
                  &p->busy_us, &p->mailbox_depth, &p->perform_us, &p->call_us}) {
    w->store(0, std::memory_order_relaxed);
  }
  for (auto& w : p->perform_buckets) w.store(0, std::memory_order_relaxed);
  for (auto& w : p->call_buckets) w.store(0, std::memory_order_relaxed);
}

// The stride of the words object: a page (at least 4 KiB), so that a worker
// can map its own slot's words and nothing else.
std::uint32_t words_stride_now() {
  const long page = ::sysconf(_SC_PAGESIZE);
  return static_cast<std::uint32_t>(std::max<long>(page, 4096));
}

// A mapping of (part of) the words object.
struct WordsMap {
  char* base = nullptr;
  std::size_t bytes = 0;
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  int fd = -1;  // kept open by the supervisor, to tell how much of it is still backed
};

enum class WordsOpen { kCreate, kReadWrite, kReadOnly };

// Maps `bytes` of the words object `name` from `offset`. kCreate makes a new
// object of `total` bytes (0600), replacing whatever is under the name.
// kNotFound if absent, kStale if shorter than offset + bytes.
Result<WordsMap> map_words(const std::string& name, WordsOpen how, std::size_t total,
                           std::size_t offset, std::size_t bytes, bool keep_fd = false) {
  int fd = -1;
  if (how == WordsOpen::kCreate) {
    ::shm_unlink(name.c_str());
    fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0 && (::fchmod(fd, 0600) != 0 || ::ftruncate(fd, static_cast<off_t>(total)) != 0)) {
      const int err = errno;
      ::close(fd);
      ::shm_unlink(name.c_str());
      return errno_error("unable to create words " + name, err);
    }
  } else {
    fd = ::shm_open(name.c_str(), (how == WordsOpen::kReadOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
  }
  if (fd < 0) {
    if (errno == ENOENT) return make_error(Errc::kNotFound, "no words " + name);
    return errno_error("unable to open words " + name, errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < offset + bytes) {
    ::close(fd);
    return make_error(Errc::kStale, "words " + name + " is truncated (" +
                                        std::to_string(st.st_size) + " bytes)");
  }
  const int prot = how == WordsOpen::kReadOnly ? PROT_READ : PROT_READ | PROT_WRITE;
  void* p = ::mmap(nullptr, bytes, prot, MAP_SHARED, fd, static_cast<off_t>(offset));
  const int err = errno;
  if (p == MAP_FAILED || !keep_fd) {
    ::close(fd);
    fd = -1;
  }
  if (p == MAP_FAILED) return errno_error("unable to map words " + name, err);
  return WordsMap{static_cast<char*>(p), bytes, static_cast<std::uint64_t>(st.st_dev),
                  static_cast<std::uint64_t>(st.st_ino), fd};
}

// Is `name` still the object (dev, ino) and at least `bytes` long?
Status words_at_name(const std::string& name, std::uint64_t dev, std::uint64_t ino,
                     std::size_t bytes) {
  struct stat st {};
  if (::stat(Names::shm_path(name).c_str(), &st) != 0) {
    return make_error(Errc::kNotFound, "words " + name + " was removed");
  }
  if (static_cast<std::uint64_t>(st.st_dev) != dev || static_cast<std::uint64_t>(st.st_ino) != ino) {
    return make_error(Errc::kNotFound, "words " + name + " was replaced by another object");
  }
  if (static_cast<std::size_t>(st.st_size) < bytes) {
    return make_error(Errc::kStale, "words " + name + " was truncated to " +
                                        std::to_string(st.st_size) + " bytes (of " +
                                        std::to_string(bytes) + ")");
  }
  return {};
}

}  // namespace

namespace detail {
struct Mapping {
  bip::shared_memory_object shm;
  bip::mapped_region region;
  Header* header = nullptr;
  std::atomic<std::uint32_t>* index = nullptr;
  std::uint32_t index_mask = 0;
  SlotHeader* slots = nullptr;
  Journal* journal = nullptr;
  char* data = nullptr;        // out-of-line areas
  std::size_t data_size = 0;   // per slot
  std::uint32_t capacity = 0;
  std::uint32_t max_payload = 0;
  WordsMap words;  // the whole words object (base null when it is not mapped)
  std::uint32_t words_stride = 0;

  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { drop_words(); }
  void drop_words() {
    if (words.base != nullptr) ::munmap(words.base, words.bytes);
    if (words.fd >= 0) ::close(words.fd);
    words = WordsMap{};
  }
  // The slot's words; null when the words object is not mapped.
  WordsPage* page(std::uint32_t i) const {
    if (words.base == nullptr || std::size_t{i + 1} * words_stride > words.bytes) return nullptr;
    return reinterpret_cast<WordsPage*>(words.base + std::size_t{i} * words_stride);
  }

  void locate(char* base, std::uint32_t cap, std::uint32_t max_pl) {
    header = reinterpret_cast<Header*>(base);
    index = reinterpret_cast<std::atomic<std::uint32_t>*>(base + header_size());
    index_mask = index_buckets_for(cap) - 1;
    journal = reinterpret_cast<Journal*>(base + journal_offset());
    slots = reinterpret_cast<SlotHeader*>(base + header_size() + index_size(cap));
    data = base + header_size() + index_size(cap) + slot_table_size(cap);
    data_size = data_size_for(max_pl);
    capacity = cap;
    max_payload = max_pl;
  }
  SlotHeader* slot(std::uint32_t i) const { return slots + i; }
  // Slot i's out-of-line area; i == capacity is the journal's.
  char* out_of_line(std::uint32_t i) const { return data + std::size_t{i} * data_size; }
  char* journal_area() const { return out_of_line(capacity); }
  HistoryEntry* history(std::uint32_t i) const {
    return reinterpret_cast<HistoryEntry*>(out_of_line(i) + 3 * std::size_t{max_payload});
  }
};
}  // namespace detail

namespace {

using detail::Mapping;

// ---------------------------------------------------------------- journal

// Which part of a slot change a test stops at (RegistryTestHooks): a writer
// killed there leaves the segment as it is when the change returns.
enum class StopAt { kNever, kInJournal, kInSlot };
StopAt g_stop_at = StopAt::kNever;

constexpr std::size_t kSeqBytes = sizeof(std::atomic<std::uint64_t>);
static_assert(kSeqBytes == 8 && alignof(SlotHeader) == 64, "a slot header starts with its seq");
static_assert(journal_offset_v<Header>() + sizeof(Journal) <= 4096, "the journal shares the header's page");

// The slot's page of the words object reads as zeros again. A hole punched in
// tmpfs gives the page back: an id that never ran costs no words page. (Stores
// of zeros would commit one per id, 4 KiB each.)
void clear_words_page(const Mapping& m, std::uint32_t i) {
  WordsPage* p = m.page(i);
  if (p == nullptr) return;
  if (m.words.fd >= 0 &&
      ::fallocate(m.words.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  static_cast<off_t>(std::size_t{i} * m.words_stride),
                  static_cast<off_t>(m.words_stride)) == 0) {
    return;
  }
  clear_words(p);
}

// Starts composing a change of slot i: the journal's image begins as a copy of
// the slot's header as it is now. The caller edits the image (and the journal's
// out-of-line area, naming what it set with journal_range), then commits.
SlotHeader& journal_begin(const Mapping& m, std::uint32_t i) {
  Journal& j = *m.journal;
  const std::uint64_t seq = j.seq.load(std::memory_order_relaxed);
  j.seq.store(seq | 1U, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  j.slot.store(i + 1, std::memory_order_relaxed);
  j.flags = 0;
  j.ranges = 0;
  std::memcpy(reinterpret_cast<char*>(&j.image) + kSeqBytes,
              reinterpret_cast<const char*>(m.slot(i)) + kSeqBytes, sizeof(SlotHeader) - kSeqBytes);
  return j.image;
}

// The change sets [offset, offset + length) of the out-of-line area (at most
// three ranges: payload and value, options, exit history).
void journal_range(const Mapping& m, std::size_t offset, std::size_t length) {
  Journal& j = *m.journal;
  if (length == 0 || j.ranges >= 3) return;
  j.range_offset[j.ranges] = static_cast<std::uint32_t>(offset);
  j.range_length[j.ranges] = static_cast<std::uint32_t>(length);
  ++j.ranges;
}

// Copies a complete journal into its slot, under the slot's seqlock. After a
// writer's death the slot may be odd already (torn): it ends even either way.
void journal_apply(const Mapping& m, bool words_dirty = false) {
  Journal& j = *m.journal;
  const std::uint32_t i = j.slot.load(std::memory_order_relaxed) - 1;
  if (i >= m.capacity) return;
  SlotHeader* s = m.slot(i);
  const std::uint64_t seq = s->seq.load(std::memory_order_relaxed);
  // Its words page holds something only if a worker of the old id ran (a
  // torn header's flags cannot be trusted: then cleared anyway).
  const bool words_used = words_dirty || (s->flags & kWordsUsed) != 0 || (seq & 1U) != 0;
  const std::uint64_t odd = seq | 1U;
  s->seq.store(odd, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  if (g_stop_at == StopAt::kInSlot) {  // a test: killed half way through the copy
    std::memcpy(reinterpret_cast<char*>(s) + kSeqBytes,
                reinterpret_cast<const char*>(&j.image) + kSeqBytes, sizeof(SlotHeader) / 2);
    return;
  }
  std::memcpy(reinterpret_cast<char*>(s) + kSeqBytes,
              reinterpret_cast<const char*>(&j.image) + kSeqBytes, sizeof(SlotHeader) - kSeqBytes);
  for (std::uint32_t k = 0; k < std::min<std::uint32_t>(j.ranges, 3); ++k) {
    // Bounded by the area (the journal is the writer's, but a segment can be damaged).
    const std::size_t off = std::min<std::size_t>(j.range_offset[k], m.data_size);
    const std::size_t len = std::min<std::size_t>(j.range_length[k], m.data_size - off);
    std::memcpy(m.out_of_line(i) + off, m.journal_area() + off, len);
  }
  if ((j.flags & kJournalNewId) != 0 && words_used) clear_words_page(m, i);
  s->seq.store(odd + 1, std::memory_order_release);
}

// Completes the journal, then applies it. `new_id`: the slot gets a new id or
// none (its words page is cleared with it, if a worker may have written it:
// `words_dirty` says so when the slot's flags cannot, a spawn not published).
void journal_commit(const Mapping& m, bool new_id, bool words_dirty = false) {
  Journal& j = *m.journal;
  if (g_stop_at == StopAt::kInJournal) return;  // a test: killed while composing
  j.flags = new_id ? kJournalNewId : 0U;
  j.seq.store(j.seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  // The journal is whole in memory before the slot's first byte changes.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  journal_apply(m, words_dirty);
  if (g_stop_at == StopAt::kInSlot) return;
  j.slot.store(0, std::memory_order_release);
}

// Allocates [offset, offset + length) of a shared-memory object before its
// first store. The registry and the words are sparse (ftruncate, not
// Boost's truncate, which posix_fallocates the whole object: 15 KiB a slot
// committed for every slot of the capacity); tmpfs allocates a page at its
// first touch, and a touch that finds /dev/shm full is a SIGBUS. A reservation
// that finds it full is an error the put returns instead.
Status reserve_range(int fd, std::size_t offset, std::size_t length, const std::string& what) {
  if (length == 0) return {};
  if (::fallocate(fd, 0, static_cast<off_t>(offset), static_cast<off_t>(length)) == 0) return {};
  const int err = errno;
  if (err == EOPNOTSUPP || err == ENOSYS) return {};  // not tmpfs: the first touch allocates
  return make_error(Errc::kSystem, "no room in /dev/shm for " + what + ": " + std::strerror(err));
}

int registry_fd(const Mapping& m) { return m.shm.get_mapping_handle().handle; }
// The parts of a slot reserved so far (RegistryWriter::reserved_): its header,
// and the three parts of its out-of-line area.
constexpr std::uint8_t kResHeader = 1;
constexpr std::uint8_t kResData = 2;
constexpr std::uint8_t kResOptions = 4;
constexpr std::uint8_t kResHistory = 8;
constexpr std::uint8_t kResWords = 16;  // its words page, for a worker spawned (reserve_words)
std::size_t offset_in(const Mapping& m, const void* p) {
  return static_cast<std::size_t>(static_cast<const char*>(p) -
                                  static_cast<const char*>(m.region.get_address()));
}

// Where the journal's out-of-line area keeps what record_exit/set_exits set.
HistoryEntry* journal_history(const Mapping& m) {
  return reinterpret_cast<HistoryEntry*>(m.journal_area() + 3 * std::size_t{m.max_payload});
}

// Copies a slot's protected fields under the seqlock. Lengths are clamped before
// any copy, so even a torn read stays inside the slot.
enum class ReadOutcome { kOk, kFree, kTorn };

// Decides, after each failed attempt at a consistent read, whether to try again.
class ReadPatience {
 public:
  explicit ReadPatience(const Mapping& m) : m_(m) {}
  bool again() {
    ++attempts_;
    if (attempts_ <= kSpinRetries) return true;
    if (attempts_ <= kYieldRetries) {
      std::this_thread::yield();
      return true;
    }
    const auto now = MonoClock::now();
    if (give_up_at_ == MonoClock::time_point{}) give_up_at_ = now + kLiveWriterPatience;
    // Re-check the writer now and then: it may die while we wait for it.
    if ((attempts_ - kYieldRetries) % 64 == 1 && !writer_alive()) return false;
    if (now >= give_up_at_) return false;
    std::this_thread::sleep_for(kPatienceStep);
    return true;
  }

 private:
  bool writer_alive() const {
    const Header& h = *m_.header;
    return process_alive(h.supervisor_pid.load(std::memory_order_acquire),
                         h.supervisor_start_time.load(std::memory_order_acquire));
  }
  const Mapping& m_;
  int attempts_ = 0;
  MonoClock::time_point give_up_at_{};
};

void load_words(const Mapping& m, std::uint32_t i, std::uint32_t flags, SlotRecord& out) {
  const WordsPage* p = (flags & kWordsUsed) != 0 ? m.page(i) : nullptr;
  out.busy_since_ms = p != nullptr ? p->busy_since_ms.load(std::memory_order_relaxed) : 0;
  out.last_perform_ms = p != nullptr ? p->last_perform_ms.load(std::memory_order_relaxed) : 0;
}

ReadOutcome read_slot(const Mapping& m, std::uint32_t i, SlotRecord& out, bool brief = false) {
  const SlotHeader* s = m.slot(i);
  for (ReadPatience patience(m); patience.again();) {
    const std::uint64_t s1 = s->seq.load(std::memory_order_acquire);
    if (s1 & 1U) continue;
    const std::uint32_t in_use = s->in_use;
    if (!in_use) {
      std::atomic_thread_fence(std::memory_order_acquire);
      if (s->seq.load(std::memory_order_relaxed) == s1) return ReadOutcome::kFree;
      continue;
    }
    const std::uint32_t flags = s->flags;
    out.slot = i;
    out.incarnation = s->incarnation;
    out.status = static_cast<WorkerStatus>(s->status);
    out.pid = s->pid;
    out.restarts = s->restarts;
    out.pid_start_time = s->pid_start_time;
    out.mailbox_generation = s->mailbox_generation;
    out.started_ms = s->started_ms;
    out.updated_ms = s->updated_ms;
    out.lull = s->lull;
    out.timeout_ms = s->timeout_ms;
    out.restart = static_cast<RestartType>(s->restart_type);
    out.instant_perform = (s->flags & kInstantPerform) != 0;
    out.pool = (s->flags & kPoolMember) != 0;
    out.max_restarts = s->max_restarts;
    out.within_ms = s->within_ms;
    out.on_overrun = (s->flags & kOverrunKill) != 0 ? OnOverrun::kKill : OnOverrun::kReport;
    out.max_memory = s->max_memory;
    out.passivate_after_ms = static_cast<std::uint32_t>(s->passivate_after_ms);
    out.passivations = s->passivations;
    out.rlimit_values = Rlimits{};
    for (std::size_t k = 0; k < 4; ++k) {
      if ((s->flags & (kRlimitSet << k)) != 0) out.rlimit_values.*kRlimitMembers[k] = s->rlimits[k];
    }
    if (out.rlimit_values.empty()) {
      out.rlimits = "{}";
    } else {
      out.rlimits = to_json(json::value(out.rlimit_values.to_json()));
    }
    out.user.assign(s->user, ::strnlen(s->user, sizeof s->user));
    out.group.assign(s->group, ::strnlen(s->group, sizeof s->group));
    out.run_as = std::nullopt;
    if ((s->flags & kRunAs) != 0) out.run_as = RunAs{s->run_uid, s->run_gid};
    out.last_exit.kind = static_cast<ExitInfo::Kind>(s->exit_kind);
    out.last_exit.code = s->exit_code;
    out.last_exit.reason.assign(s->exit_reason,
                                std::min<std::size_t>(s->exit_reason_len, kReasonCapacity));
    out.id.assign(s->id, std::min<std::size_t>(s->id_len, kIdCapacity));
    if (brief) {
      std::atomic_thread_fence(std::memory_order_acquire);
      if (s->seq.load(std::memory_order_relaxed) != s1) continue;
      if (s->status > kMaxStatus) continue;
      load_words(m, i, flags, out);
      return ReadOutcome::kOk;
    }
    // Clamp to the area the flag names, so a torn read stays inside it.
    const bool inline_data = (s->flags & kInlineData) != 0;
    const char* data = inline_data ? s->inline_data : m.out_of_line(i);
    const std::size_t room = inline_data ? sizeof s->inline_data : 2 * std::size_t{m.max_payload};
    const std::size_t payload_len = std::min<std::size_t>({s->payload_len, m.max_payload, room});
    const std::size_t value_len =
        std::min<std::size_t>({s->value_len, m.max_payload, room - payload_len});
    out.payload.assign(data, payload_len);
    out.value.assign(data + payload_len, value_len);
    const std::size_t options_len = std::min<std::size_t>(s->options_len, m.max_payload);
    if (options_len == 0) {
      out.options = "{}";
    } else {
      out.options.assign(m.out_of_line(i) + 2 * std::size_t{m.max_payload}, options_len);
    }
    // The history only when there is one: most slots never touch its page.
    const std::size_t exits = std::min<std::size_t>(s->exit_count, kExitHistory);
    out.exits.resize(exits);
    for (std::size_t k = 0; k < exits; ++k) {
      const HistoryEntry& h = m.history(i)[k];
      ExitRecord& x = out.exits[k];
      x.at_ms = h.at_ms;
      x.uptime_ms = h.uptime_ms;
      x.restart_in_ms = h.restart_in_ms;
      x.exit.kind = static_cast<ExitInfo::Kind>(h.kind);
      x.exit.code = h.code;
      x.restarted = h.restarted != 0;
      x.exit.reason.assign(h.reason, std::min<std::size_t>(h.reason_len, kHistoryReasonCapacity));
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s->seq.load(std::memory_order_relaxed) != s1) continue;
    // Enum values come from the writer but are still range-checked for display;
    // the bound follows WorkerStatus's description.
    if (s->status > kMaxStatus) continue;
    for (auto& x : out.exits) {
      if (x.exit.kind < ExitInfo::Kind::kNone || x.exit.kind > kMaxExitKind) {
        x.exit.kind = ExitInfo::Kind::kUnknown;
      }
    }
    load_words(m, i, flags, out);
    return ReadOutcome::kOk;
  }
  return ReadOutcome::kTorn;
}

// One slot as a Result: kInvalid out of range, kNotFound if free, kTorn if it
// stays mid-update.
Result<SlotRecord> read_record(const Mapping& m, std::uint32_t slot) {
  if (slot >= m.capacity) {
    return make_error(Errc::kInvalid, "slot " + std::to_string(slot) + " out of range");
  }
  SlotRecord r;
  switch (read_slot(m, slot, r)) {
    case ReadOutcome::kOk:
      return r;
    case ReadOutcome::kFree:
      return make_error(Errc::kNotFound, "slot is free");
    case ReadOutcome::kTorn:
      break;
  }
  return make_error(Errc::kTorn, "slot " + std::to_string(slot) + " is mid-update");
}

// The record in `slot` if it holds `id` (a cheap pre-filter on unsynchronised
// words first; the full read is seqlock-checked).
std::optional<SlotRecord> slot_with_id(const Mapping& m, std::uint32_t slot, std::string_view id) {
  const SlotHeader* s = m.slot(slot);
  if (!s->in_use || s->id_len != id.size()) return std::nullopt;
  SlotRecord r;
  if (read_slot(m, slot, r) == ReadOutcome::kOk && r.id == id) return r;
  return std::nullopt;
}

Result<std::unique_ptr<Mapping>> map_existing(const std::string& name, bool writable) {
  // Boost says "not found" by throwing, and the first throw in a static
  // binary costs about 5 ms (libgcc sorts every frame description entry):
  // every supervisor start, which looks for a predecessor's registry, paid
  // it. Looked up first; one removed in between still ends in the catch.
  struct stat st {};
  if (::stat(Names::shm_path(name).c_str(), &st) != 0 && errno == ENOENT) {
    return make_error(Errc::kNoSupervisor, "no registry " + name);
  }
  auto m = std::make_unique<Mapping>();
  try {
    m->shm = bip::shared_memory_object(bip::open_only, name.c_str(),
                                       writable ? bip::read_write : bip::read_only);
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::not_found_error) {
      return make_error(Errc::kNoSupervisor, "no registry " + name);
    }
    return make_error(Errc::kSystem, "unable to open registry " + name + ": " + e.what());
  }
  bip::offset_t size = 0;
  if (!m->shm.get_size(size) || static_cast<std::size_t>(size) < header_size()) {
    return make_error(Errc::kStale,
                      "registry " + name + " is truncated (" + std::to_string(size) + " bytes)");
  }
  try {
    m->region = bip::mapped_region(m->shm, writable ? bip::read_write : bip::read_only);
  } catch (const bip::interprocess_exception& e) {
    return make_error(Errc::kSystem, "unable to map registry " + name + ": " + e.what());
  }
  auto* h = static_cast<Header*>(m->region.get_address());
  if (h->ready.load(std::memory_order_acquire) != kReadyWord) {
    return make_error(Errc::kStale, "registry " + name + " was never fully initialized");
  }
  if (h->magic != kMagic || h->layout_version != kLayoutVersion ||
      h->boost_version != BOOST_VERSION || h->header_size != header_size()) {
    return make_error(Errc::kStale, "registry " + name + " has another layout (version " +
                                        std::to_string(h->layout_version) + ", Boost " +
                                        std::to_string(h->boost_version) + "; expected " +
                                        std::to_string(kLayoutVersion) + ", Boost " +
                                        std::to_string(BOOST_VERSION) + ")");
  }
  // The sizes within a writer's bounds before any is computed from them: a
  // garbage capacity made index_buckets_for loop forever (found by fuzzing).
  RegistryConfig recorded;
  recorded.capacity = h->capacity;
  recorded.max_payload = h->max_payload;
  if (!recorded.validate()) {
    return make_error(Errc::kStale, "registry " + name + " is inconsistent (capacity " +
                                        std::to_string(h->capacity) + ", max payload " +
                                        std::to_string(h->max_payload) + ")");
  }
  const std::size_t expect = segment_size(h->capacity, h->max_payload);
  if (h->slot_size != data_size_for(h->max_payload) ||
      h->index_buckets != index_buckets_for(h->capacity) || m->region.get_size() < expect) {
    return make_error(Errc::kStale, "registry " + name + " is inconsistent (size " +
                                        std::to_string(m->region.get_size()) + ", expected " +
                                        std::to_string(expect) + ")");
  }
  if (h->words_stride < 4096 || h->words_stride > (1U << 20) ||
      h->words_stride % 4096 != 0) {
    return make_error(Errc::kStale, "registry " + name + " is inconsistent (words stride " +
                                        std::to_string(h->words_stride) + ")");
  }
  m->locate(static_cast<char*>(m->region.get_address()), h->capacity, h->max_payload);
  m->words_stride = h->words_stride;
  return m;
}

std::size_t words_total(const Mapping& m) {
  return std::size_t{m.capacity} * m.words_stride;
}

RegistryHeaderInfo header_info(const Mapping& m) {
  const Header& h = *m.header;
  RegistryHeaderInfo info;
  info.manager_state = static_cast<ManagerState>(h.manager_state.load(std::memory_order_acquire));
  info.supervisor_pid = h.supervisor_pid.load(std::memory_order_acquire);
  info.supervisor_start_time = h.supervisor_start_time.load(std::memory_order_acquire);
  info.generation = h.generation;
  info.control_generation = h.control_generation.load(std::memory_order_acquire);
  info.capacity = h.capacity;
  info.max_payload = h.max_payload;
  info.control_depth = h.control_depth;
  info.control_msg_size = h.control_msg_size;
  info.mailbox_depth = h.mailbox_depth;
  info.mailbox_msg_size = h.mailbox_msg_size;
  info.high_water = std::min(h.high_water.load(std::memory_order_acquire), h.capacity);
  // Bounded like high_water: snapshot reserves this many records, and a
  // damaged count made it throw (found by fuzzing).
  info.used = std::min(h.used.load(std::memory_order_relaxed), h.capacity);
  info.dropped_frames = h.dropped_frames.load(std::memory_order_relaxed);
  info.created_ms = h.created_ms;
  info.pool_strategy = h.pool_strategy.load(std::memory_order_acquire);
  info.words_stride = h.words_stride;
  info.index_generation = h.index_generation.load(std::memory_order_acquire);
  info.orphan_grace_ms = h.orphan_grace_ms.load(std::memory_order_acquire);
  info.adopted = h.adopted.load(std::memory_order_acquire);
  info.supervisor_started_ms = h.supervisor_started_ms.load(std::memory_order_acquire);
  const std::uint32_t c = h.containment.load(std::memory_order_acquire);
  info.containment = c <= static_cast<std::uint32_t>(Containment::kCgroup)
                         ? static_cast<Containment>(c)
                         : Containment::kUnknown;
  // The texts under their seqlock: the writer changes them seldom (a failing
  // commit, its recovery), so a few retries always find a stable copy.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const std::uint64_t before = h.persistence_seq.load(std::memory_order_acquire);
    if (before & 1U) {
      std::this_thread::yield();
      continue;
    }
    PersistenceInfo p;
    p.state = static_cast<Persistence>(h.persistence.load(std::memory_order_relaxed));
    p.pending = h.persistence_pending.load(std::memory_order_relaxed);
    p.last_commit_ms = h.persistence_last_commit_ms.load(std::memory_order_relaxed);
    p.dir.assign(h.state_dir, std::min<std::size_t>(h.state_dir_len, kStateDirCapacity));
    p.error.assign(h.persistence_error,
                   std::min<std::size_t>(h.persistence_error_len, kReasonCapacity));
    std::atomic_thread_fence(std::memory_order_acquire);
    if (h.persistence_seq.load(std::memory_order_relaxed) != before) continue;
    if (p.state > Persistence::kFailing) p.state = Persistence::kFailing;
    info.persistence = std::move(p);
    break;
  }
  return info;
}

}  // namespace

// ---------------------------------------------------------------- config

Status RegistryConfig::validate() const {
  if (capacity == 0 || capacity > 1'000'000) {
    return make_error(Errc::kInvalid,
                      "invalid max-workers " + std::to_string(capacity) + ": must be 1..1000000");
  }
  if (max_payload < 64 || max_payload > 16 * 1024 * 1024) {
    return make_error(Errc::kInvalid, "invalid max-payload " + std::to_string(max_payload) +
                                          ": must be 64..16777216 bytes");
  }
  if (control_depth == 0 || mailbox_depth == 0) {
    return make_error(Errc::kInvalid, "queue depths must be positive");
  }
  return {};
}

// ---------------------------------------------------------------- writer

RegistryWriter::RegistryWriter(std::unique_ptr<detail::Mapping> map, Names names,
                               RegistryConfig cfg)
    : map_(std::move(map)), names_(std::move(names)), config_(cfg) {}
RegistryWriter::RegistryWriter(RegistryWriter&&) noexcept = default;
RegistryWriter& RegistryWriter::operator=(RegistryWriter&&) noexcept = default;
RegistryWriter::~RegistryWriter() = default;

Result<RegistryWriter> RegistryWriter::create(const Names& names, const RegistryConfig& config) {
  if (auto st = config.validate(); !st) return st.error();
  // The words first: a reader that finds the registry finds them too.
  const std::size_t words_bytes = std::size_t{config.capacity} * words_stride_now();
  auto words = map_words(names.words(), WordsOpen::kCreate, words_bytes, 0, words_bytes, true);
  if (!words) return words.error();
  auto w = create_segment(names, config);
  if (!w) {
    ::munmap(words->base, words->bytes);
    ::close(words->fd);
    ::shm_unlink(names.words().c_str());
    return w;
  }
  w->map_->words = *words;
  return w;
}

Result<RegistryWriter> RegistryWriter::create_segment(const Names& names,
                                                      const RegistryConfig& config) {
  if (auto st = config.validate(); !st) return st.error();
  const std::string name = names.registry();
  bip::shared_memory_object::remove(name.c_str());  // stale by definition: we hold the lock
  const std::size_t total = segment_size(config.capacity, config.max_payload);
  auto m = std::make_unique<Mapping>();
  try {
    bip::permissions perm;
    perm.set_permissions(0600);
    m->shm = bip::shared_memory_object(bip::create_only, name.c_str(), bip::read_write, perm);
    // Sparse: slots are allocated as they are used (reserve_range).
    if (::ftruncate(m->shm.get_mapping_handle().handle, static_cast<off_t>(total)) != 0) {
      throw bip::interprocess_exception(bip::error_info(bip::system_error_code()));
    }
    m->region = bip::mapped_region(m->shm, bip::read_write);
  } catch (const bip::interprocess_exception& e) {
    bip::shared_memory_object::remove(name.c_str());
    return make_error(Errc::kSystem, "unable to create registry " + name + " (" +
                                         std::to_string(total) + " bytes): " + e.what());
  }
  // What every write touches, before the first store: the header page with the
  // journal, the id index and the journal's out-of-line area.
  const int fd = m->shm.get_mapping_handle().handle;
  const std::size_t fixed = header_size() + index_size(config.capacity);
  const std::size_t journal_area =
      fixed + slot_table_size(config.capacity) +
      std::size_t{config.capacity} * data_size_for(config.max_payload);
  Status st = reserve_range(fd, 0, fixed, "the registry " + name);
  if (st) {
    st = reserve_range(fd, journal_area, data_size_for(config.max_payload), "the registry " + name);
  }
  if (!st) {
    bip::shared_memory_object::remove(name.c_str());
    return st.error();
  }
  // A fresh tmpfs object reads as zeros: every slot is free with seq 0.
  auto* h = new (m->region.get_address()) Header{};
  h->magic = kMagic;
  h->layout_version = kLayoutVersion;
  h->boost_version = BOOST_VERSION;
  h->header_size = static_cast<std::uint32_t>(header_size());
  h->slot_size = static_cast<std::uint32_t>(data_size_for(config.max_payload));
  h->index_buckets = index_buckets_for(config.capacity);
  h->capacity = config.capacity;
  h->max_payload = config.max_payload;
  h->control_depth = config.control_depth;
  h->control_msg_size = config.control_msg_size();
  h->mailbox_depth = config.mailbox_depth;
  h->mailbox_msg_size = config.mailbox_msg_size();
  h->generation = std::random_device{}() | (std::uint64_t{wall_ms()} << 20) | 1U;
  h->created_ms = wall_ms();
  const auto self = ProcessIdentity::self();
  h->supervisor_pid.store(self.pid, std::memory_order_relaxed);
  h->supervisor_start_time.store(self.start_time, std::memory_order_relaxed);
  h->manager_state.store(static_cast<std::uint32_t>(ManagerState::kStarting));
  h->orphan_grace_ms.store(config.orphan_grace_ms, std::memory_order_relaxed);
  h->supervisor_started_ms.store(wall_ms(), std::memory_order_relaxed);
  h->words_stride = words_stride_now();
  h->ready.store(kReadyWord, std::memory_order_release);
  m->locate(static_cast<char*>(m->region.get_address()), h->capacity, h->max_payload);
  m->words_stride = h->words_stride;
  RegistryWriter w(std::move(m), names, config);
  w.rebuild_free_list(/*scan=*/0);
  return w;
}

Result<RegistryWriter> RegistryWriter::attach(const Names& names) {
  auto m = map_existing(names.registry(), /*writable=*/true);
  if (!m) return m.error();
  auto map = std::move(*m);
  // The words go on with the registry; a missing or short words object (gone
  // with /dev/shm clean-up) is made anew: the counters start again at zero.
  const std::size_t words_bytes = words_total(*map);
  auto words = map_words(names.words(), WordsOpen::kReadWrite, words_bytes, 0, words_bytes, true);
  if (!words) {
    words = map_words(names.words(), WordsOpen::kCreate, words_bytes, 0, words_bytes, true);
  }
  if (!words) return words.error();
  map->words = *words;
  RegistryConfig cfg;
  cfg.capacity = map->capacity;
  cfg.max_payload = map->max_payload;
  cfg.control_depth = map->header->control_depth;
  cfg.mailbox_depth = map->header->mailbox_depth;
  RegistryWriter w(std::move(map), names, cfg);
  // A complete journal is a change the previous writer may not have finished
  // copying: finish it. An incomplete one never touched its slot.
  Journal& j = *w.map_->journal;
  const std::uint64_t jseq = j.seq.load(std::memory_order_acquire);
  const std::uint32_t pending = j.slot.load(std::memory_order_relaxed);
  if ((jseq & 1U) == 0 && pending != 0 && pending - 1 < w.map_->capacity) {
    journal_apply(*w.map_);
    w.finished_ = pending - 1;
  }
  j.slot.store(0, std::memory_order_relaxed);
  j.seq.store(jseq + (jseq & 1U), std::memory_order_release);
  // A slot whose seq is still odd was being written, by a writer without a
  // journal or over a damaged one: its contents are not trusted. Clear it (the
  // slot becomes free).
  std::uint64_t max_incarnation = 0;
  std::uint32_t used = 0;
  // Slots at or past the high-water mark were never written (write() raises
  // it before it changes a slot): not read, so never allocated by reading.
  std::uint32_t bound = std::min(w.map_->header->high_water.load(std::memory_order_acquire),
                                 w.map_->capacity);
  if (w.finished_) bound = std::max(bound, *w.finished_ + 1);
  for (std::uint32_t i = 0; i < bound; ++i) {
    SlotHeader* s = w.map_->slot(i);
    const std::uint64_t seq = s->seq.load(std::memory_order_acquire);
    if (seq & 1U) {
      w.torn_.push_back(i);
      // Its id, where it reads as one: the state database may know the
      // worker (an update of a slot keeps its id; a new id's bytes may be
      // half written, and then match nothing).
      std::string id(s->id, std::min<std::size_t>(s->id_len, kIdCapacity));
      if (validate_id(id)) w.torn_ids_.push_back(std::move(id));
      s->in_use = 0;
      s->status = static_cast<std::uint32_t>(WorkerStatus::kFree);
      s->seq.store(seq + 1, std::memory_order_release);
      continue;
    }
    if (s->in_use) {
      ++used;
      max_incarnation = std::max(max_incarnation, s->incarnation);
    }
  }
  w.map_->header->used.store(used, std::memory_order_relaxed);
  w.next_incarnation_ = max_incarnation + 1;
  w.rebuild_free_list(bound);
  w.index_rebuild();
  return w;
}

Status RegistryWriter::reserve(std::uint32_t slot, std::uint8_t parts, const std::string& what) {
  const std::uint8_t missing = static_cast<std::uint8_t>(parts & ~reserved_[slot]);
  if (missing == 0) return {};
  const Mapping& m = *map_;
  const std::size_t ool = offset_in(m, m.out_of_line(slot));
  const std::size_t mp = m.max_payload;
  struct Part {
    std::uint8_t bit;
    std::size_t offset;
    std::size_t length;
  };
  const Part all[] = {{kResHeader, offset_in(m, m.slot(slot)), sizeof(SlotHeader)},
                      {kResData, ool, 2 * mp},
                      {kResOptions, ool + 2 * mp, mp},
                      {kResHistory, ool + 3 * mp, kHistoryBytes}};
  for (const Part& p : all) {
    if ((missing & p.bit) == 0) continue;
    if (auto st = reserve_range(registry_fd(m), p.offset, p.length, what); !st) return st;
    reserved_[slot] = static_cast<std::uint8_t>(reserved_[slot] | p.bit);
  }
  if ((missing & kResHeader) != 0) {
    // Headers share pages: the page's other slots are allocated now too.
    constexpr std::uint32_t kPerPage = 4096 / sizeof(SlotHeader);
    const std::uint32_t first = slot - slot % kPerPage;
    for (std::uint32_t k = first; k < std::min(first + kPerPage, m.capacity); ++k) {
      reserved_[k] = static_cast<std::uint8_t>(reserved_[k] | kResHeader);
    }
  }
  return {};
}

Status RegistryWriter::reserve_words(std::uint32_t slot) {
  if (slot >= map_->capacity) return {};
  reserved_[slot] = static_cast<std::uint8_t>(reserved_[slot] | kResWords);  // cleared with the id
  if (map_->words.fd < 0) return {};
  return reserve_range(map_->words.fd, std::size_t{slot} * map_->words_stride, map_->words_stride,
                       "the words of slot " + std::to_string(slot));
}

void RegistryWriter::set_command_verdict(std::uint32_t slot, std::uint64_t verdict) const {
  if (slot >= map_->capacity || (reserved_[slot] & kResWords) == 0) return;
  if (WordsPage* p = map_->page(slot)) p->command_verdict.store(verdict, std::memory_order_release);
}

void RegistryWriter::rebuild_free_list(std::uint32_t scan) {
  reserved_.assign(map_->capacity, 0);  // reserving again what is allocated costs nothing
  free_.clear();
  free_.reserve(map_->capacity);
  allocated_.assign(map_->capacity, false);
  std::uint32_t high = 0;
  for (std::uint32_t i = map_->capacity; i-- > 0;) {
    // Slots from `scan` on are free (a fresh segment: all of them): never read,
    // so neither mapped nor allocated in tmpfs.
    if (i < scan && map_->slot(i)->in_use) {
      allocated_[i] = true;
      high = std::max(high, i + 1);
    } else {
      free_.push_back(i);  // descending, so back() is the lowest free index
    }
  }
  map_->header->high_water.store(high, std::memory_order_release);
}

// ---------------------------------------------------------------- id index

void RegistryWriter::index_insert(std::string_view id, std::uint32_t slot) {
  const std::uint64_t h = id_hash(id);
  for (std::uint32_t i = 0; i <= map_->index_mask; ++i) {
    auto& b = map_->index[(h + i) & map_->index_mask];
    const std::uint32_t v = b.load(std::memory_order_relaxed);
    if (v == 0 || v == kTombstone) {
      if (v == kTombstone) --tombstones_;
      b.store(slot + 1, std::memory_order_release);
      return;
    }
  }
  // Unreachable: at most capacity live entries in >= 2 x capacity buckets, and
  // tombstones are cleared long before they fill the rest.
  index_rebuild();
}

void RegistryWriter::index_remove(std::string_view id, std::uint32_t slot) {
  const std::uint64_t h = id_hash(id);
  for (std::uint32_t i = 0; i <= map_->index_mask; ++i) {
    auto& b = map_->index[(h + i) & map_->index_mask];
    const std::uint32_t v = b.load(std::memory_order_relaxed);
    if (v == 0) return;  // not indexed
    if (v == slot + 1) {
      b.store(kTombstone, std::memory_order_release);
      ++tombstones_;
      break;
    }
  }
  if (tombstones_ > (map_->index_mask + 1) / 4) index_rebuild();
}

void RegistryWriter::index_rebuild() {
  Header& hd = *map_->header;
  // Odd while rebuilding: a reader whose probe overlaps it scans instead.
  hd.index_generation.fetch_add(1, std::memory_order_acq_rel);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  for (std::uint32_t i = 0; i <= map_->index_mask; ++i) {
    map_->index[i].store(0, std::memory_order_relaxed);
  }
  tombstones_ = 0;
  for (std::uint32_t i = 0; i < map_->capacity; ++i) {
    if (!allocated_[i]) continue;
    const SlotHeader* sh = map_->slot(i);
    if (!sh->in_use) continue;
    index_insert(std::string_view(sh->id, std::min<std::size_t>(sh->id_len, kIdCapacity)), i);
  }
  hd.index_generation.fetch_add(1, std::memory_order_release);
}

Result<std::uint32_t> RegistryWriter::allocate() {
  if (free_.empty()) {
    return make_error(Errc::kFull, "registry is full: " + std::to_string(map_->capacity) +
                                       " workers (raise --max-workers)");
  }
  const std::uint32_t i = free_.back();
  // Its header allocated before anyone touches it: a read of a hole in a full
  // /dev/shm is a SIGBUS too (in the supervisor its guard would put a private
  // zero page there, and the slot's writes would be seen by no one).
  if (auto st = reserve(i, kResHeader, "a new registry slot"); !st) return st.error();
  free_.pop_back();
  allocated_[i] = true;
  return i;
}

Status RegistryWriter::write(const SlotRecord& r) {
  if (r.slot >= map_->capacity) {
    return make_error(Errc::kInvalid, "slot " + std::to_string(r.slot) + " out of range");
  }
  if (!allocated_[r.slot] && !map_->slot(r.slot)->in_use) {
    // Writing a slot that allocate() never handed out would leave it on the
    // free list, to be handed out again while in use.
    return make_error(Errc::kInvalid, "slot " + std::to_string(r.slot) + " was not allocated");
  }
  if (auto st = validate_id(r.id); !st) return st;
  if (r.payload.size() > map_->max_payload) {
    return make_error(Errc::kTooLarge, "payload of " + std::to_string(r.payload.size()) +
                                           " bytes exceeds the limit of " +
                                           std::to_string(map_->max_payload) + " bytes");
  }
  if (r.value.size() > map_->max_payload) {
    return make_error(Errc::kTooLarge, "value of " + std::to_string(r.value.size()) +
                                           " bytes exceeds the limit of " +
                                           std::to_string(map_->max_payload) + " bytes");
  }
  // "{}" (no options) is stored as nothing.
  // (An empty view over r.options, not a null one: memcmp and memcpy take it.)
  const std::string_view opts(r.options.data(), r.options == "{}" ? 0 : r.options.size());
  if (opts.size() > map_->max_payload) {
    return make_error(Errc::kTooLarge, "options of " + std::to_string(opts.size()) +
                                           " bytes exceed the limit of " +
                                           std::to_string(map_->max_payload) + " bytes");
  }
  // Composed in the journal, then copied into the slot (journal_commit).
  const bool fits_inline = r.payload.size() + r.value.size() <= sizeof(SlotHeader::inline_data);
  const std::uint8_t parts =
      kResHeader | (fits_inline ? 0 : kResData) | (opts.empty() ? 0 : kResOptions);
  if (auto st = reserve(r.slot, parts, "worker '" + r.id + "'"); !st) return st;
  const bool was_free = map_->slot(r.slot)->in_use == 0;
  if (was_free) {
    // Raised before the slot changes: a successor scans up to it (attach).
    const std::uint32_t high = map_->header->high_water.load(std::memory_order_relaxed);
    if (r.slot + 1 > high) map_->header->high_water.store(r.slot + 1, std::memory_order_release);
  }
  SlotHeader* s = &journal_begin(*map_, r.slot);
  const std::string_view stored_id(s->id, std::min<std::size_t>(s->id_len, kIdCapacity));
  const bool id_changed = was_free || stored_id != r.id;
  const std::string old_id = (id_changed && !was_free) ? std::string(stored_id) : std::string();
  s->in_use = 1;
  s->status = static_cast<std::uint32_t>(r.status);
  if (keep_incarnation_) {
    s->incarnation = r.incarnation;
  } else {
    s->incarnation = was_free ? next_incarnation_++ : s->incarnation;
  }
  s->pid = r.pid;
  s->restarts = r.restarts;
  s->pid_start_time = r.pid_start_time;
  s->mailbox_generation = r.mailbox_generation;
  s->started_ms = r.started_ms;
  s->updated_ms = wall_ms();
  s->lull = r.lull;
  s->timeout_ms = r.timeout_ms;
  s->restart_type = static_cast<std::uint32_t>(r.restart);
  if (id_changed) {  // a new id starts without history or counters (its words: at commit)
    s->exit_count = 0;
    std::fill(std::begin(s->exits), std::end(s->exits), 0);
  }
  const bool inline_data = r.payload.size() + r.value.size() <= sizeof s->inline_data;
  std::uint32_t flags = (r.instant_perform ? kInstantPerform : 0U) | (r.pool ? kPoolMember : 0U) |
                        (inline_data ? kInlineData : 0U) |
                        (r.on_overrun == OnOverrun::kKill ? kOverrunKill : 0U);
  for (std::size_t k = 0; k < 4; ++k) {
    const auto& limit = r.rlimit_values.*kRlimitMembers[k];
    s->rlimits[k] = limit.value_or(0);
    if (limit) flags |= kRlimitSet << k;
  }
  if (r.run_as) flags |= kRunAs;
  // Once a process has run for the id, until the slot gets another one.
  if (r.pid > 0 || (!id_changed && (s->flags & kWordsUsed) != 0)) flags |= kWordsUsed;
  s->run_uid = r.run_as ? r.run_as->uid : 0;
  s->run_gid = r.run_as ? r.run_as->gid : 0;
  std::memset(s->user, 0, sizeof s->user);
  std::memcpy(s->user, r.user.data(), std::min(r.user.size(), sizeof s->user));
  std::memset(s->group, 0, sizeof s->group);
  std::memcpy(s->group, r.group.data(), std::min(r.group.size(), sizeof s->group));
  s->flags = flags;
  s->max_memory = r.max_memory;
  s->passivate_after_ms = r.passivate_after_ms;
  s->passivations = r.passivations;
  s->max_restarts = r.max_restarts;
  s->within_ms = r.within_ms;
  s->exit_kind = static_cast<std::int32_t>(r.last_exit.kind);
  s->exit_code = r.last_exit.code;
  const std::size_t reason_len = std::min(r.last_exit.reason.size(), kReasonCapacity);
  std::memcpy(s->exit_reason, r.last_exit.reason.data(), reason_len);
  s->exit_reason_len = static_cast<std::uint32_t>(reason_len);
  std::memcpy(s->id, r.id.data(), r.id.size());
  s->id_len = static_cast<std::uint32_t>(r.id.size());
  char* data = inline_data ? s->inline_data : map_->journal_area();
  std::memcpy(data, r.payload.data(), r.payload.size());
  s->payload_len = static_cast<std::uint32_t>(r.payload.size());
  std::memcpy(data + r.payload.size(), r.value.data(), r.value.size());
  s->value_len = static_cast<std::uint32_t>(r.value.size());
  if (!inline_data) journal_range(*map_, 0, r.payload.size() + r.value.size());
  // Options change only with the spec: rewritten only when they differ.
  const std::size_t options_at = 2 * std::size_t{map_->max_payload};
  if (opts.size() != s->options_len ||
      std::memcmp(map_->out_of_line(r.slot) + options_at, opts.data(), opts.size()) != 0) {
    std::memcpy(map_->journal_area() + options_at, opts.data(), opts.size());
    journal_range(*map_, options_at, opts.size());
    s->options_len = static_cast<std::uint32_t>(opts.size());
  }
  journal_commit(*map_, id_changed, id_changed && (reserved_[r.slot] & kResWords) != 0);
  if (id_changed) reserved_[r.slot] = static_cast<std::uint8_t>(reserved_[r.slot] & ~kResWords);
  // Indexed once published: a reader that finds the bucket finds the slot.
  if (id_changed) {
    if (!was_free) index_remove(old_id, r.slot);
    index_insert(r.id, r.slot);
  }
  if (was_free) map_->header->used.fetch_add(1, std::memory_order_relaxed);
  return {};
}

void RegistryWriter::release(std::uint32_t slot) {
  if (slot >= map_->capacity) return;
  allocated_[slot] = false;
  if (map_->slot(slot)->in_use) {
    SlotHeader& s = journal_begin(*map_, slot);
    const std::string id(s.id, std::min<std::size_t>(s.id_len, kIdCapacity));
    s.in_use = 0;
    s.status = static_cast<std::uint32_t>(WorkerStatus::kFree);
    s.id_len = 0;
    s.payload_len = 0;
    s.value_len = 0;
    s.options_len = 0;
    s.exit_count = 0;
    std::fill(std::begin(s.exits), std::end(s.exits), 0);
    journal_commit(*map_, /*new_id=*/true, (reserved_[slot] & kResWords) != 0);
    reserved_[slot] = static_cast<std::uint8_t>(reserved_[slot] & ~kResWords);
    index_remove(id, slot);
    map_->header->used.fetch_sub(1, std::memory_order_relaxed);
  }
  // Keep the free list ordered so allocations stay dense (low high-water mark).
  auto it = std::lower_bound(free_.begin(), free_.end(), slot, std::greater<>());
  if (it == free_.end() || *it != slot) free_.insert(it, slot);
  // Shrink the high-water mark past trailing free slots.
  std::uint32_t high = map_->header->high_water.load(std::memory_order_relaxed);
  while (high > 0 && !allocated_[high - 1]) --high;
  map_->header->high_water.store(high, std::memory_order_release);
}

namespace {
void store_entry(HistoryEntry& h, const ExitRecord& x) {
  h.at_ms = x.at_ms;
  h.uptime_ms = x.uptime_ms;
  h.restart_in_ms = x.restart_in_ms;
  h.kind = static_cast<std::int32_t>(x.exit.kind);
  h.code = x.exit.code;
  h.restarted = x.restarted ? 1U : 0U;
  const std::size_t len = std::min(x.exit.reason.size(), kHistoryReasonCapacity);
  std::memcpy(h.reason, x.exit.reason.data(), len);
  h.reason_len = static_cast<std::uint32_t>(len);
}
}  // namespace

Status RegistryWriter::record_exit(std::uint32_t slot, const ExitRecord& x) {
  if (slot >= map_->capacity || !map_->slot(slot)->in_use) {
    return make_error(Errc::kInvalid, "slot " + std::to_string(slot) + " is not in use");
  }
  if (auto st = reserve(slot, kResHistory, "the exit history of slot " + std::to_string(slot)); !st) {
    return st;
  }
  SlotHeader& s = journal_begin(*map_, slot);
  HistoryEntry* h = journal_history(*map_);
  const std::size_t kept = std::min<std::size_t>(s.exit_count, kExitHistory - 1);
  store_entry(h[0], x);  // newest first
  std::memcpy(static_cast<void*>(h + 1), map_->history(slot), kept * sizeof(HistoryEntry));
  journal_range(*map_, 3 * std::size_t{map_->max_payload}, (kept + 1) * sizeof(HistoryEntry));
  s.exit_count = static_cast<std::uint32_t>(kept + 1);
  const auto kind = static_cast<std::size_t>(x.exit.kind);
  if (kind < kExitKinds) ++s.exits[kind];
  journal_commit(*map_, /*new_id=*/false);
  return {};
}

Status RegistryWriter::set_exits(std::uint32_t slot, const std::vector<ExitRecord>& exits) {
  if (slot >= map_->capacity || !map_->slot(slot)->in_use) {
    return make_error(Errc::kInvalid, "slot " + std::to_string(slot) + " is not in use");
  }
  if (auto st = reserve(slot, kResHistory, "the exit history of slot " + std::to_string(slot)); !st) {
    return st;
  }
  SlotHeader& s = journal_begin(*map_, slot);
  HistoryEntry* h = journal_history(*map_);
  const std::size_t n = std::min(exits.size(), kExitHistory);
  for (std::size_t k = 0; k < n; ++k) store_entry(h[k], exits[k]);
  journal_range(*map_, 3 * std::size_t{map_->max_payload}, n * sizeof(HistoryEntry));
  s.exit_count = static_cast<std::uint32_t>(n);
  journal_commit(*map_, /*new_id=*/false);
  return {};
}

Result<SlotRecord> RegistryWriter::read(std::uint32_t slot) const {
  return read_record(*map_, slot);
}

void RegistryWriter::unmap_slots(const std::vector<std::uint32_t>& slots) const {
  const Mapping& m = *map_;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  // Whole pages inside [from, to), runs of adjacent slots merged.
  const auto drop = [page](const char* from, const char* to) {
    const std::uintptr_t a = (reinterpret_cast<std::uintptr_t>(from) + page - 1) & ~(page - 1);
    const std::uintptr_t b = reinterpret_cast<std::uintptr_t>(to) & ~(page - 1);
    if (b > a) (void)::madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);
  };
  std::size_t i = 0;
  while (i < slots.size()) {
    std::size_t j = i + 1;
    while (j < slots.size() && slots[j] == slots[j - 1] + 1) ++j;
    const std::uint32_t first = slots[i];
    const std::uint32_t end = slots[j - 1] + 1;
    if (end <= m.capacity) {
      drop(reinterpret_cast<const char*>(m.slot(first)),
           reinterpret_cast<const char*>(m.slot(first)) +
               std::size_t{end - first} * sizeof(SlotHeader));
      drop(m.data + std::size_t{first} * m.data_size, m.data + std::size_t{end} * m.data_size);
    }
    i = j;
  }
}

std::uint64_t RegistryWriter::busy_since(std::uint32_t slot) const {
  const WordsPage* p = slot < map_->capacity ? map_->page(slot) : nullptr;
  return p != nullptr ? p->busy_since_ms.load(std::memory_order_acquire) : 0;
}

void RegistryWriter::set_manager_state(ManagerState state) {
  map_->header->manager_state.store(static_cast<std::uint32_t>(state), std::memory_order_release);
}
void RegistryWriter::set_control_generation(std::uint64_t generation) {
  map_->header->control_generation.store(generation, std::memory_order_release);
}
void RegistryWriter::set_supervisor(pid_t pid, std::uint64_t start_time) {
  map_->header->supervisor_start_time.store(start_time, std::memory_order_release);
  map_->header->supervisor_pid.store(pid, std::memory_order_release);
}
void RegistryWriter::set_adoption(std::uint32_t adopted, std::uint32_t orphan_grace_ms) {
  map_->header->adopted.store(adopted, std::memory_order_release);
  map_->header->orphan_grace_ms.store(orphan_grace_ms, std::memory_order_release);
  map_->header->supervisor_started_ms.store(wall_ms(), std::memory_order_release);
}
void RegistryWriter::set_containment(Containment c) {
  map_->header->containment.store(static_cast<std::uint32_t>(c), std::memory_order_release);
}
std::string_view to_string(Containment c) noexcept {
  switch (c) {
    case Containment::kNone:
      return "none";
    case Containment::kSubreaper:
      return "subreaper";
    case Containment::kCgroup:
      return "cgroup";
    default:
      return "unknown";
  }
}
void RegistryWriter::set_persistence(const PersistenceInfo& p) {
  Header& h = *map_->header;
  const std::uint64_t seq = h.persistence_seq.load(std::memory_order_relaxed);
  h.persistence_seq.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  h.persistence.store(static_cast<std::uint32_t>(p.state), std::memory_order_relaxed);
  h.persistence_pending.store(p.pending, std::memory_order_relaxed);
  h.persistence_last_commit_ms.store(p.last_commit_ms, std::memory_order_relaxed);
  h.state_dir_len = static_cast<std::uint32_t>(std::min(p.dir.size(), kStateDirCapacity));
  std::memcpy(h.state_dir, p.dir.data(), h.state_dir_len);
  h.persistence_error_len = static_cast<std::uint32_t>(std::min(p.error.size(), kReasonCapacity));
  std::memcpy(h.persistence_error, p.error.data(), h.persistence_error_len);
  h.persistence_seq.store(seq + 2, std::memory_order_release);
}
void RegistryWriter::set_pool_strategy(std::uint32_t strategy) {
  map_->header->pool_strategy.store(strategy, std::memory_order_release);
}
void RegistryWriter::add_dropped_frames(std::uint64_t n) {
  map_->header->dropped_frames.fetch_add(n, std::memory_order_relaxed);
}
RegistryHeaderInfo RegistryWriter::header() const { return header_info(*map_); }
void RegistryWriter::remove_name() {
  bip::shared_memory_object::remove(names_.registry().c_str());
  ::shm_unlink(names_.words().c_str());
}

namespace {
// Bytes of the mapping still backed by its object (0 if unknown).
std::size_t backed_bytes(const Mapping& m) {
  struct stat st {};
  if (::fstat(m.shm.get_mapping_handle().handle, &st) != 0 || st.st_size < 0) return 0;
  return std::min(static_cast<std::size_t>(st.st_size), m.region.get_size());
}
bool backed(const Mapping& m, std::size_t bytes, const void* p, std::size_t n) {
  const auto off = static_cast<std::size_t>(static_cast<const char*>(p) -
                                            static_cast<const char*>(m.region.get_address()));
  return off + n <= bytes;
}
}  // namespace

Status RegistryWriter::intact() const {
  const std::string name = names_.registry();
  struct stat now {};
  struct stat mine {};
  if (::stat(Names::shm_path(name).c_str(), &now) != 0) {
    return make_error(Errc::kNotFound, "registry " + name + " was removed");
  }
  if (::fstat(map_->shm.get_mapping_handle().handle, &mine) != 0 || now.st_ino != mine.st_ino ||
      now.st_dev != mine.st_dev) {
    return make_error(Errc::kNotFound, "registry " + name + " was replaced by another object");
  }
  const std::size_t want = segment_size(map_->capacity, map_->max_payload);
  if (static_cast<std::size_t>(mine.st_size) < want) {
    return make_error(Errc::kStale, "registry " + name + " was truncated to " +
                                        std::to_string(mine.st_size) + " bytes (of " +
                                        std::to_string(want) + ")");
  }
  return {};
}

Status RegistryWriter::recreate(const std::vector<SlotRecord>& records) {
  const Mapping& old = *map_;
  const std::size_t have = backed_bytes(old);
  const bool header_ok = have >= header_size() && old.header->magic == kMagic;
  // What the old header still says: copied over below.
  std::optional<RegistryHeaderInfo> h;
  if (header_ok) h = header_info(old);
  // create_segment() unlinks the name first: whatever is under it now is not
  // ours. The words object is not the registry's to replace: it moves over.
  auto fresh = create_segment(names_, config_);
  if (!fresh) return fresh.error();
  RegistryWriter& w = *fresh;
  // The stride this writer's words were made with (the old header may be gone).
  w.map_->header->words_stride = old.words_stride;
  w.map_->words_stride = old.words_stride;
  w.allocated_ = allocated_;
  w.free_ = free_;
  w.next_incarnation_ = next_incarnation_;
  w.keep_incarnation_ = true;
  for (const auto& r : records) {
    if (r.slot >= w.map_->capacity) continue;
    if (auto st = w.write(r); !st) {
      w.keep_incarnation_ = false;
      return st;
    }
    // Salvage what only the segment held, where the old mapping still has it.
    const SlotHeader* os = old.slot(r.slot);
    SlotHeader* ns = w.map_->slot(r.slot);
    const std::uint64_t seq = ns->seq.load(std::memory_order_relaxed);
    ns->seq.store(seq + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    if (backed(old, have, os, sizeof(SlotHeader))) {
      const std::uint32_t exits = std::min<std::uint32_t>(os->exit_count, kExitHistory);
      if (exits > 0 && backed(old, have, old.history(r.slot), exits * sizeof(HistoryEntry)) &&
          w.reserve(r.slot, kResHistory, "the exit history of slot " + std::to_string(r.slot))) {
        std::memcpy(static_cast<void*>(w.map_->history(r.slot)), old.history(r.slot),
                    exits * sizeof(HistoryEntry));
        ns->exit_count = exits;
      }
    }
    if (backed(old, have, os, sizeof(SlotHeader))) {
      std::memcpy(ns->exits, os->exits, sizeof ns->exits);
    }
    ns->seq.store(seq + 2, std::memory_order_release);
  }
  w.keep_incarnation_ = false;
  if (h) {
    w.set_manager_state(h->manager_state);
    w.set_control_generation(h->control_generation);
    w.set_supervisor(h->supervisor_pid, h->supervisor_start_time);
    w.set_pool_strategy(h->pool_strategy);
    w.add_dropped_frames(h->dropped_frames);
    w.set_persistence(h->persistence);
    w.set_containment(h->containment);
    Header& nh = *w.map_->header;
    nh.adopted.store(h->adopted, std::memory_order_relaxed);
    nh.orphan_grace_ms.store(h->orphan_grace_ms, std::memory_order_relaxed);
    nh.supervisor_started_ms.store(h->supervisor_started_ms, std::memory_order_relaxed);
  }
  w.map_->words = map_->words;
  map_->words = WordsMap{};
  *this = std::move(w);
  return {};
}

Status RegistryWriter::words_intact() const {
  if (map_->words.base == nullptr) {
    return make_error(Errc::kNotFound, "words " + names_.words() + " are not mapped");
  }
  return words_at_name(names_.words(), map_->words.dev, map_->words.ino, words_total(*map_));
}

Status RegistryWriter::recreate_words() {
  const std::size_t bytes = words_total(*map_);
  auto fresh = map_words(names_.words(), WordsOpen::kCreate, bytes, 0, bytes, /*keep_fd=*/true);
  if (!fresh) return fresh.error();
  // What the old mapping still holds, for the slots in use only (a page
  // touched is a page tmpfs commits), within the old object's current size.
  const WordsMap& old = map_->words;
  struct stat st {};
  const std::size_t have =
      old.base != nullptr && old.fd >= 0 && ::fstat(old.fd, &st) == 0 && st.st_size > 0
          ? std::min(static_cast<std::size_t>(st.st_size), old.bytes)
          : 0;
  for (std::uint32_t i = 0; i < map_->capacity; ++i) {
    const std::size_t at = std::size_t{i} * map_->words_stride;
    if (!allocated_[i] || at + sizeof(WordsPage) > have) continue;
    if ((map_->slot(i)->flags & kWordsUsed) == 0) continue;  // never written: a hole
    if (!reserve_range(fresh->fd, at, map_->words_stride, "words")) continue;  // /dev/shm full
    std::memcpy(fresh->base + at, old.base + at, sizeof(WordsPage));
  }
  map_->drop_words();
  map_->words = *fresh;
  return {};
}

// Declared in tests/shared/registry_test_hooks.hpp (it needs the slot layout,
// which lives here): damage as a writer killed mid-update, or a stray write,
// leaves it.
struct RegistryTestHooks {
  static void begin_update(RegistryWriter& w, std::uint32_t slot);
  static void set_used(RegistryWriter& w, std::uint32_t used);
  static Status die_in_journal(RegistryWriter& w, const SlotRecord& r);
  static Status die_in_slot(RegistryWriter& w, const SlotRecord& r);
};

Status RegistryTestHooks::die_in_journal(RegistryWriter& w, const SlotRecord& r) {
  g_stop_at = StopAt::kInJournal;
  auto st = w.write(r);
  g_stop_at = StopAt::kNever;
  return st;
}

Status RegistryTestHooks::die_in_slot(RegistryWriter& w, const SlotRecord& r) {
  g_stop_at = StopAt::kInSlot;
  auto st = w.write(r);
  g_stop_at = StopAt::kNever;
  return st;
}

void RegistryTestHooks::set_used(RegistryWriter& w, std::uint32_t used) {
  w.map_->header->used.store(used, std::memory_order_relaxed);
}

void RegistryTestHooks::begin_update(RegistryWriter& w, std::uint32_t slot) {
  const auto& map_ = w.map_;
  SlotHeader* s = map_->slot(slot);
  s->seq.fetch_add(1, std::memory_order_release);
  std::memset(s->inline_data, 'X', sizeof s->inline_data);
  std::memset(map_->out_of_line(slot), 'X', map_->max_payload / 2);
}

// ---------------------------------------------------------------- reader

RegistryReader::RegistryReader(std::unique_ptr<detail::Mapping> map, Names names, Words words)
    : map_(std::move(map)), names_(std::move(names)), words_(words) {}
RegistryReader::RegistryReader(RegistryReader&&) noexcept = default;
RegistryReader& RegistryReader::operator=(RegistryReader&&) noexcept = default;
RegistryReader::~RegistryReader() = default;

Result<RegistryReader> RegistryReader::open(const Names& names, Words words_wanted) {
  auto m = map_existing(names.registry(), /*writable=*/false);
  if (!m) {
    if (m.error().code == Errc::kNoSupervisor) {
      return make_error(Errc::kNoSupervisor,
                        "no supervisor running under '" + names.instance() + "'");
    }
    return m.error();
  }
  if (words_wanted == Words::kMapped) {
    const std::size_t words_bytes = words_total(**m);
    auto words = map_words(names.words(), WordsOpen::kReadOnly, words_bytes, 0, words_bytes);
    if (words) (*m)->words = *words;
  }
  RegistryReader r(std::move(*m), names, words_wanted);
  if (!r.supervisor_alive() && !r.any_worker_alive()) {
    const auto h = r.header();
    return make_error(Errc::kNoSupervisor, "no supervisor running under '" + names.instance() +
                                               "' (stale registry of pid " +
                                               std::to_string(h.supervisor_pid) + ")");
  }
  return r;
}

RegistryHeaderInfo RegistryReader::header() const { return header_info(*map_); }

bool RegistryReader::supervisor_alive() const {
  const auto h = header_info(*map_);
  return process_alive(h.supervisor_pid, h.supervisor_start_time);
}

bool RegistryReader::any_worker_alive() const {
  const std::uint32_t high = header_info(*map_).high_water;
  for (std::uint32_t i = 0; i < high; ++i) {
    SlotRecord r;
    if (read_slot(*map_, i, r) == ReadOutcome::kOk && r.pid > 0 &&
        process_alive(r.pid, r.pid_start_time)) {
      return true;
    }
  }
  return false;
}

bool RegistryReader::superseded() const {
  struct stat now {};
  struct stat mine {};
  if (::stat(Names::shm_path(names_.registry()).c_str(), &now) != 0) return true;
  if (::fstat(map_->shm.get_mapping_handle().handle, &mine) != 0) return true;
  if (now.st_ino != mine.st_ino || now.st_dev != mine.st_dev) return true;
  // The words too: recreated (or back after a removal), a reader that keeps
  // the old mapping would show them frozen.
  if (words_ == Words::kNone) return false;
  const WordsMap& w = map_->words;
  if (w.base == nullptr) return ::stat(Names::shm_path(names_.words()).c_str(), &now) == 0;
  return !words_at_name(names_.words(), w.dev, w.ino, 0);
}

Result<SlotRecord> RegistryReader::read(std::uint32_t slot) const {
  return read_record(*map_, slot);
}

namespace {
// The words are a page per slot: faulting them in one by one cost a cold
// reader (a one-shot `dynmgrctl state`) 3.4 us a page here, 4.6x the rest of
// a snapshot. One madvise per run of slots whose worker has run maps them
// (an error only costs the faults). Never the pages of the others: reading a
// tmpfs hole commits a page, 4 KiB for each passive id that never ran.
void populate_used_words(const Mapping& m, std::uint32_t high) {
  if (m.words.base == nullptr) return;
  std::uint32_t run = 0;
  for (std::uint32_t i = 0; i <= high; ++i) {
    const bool used = i < high && (m.slot(i)->flags & kWordsUsed) != 0;
    if (used) continue;
    if (i > run) {
      const std::size_t from = std::size_t{run} * m.words_stride;
      const std::size_t to = std::min(std::size_t{i} * m.words_stride, m.words.bytes);
      if (to > from) (void)::madvise(m.words.base + from, to - from, MADV_POPULATE_READ);
    }
    run = i + 1;
  }
}
}  // namespace

Result<SlotRecord> RegistryReader::find(std::string_view id) const {
  const Mapping& m = *map_;
  const std::uint64_t gen = m.header->index_generation.load(std::memory_order_acquire);
  if ((gen & 1U) == 0) {
    const std::uint64_t h = id_hash(id);
    for (std::uint32_t i = 0; i <= m.index_mask; ++i) {
      const std::uint32_t b = m.index[(h + i) & m.index_mask].load(std::memory_order_acquire);
      if (b == 0) break;
      if (b == kTombstone || b - 1 >= m.capacity) continue;
      if (auto r = slot_with_id(m, b - 1, id)) return std::move(*r);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (m.header->index_generation.load(std::memory_order_relaxed) == gen) {
      return make_error(Errc::kNotFound, "no such worker '" + std::string(id) + "'");
    }
  }
  // The index was being rebuilt under us: look at every slot instead.
  const std::uint32_t high = header_info(m).high_water;
  for (std::uint32_t i = 0; i < high; ++i) {
    if (auto r = slot_with_id(m, i, id)) return std::move(*r);
  }
  return make_error(Errc::kNotFound, "no such worker '" + std::string(id) + "'");
}

Status RegistryReader::for_each(Detail detail, const std::function<bool(SlotRecord&)>& fn) const {
  const bool brief = detail == Detail::kBrief;
  const std::uint32_t high = header_info(*map_).high_water;
  populate_used_words(*map_, high);
  for (std::uint32_t i = 0; i < high; ++i) {
    if (!map_->slot(i)->in_use) continue;
    // A fresh record each time: a brief read leaves the payload and the rest
    // untouched, so a reused one would carry the previous slot's.
    SlotRecord r;
    switch (read_slot(*map_, i, r, brief)) {
      case ReadOutcome::kOk:
        if (!fn(r)) return {};
        break;
      case ReadOutcome::kFree:
        break;
      case ReadOutcome::kTorn:
        return make_error(Errc::kTorn, "slot " + std::to_string(i) + " stayed mid-update");
    }
  }
  return {};
}

Result<std::vector<SlotRecord>> RegistryReader::snapshot(Detail detail) const {
  std::vector<SlotRecord> out;
  out.reserve(header_info(*map_).used);
  auto st = for_each(detail, [&out](SlotRecord& r) {
    out.push_back(std::move(r));
    return true;
  });
  if (!st) return st.error();
  return out;
}

std::size_t duration_bucket(std::uint64_t micros) noexcept {
  const double seconds = static_cast<double>(micros) / 1e6;
  for (std::size_t b = 0; b + 1 < kDurationBuckets; ++b) {
    if (seconds <= kDurationBounds[b]) return b;
  }
  return kDurationBuckets - 1;
}

WorkerStats RegistryReader::stats(std::uint32_t slot) const {
  WorkerStats out;
  if (slot >= map_->capacity) return out;
  const bool used = (map_->slot(slot)->flags & kWordsUsed) != 0;  // else a hole: zeros
  if (const WordsPage* p = used ? map_->page(slot) : nullptr) {
    out.performs = p->performs.load(std::memory_order_relaxed);
    out.calls = p->calls.load(std::memory_order_relaxed);
    out.casts = p->casts.load(std::memory_order_relaxed);
    out.busy_us = p->busy_us.load(std::memory_order_relaxed);
    out.mailbox_depth = p->mailbox_depth.load(std::memory_order_relaxed);
    out.perform_us = p->perform_us.load(std::memory_order_relaxed);
    out.call_us = p->call_us.load(std::memory_order_relaxed);
    for (std::size_t b = 0; b < kDurationBuckets; ++b) {
      out.perform_buckets[b] = p->perform_buckets[b].load(std::memory_order_relaxed);
      out.call_buckets[b] = p->call_buckets[b].load(std::memory_order_relaxed);
    }
  }
  // The exit counters are the slot's (under its seqlock); a few tries find a
  // consistent set, else the last read stands (a scrape, not a decision).
  const SlotHeader* s = map_->slot(slot);
  for (int attempt = 0; attempt < 64; ++attempt) {
    const std::uint64_t s1 = s->seq.load(std::memory_order_acquire);
    if (s1 & 1U) continue;
    std::memcpy(out.exits, s->exits, sizeof out.exits);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s->seq.load(std::memory_order_relaxed) == s1) break;
  }
  return out;
}

std::uint64_t RegistryReader::mailbox_depth(std::uint32_t slot) const {
  const WordsPage* p = slot < map_->capacity && (map_->slot(slot)->flags & kWordsUsed) != 0
                           ? map_->page(slot)
                           : nullptr;
  return p != nullptr ? p->mailbox_depth.load(std::memory_order_relaxed) : 0;
}

// ---------------------------------------------------------------- worker words

WorkerWords::WorkerWords(void* page, std::size_t size, std::string name, std::uint64_t dev,
                         std::uint64_t ino)
    : page_(page), size_(size), name_(std::move(name)), dev_(dev), ino_(ino) {}
WorkerWords::WorkerWords(WorkerWords&& o) noexcept
    : page_(std::exchange(o.page_, nullptr)),
      size_(o.size_),
      name_(std::move(o.name_)),
      dev_(o.dev_),
      ino_(o.ino_) {}
WorkerWords& WorkerWords::operator=(WorkerWords&& o) noexcept {
  if (this != &o) {
    if (page_ != nullptr) ::munmap(page_, size_);
    page_ = std::exchange(o.page_, nullptr);
    size_ = o.size_;
    name_ = std::move(o.name_);
    dev_ = o.dev_;
    ino_ = o.ino_;
  }
  return *this;
}
WorkerWords::~WorkerWords() {
  if (page_ != nullptr) ::munmap(page_, size_);
}

Result<WorkerWords> WorkerWords::open(const Names& names, std::uint32_t slot,
                                      std::uint32_t capacity, std::uint32_t stride) {
  if (slot >= capacity || stride < sizeof(WordsPage) || stride % 4096 != 0) {
    return make_error(Errc::kInvalid, "no words for slot " + std::to_string(slot));
  }
  auto m = map_words(names.words(), WordsOpen::kReadWrite, 0, std::size_t{slot} * stride, stride);
  if (!m) return m.error();
  return WorkerWords(m->base, m->bytes, names.words(), m->dev, m->ino);
}

bool WorkerWords::superseded() const { return !words_at_name(name_, dev_, ino_, 0); }

namespace {
WordsPage* own(void* p) { return static_cast<WordsPage*>(p); }
}  // namespace

void WorkerWords::set_busy_since(std::uint64_t ms) const {
  if (page_ != nullptr) own(page_)->busy_since_ms.store(ms, std::memory_order_release);
}
void WorkerWords::set_last_perform(std::uint64_t ms) const {
  if (page_ != nullptr) own(page_)->last_perform_ms.store(ms, std::memory_order_release);
}
std::uint64_t WorkerWords::command_verdict() const {
  return page_ != nullptr ? own(page_)->command_verdict.load(std::memory_order_acquire) : 0;
}
void WorkerWords::set_mailbox_depth(std::uint64_t depth) const {
  if (page_ != nullptr) own(page_)->mailbox_depth.store(depth, std::memory_order_relaxed);
}
void WorkerWords::count_work(Work work, std::uint64_t micros) const {
  if (page_ == nullptr) return;
  WordsPage& s = *own(page_);
  bump(s.busy_us, micros);
  const std::size_t b = duration_bucket(micros);
  switch (work) {
    case Work::kPerform:
      bump(s.performs, 1);
      bump(s.perform_us, micros);
      bump(s.perform_buckets[b], 1);
      break;
    case Work::kCall:
      bump(s.calls, 1);
      bump(s.call_us, micros);
      bump(s.call_buckets[b], 1);
      break;
    case Work::kCast:
      bump(s.casts, 1);
      break;
  }
}

}  // namespace dynmgr
