#include "shared/event_ring.hpp"

#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/version.hpp>
#include <climits>
#include <cstring>
#include <random>

#include "shared/clock.hpp"
#include "shared/enum_names.hpp"
#include "shared/json.hpp"
#include "shared/worker_info.hpp"

namespace bip = boost::interprocess;

namespace dynmgr {
namespace {

constexpr std::uint64_t kMagic = 0x5645444d4e594401ULL;  // "DYNMDEV" + 01
constexpr std::uint32_t kLayoutVersion = 1;
constexpr std::uint32_t kReadyWord = 0x52454459;  // "REDY"
constexpr std::uint32_t kMinCapacity = 16;
constexpr std::uint32_t kMaxCapacity = 1U << 20;
constexpr std::size_t kIdCapacity = 256;

// Everything below lives in shared memory: fixed layout, no pointers, no locks.
struct alignas(64) RingHeader {
  std::uint64_t magic;
  std::uint32_t layout_version;
  std::uint32_t boost_version;
  std::uint32_t record_size;
  std::uint32_t capacity;  // a power of two
  std::uint64_t generation;
  std::uint64_t created_ms;
  std::atomic<std::uint64_t> next_seq;    // the seq the next event gets (the first is 1)
  std::atomic<std::uint32_t> futex_word;  // next_seq's low 32 bits: readers wait on it
  std::atomic<std::uint32_t> closed;      // 1 once the writer removed the name
  std::atomic<std::uint32_t> ready;       // kReadyWord once every field above is set
};

struct alignas(64) RingRecord {
  std::atomic<std::uint64_t> seq;  // 2s+1 while event s is written, 2s+2 once it is
  std::uint64_t time_ms;
  std::uint64_t uptime_ms;
  std::uint64_t delay_ms;
  std::uint64_t count;
  std::uint32_t type;
  std::int32_t pid;
  std::int32_t exit_kind;
  std::int32_t exit_code;
  std::uint32_t restarts;
  std::uint32_t state;
  std::uint16_t id_len;
  std::uint16_t detail_len;
  char id[kIdCapacity];
  char detail[kEventDetailMax];
};
static_assert(sizeof(RingRecord) == 576, "ring records are 9 cache lines: keep them dense");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

std::size_t header_size() { return (sizeof(RingHeader) + 4095) / 4096 * 4096; }
std::size_t segment_size(std::uint32_t capacity) {
  return header_size() + std::size_t{capacity} * sizeof(RingRecord);
}

std::uint32_t round_capacity(std::uint32_t c) {
  std::uint32_t p = kMinCapacity;
  while (p < c && p < kMaxCapacity) p *= 2;
  return p;
}

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t val, const timespec* ts) {
  // Not FUTEX_PRIVATE_FLAG: writer and readers are different processes.
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, val, ts, nullptr, 0);
}

std::string_view clamp_view(const char* p, std::size_t len, std::size_t cap) {
  return {p, std::min(len, cap)};
}

std::string seconds_text(std::uint64_t ms) {
  char buf[32];
  if (ms < 10'000) {
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%llu s", static_cast<unsigned long long>(ms / 1000));
  }
  return buf;
}

}  // namespace

namespace detail {
struct RingMapping {
  bip::shared_memory_object shm;
  bip::mapped_region region;
  std::string name;
  RingHeader* header = nullptr;
  RingRecord* records = nullptr;
  std::uint32_t mask = 0;
  ino_t inode = 0;  // the object's inode when it was opened (a replacement has another)

  void locate() {
    auto* base = static_cast<char*>(region.get_address());
    header = reinterpret_cast<RingHeader*>(base);
    records = reinterpret_cast<RingRecord*>(base + header_size());
    mask = header->capacity - 1;
  }
};
}  // namespace detail

using detail::RingMapping;

std::string_view to_string(EventType t) noexcept { return enums::enum_name(t); }

Status validate_event_capacity(std::uint32_t capacity) {
  if (capacity < kMinCapacity || capacity > kMaxCapacity) {
    return make_error(Errc::kInvalid, "invalid event capacity " + std::to_string(capacity) +
                                          ": must be 16..1048576");
  }
  return {};
}

// ---------------------------------------------------------------- encodings

std::string event_json(const FleetEvent& e) {
  json::object o;
  o.emplace("seq", e.seq);
  o.emplace("time", utc_timestamp(e.time_ms));
  o.emplace("time_ms", e.time_ms);
  o.emplace("event", to_string(e.type));
  if (!e.id.empty() || (e.type != EventType::kManager && e.type != EventType::kMissed)) {
    o.emplace("id", e.id);
  }
  switch (e.type) {
    case EventType::kMissed:
      o.emplace("count", e.count);
      break;
    case EventType::kPut:
      o.emplace("how", e.detail);
      break;
    case EventType::kSpawned:
    case EventType::kAdopted:
    case EventType::kReady:
    case EventType::kHalted:
      o.emplace("pid", e.pid);
      break;
    case EventType::kExited:
      o.emplace("pid", e.pid);
      o.emplace("exit", exit_to_json(e.exit));
      o.emplace("uptime_ms", e.uptime_ms);
      break;
    case EventType::kRestarting:
      o.emplace("in_ms", e.delay_ms);
      o.emplace("restarts", e.restarts);
      break;
    case EventType::kFailed:
      o.emplace("restarts", e.restarts);
      o.emplace("reason", e.detail);
      break;
    case EventType::kReplaced:
      o.emplace("new_id", e.detail);
      break;
    case EventType::kDeleted:
      o.emplace("cause", e.detail);
      break;
    case EventType::kOverrun:
      o.emplace("pid", e.pid);
      o.emplace("busy_ms", e.delay_ms);
      break;
    case EventType::kManager:
      o.emplace("state", to_string(e.state));
      break;
    case EventType::kPassivated:
      break;
    case EventType::kActivated:
      o.emplace("by", e.detail);
      break;
  }
  return json::serialize(o);
}

std::string event_text(const FleetEvent& e) {
  std::string s = utc_timestamp(e.time_ms) + " #" + std::to_string(e.seq) + " ";
  if (!e.id.empty()) s += e.id + " ";
  s += to_string(e.type);
  switch (e.type) {
    case EventType::kMissed:
      s += ": " + std::to_string(e.count) + " event(s) overwritten before they were read";
      break;
    case EventType::kPut:
      s += " (" + e.detail + ")";
      break;
    case EventType::kSpawned:
    case EventType::kAdopted:
    case EventType::kReady:
    case EventType::kHalted:
      s += ": pid " + std::to_string(e.pid);
      break;
    case EventType::kExited:
      s += ": " + e.exit.describe() + " (pid " + std::to_string(e.pid) + ", up " +
           seconds_text(e.uptime_ms) + ")";
      break;
    case EventType::kRestarting:
      s += " in " + std::to_string(e.delay_ms) + " ms (restart " + std::to_string(e.restarts) + ")";
      break;
    case EventType::kFailed:
      s += ": " + e.detail;
      break;
    case EventType::kReplaced:
      s += " by " + e.detail;
      break;
    case EventType::kDeleted:
      s += " (" + e.detail + ")";
      break;
    case EventType::kOverrun:
      s += ": busy for " + seconds_text(e.delay_ms) + " (pid " + std::to_string(e.pid) + ")";
      break;
    case EventType::kManager:
      s = utc_timestamp(e.time_ms) + " #" + std::to_string(e.seq) + " manager " +
          std::string(to_string(e.state));
      break;
    case EventType::kPassivated:
      break;
    case EventType::kActivated:
      s += " (by " + e.detail + ")";
      break;
  }
  return s;
}

// ---------------------------------------------------------------- writer

EventWriter::EventWriter(std::unique_ptr<RingMapping> m) : map_(std::move(m)) {}
EventWriter::EventWriter(EventWriter&&) noexcept = default;
EventWriter& EventWriter::operator=(EventWriter&&) noexcept = default;
EventWriter::~EventWriter() = default;

Result<EventWriter> EventWriter::create(const Names& names, std::uint32_t capacity) {
  if (auto st = validate_event_capacity(capacity); !st) return st.error();
  capacity = round_capacity(capacity);
  const std::string name = names.events();
  bip::shared_memory_object::remove(name.c_str());  // stale by definition: we hold the lock
  const std::size_t total = segment_size(capacity);
  auto m = std::make_unique<RingMapping>();
  m->name = name;
  try {
    bip::permissions perm;
    perm.set_permissions(0600);
    m->shm = bip::shared_memory_object(bip::create_only, name.c_str(), bip::read_write, perm);
    m->shm.truncate(static_cast<bip::offset_t>(total));
    m->region = bip::mapped_region(m->shm, bip::read_write);
  } catch (const bip::interprocess_exception& e) {
    bip::shared_memory_object::remove(name.c_str());
    return make_error(Errc::kSystem, "unable to create the event ring " + name + " (" +
                                         std::to_string(total) + " bytes): " + e.what());
  }
  // A fresh tmpfs object reads as zeros: every record has seq 0 (never written).
  auto* h = new (m->region.get_address()) RingHeader{};
  h->magic = kMagic;
  h->layout_version = kLayoutVersion;
  h->boost_version = BOOST_VERSION;
  h->record_size = sizeof(RingRecord);
  h->capacity = capacity;
  h->generation = std::random_device{}() | (std::uint64_t{wall_ms()} << 20) | 1U;
  h->created_ms = wall_ms();
  h->next_seq.store(1, std::memory_order_relaxed);
  h->futex_word.store(1, std::memory_order_relaxed);
  h->ready.store(kReadyWord, std::memory_order_release);
  m->locate();
  return EventWriter(std::move(m));
}

namespace {
Result<std::unique_ptr<RingMapping>> map_ring(const std::string& name, bool writable) {
  auto m = std::make_unique<RingMapping>();
  m->name = name;
  try {
    m->shm = bip::shared_memory_object(bip::open_only, name.c_str(),
                                       writable ? bip::read_write : bip::read_only);
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::not_found_error) {
      return make_error(Errc::kNoSupervisor, "no event ring " + name);
    }
    return make_error(Errc::kSystem, "unable to open the event ring " + name + ": " + e.what());
  }
  bip::offset_t size = 0;
  if (!m->shm.get_size(size) || static_cast<std::size_t>(size) < header_size()) {
    return make_error(Errc::kStale, "event ring " + name + " is truncated");
  }
  try {
    m->region = bip::mapped_region(m->shm, writable ? bip::read_write : bip::read_only);
  } catch (const bip::interprocess_exception& e) {
    return make_error(Errc::kSystem, "unable to map the event ring " + name + ": " + e.what());
  }
  const auto* h = static_cast<const RingHeader*>(m->region.get_address());
  if (h->ready.load(std::memory_order_acquire) != kReadyWord) {
    return make_error(Errc::kStale, "event ring " + name + " was never fully initialized");
  }
  if (h->magic != kMagic || h->layout_version != kLayoutVersion ||
      h->boost_version != BOOST_VERSION || h->record_size != sizeof(RingRecord) ||
      h->capacity < kMinCapacity || h->capacity > kMaxCapacity ||
      (h->capacity & (h->capacity - 1)) != 0 || m->region.get_size() < segment_size(h->capacity)) {
    return make_error(Errc::kStale, "event ring " + name + " has another layout");
  }
  struct stat st {};
  if (::fstat(m->shm.get_mapping_handle().handle, &st) == 0) m->inode = st.st_ino;
  m->locate();
  return m;
}
}  // namespace

Result<EventWriter> EventWriter::attach(const Names& names) {
  auto m = map_ring(names.events(), /*writable=*/true);
  if (!m) return m.error();
  return EventWriter(std::move(*m));
}

std::uint64_t EventWriter::publish(FleetEvent e) {
  RingHeader& h = *map_->header;
  const std::uint64_t s = h.next_seq.load(std::memory_order_relaxed);
  RingRecord& r = map_->records[s & map_->mask];
  r.seq.store(2 * s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  r.time_ms = e.time_ms != 0 ? e.time_ms : wall_ms();
  r.uptime_ms = e.uptime_ms;
  r.delay_ms = e.delay_ms;
  r.count = e.count;
  r.type = static_cast<std::uint32_t>(e.type);
  r.pid = e.pid;
  r.exit_kind = static_cast<std::int32_t>(e.exit.kind);
  r.exit_code = e.exit.code;
  r.restarts = e.restarts;
  r.state = static_cast<std::uint32_t>(e.state);
  const std::size_t id_len = std::min(e.id.size(), kIdCapacity);
  std::memcpy(r.id, e.id.data(), id_len);
  r.id_len = static_cast<std::uint16_t>(id_len);
  // The detail is the exit's reason for kExited, else the event's own text.
  const std::string& text = e.type == EventType::kExited ? e.exit.reason : e.detail;
  const std::size_t detail_len = std::min(text.size(), kEventDetailMax);
  std::memcpy(r.detail, text.data(), detail_len);
  r.detail_len = static_cast<std::uint16_t>(detail_len);
  r.seq.store(2 * s + 2, std::memory_order_release);
  h.next_seq.store(s + 1, std::memory_order_release);
  h.futex_word.store(static_cast<std::uint32_t>(s + 1), std::memory_order_release);
  futex(&h.futex_word, FUTEX_WAKE, INT_MAX, nullptr);
  return s;
}

std::uint64_t EventWriter::next_seq() const noexcept {
  return map_->header->next_seq.load(std::memory_order_relaxed);
}

std::uint32_t EventWriter::capacity() const noexcept { return map_->header->capacity; }

void EventWriter::remove_name() {
  bip::shared_memory_object::remove(map_->name.c_str());
  RingHeader& h = *map_->header;
  h.closed.store(1, std::memory_order_release);
  h.futex_word.fetch_add(1, std::memory_order_release);  // wake waiters to see it
  futex(&h.futex_word, FUTEX_WAKE, INT_MAX, nullptr);
}

// ---------------------------------------------------------------- reader

EventReader::EventReader(std::unique_ptr<RingMapping> m) : map_(std::move(m)) {}
EventReader::EventReader(EventReader&&) noexcept = default;
EventReader& EventReader::operator=(EventReader&&) noexcept = default;
EventReader::~EventReader() = default;

Result<EventReader> EventReader::open(const Names& names) {
  auto m = map_ring(names.events(), /*writable=*/false);
  if (!m) return m.error();
  return EventReader(std::move(*m));
}

std::uint64_t EventReader::next_seq() const noexcept {
  return map_->header->next_seq.load(std::memory_order_acquire);
}

std::uint64_t EventReader::oldest_seq() const noexcept {
  const std::uint64_t next = next_seq();
  const std::uint64_t cap = map_->header->capacity;
  return next > cap ? next - cap : 1;
}

std::uint32_t EventReader::capacity() const noexcept { return map_->header->capacity; }
std::uint64_t EventReader::generation() const noexcept { return map_->header->generation; }

std::vector<FleetEvent> EventReader::read(std::uint64_t& cursor, std::size_t max) const {
  std::vector<FleetEvent> out;
  if (cursor == 0) cursor = 1;
  std::uint64_t missed = 0;
  auto flush_missed = [&] {
    if (missed == 0) return;
    FleetEvent m;
    m.type = EventType::kMissed;
    m.seq = cursor - 1;
    m.time_ms = wall_ms();
    m.count = missed;
    out.push_back(std::move(m));
    missed = 0;
  };
  while (out.size() < max) {
    const std::uint64_t next = next_seq();
    if (cursor >= next) break;
    // Too far behind: skip to the oldest held, counting what was lost.
    const std::uint64_t oldest = next > map_->header->capacity ? next - map_->header->capacity : 1;
    if (cursor < oldest) {
      missed += oldest - cursor;
      cursor = oldest;
    }
    const std::uint64_t s = cursor;
    const RingRecord& r = map_->records[s & map_->mask];
    const std::uint64_t s1 = r.seq.load(std::memory_order_acquire);
    if (s1 != 2 * s + 2) {  // overwritten (or being overwritten) by a later lap
      ++missed;
      ++cursor;
      continue;
    }
    FleetEvent e;
    e.seq = s;
    e.time_ms = r.time_ms;
    e.uptime_ms = r.uptime_ms;
    e.delay_ms = r.delay_ms;
    e.count = r.count;
    const std::uint32_t type = r.type;
    e.pid = r.pid;
    const std::int32_t exit_kind = r.exit_kind;
    e.exit.code = r.exit_code;
    e.restarts = r.restarts;
    const std::uint32_t state = r.state;
    e.id.assign(clamp_view(r.id, r.id_len, kIdCapacity));
    std::string text(clamp_view(r.detail, r.detail_len, kEventDetailMax));
    std::atomic_thread_fence(std::memory_order_acquire);
    if (r.seq.load(std::memory_order_relaxed) != s1) {
      ++missed;
      ++cursor;
      continue;
    }
    // Room for the missed record only: it goes out now, this event next time
    // (the cursor stays on it), so a read never returns more than `max`.
    if (missed != 0 && out.size() + 2 > max) break;
    flush_missed();
    // Enum values come from the writer, but are still range-checked.
    e.type =
        type <= enums::max_value<EventType>() ? static_cast<EventType>(type) : EventType::kMissed;
    e.exit.kind =
        exit_kind >= 0 && exit_kind <= static_cast<std::int32_t>(enums::max_value<ExitInfo::Kind>())
            ? static_cast<ExitInfo::Kind>(exit_kind)
            : ExitInfo::Kind::kUnknown;
    e.state = state <= enums::max_value<ManagerState>() ? static_cast<ManagerState>(state)
                                                        : ManagerState::kUnknown;
    if (e.type == EventType::kExited) {
      e.exit.reason = std::move(text);
    } else {
      e.detail = std::move(text);
    }
    out.push_back(std::move(e));
    ++cursor;
  }
  flush_missed();
  return out;
}

void EventReader::wait(std::uint64_t cursor, std::chrono::milliseconds timeout) const {
  RingHeader& h = *map_->header;
  const std::uint32_t seen = h.futex_word.load(std::memory_order_acquire);
  if (next_seq() > cursor || h.closed.load(std::memory_order_acquire) != 0) return;
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1000) * 1'000'000L;
  // Returns at once if the word moved since `seen` (EAGAIN), else sleeps until
  // a wake or the timeout: an event published in between is never slept through.
  futex(&h.futex_word, FUTEX_WAIT, seen, &ts);
}

bool EventReader::closed() const {
  if (map_->header->closed.load(std::memory_order_acquire) != 0) return true;
  struct stat st {};
  if (::stat(Names::shm_path(map_->name).c_str(), &st) != 0) return true;  // unlinked
  return map_->inode != 0 && st.st_ino != map_->inode;                     // replaced
}

}  // namespace dynmgr
