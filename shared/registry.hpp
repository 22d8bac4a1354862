#pragma once
// The registry: a fixed-layout table in POSIX shared memory, one slot per worker.
//
// Contract (DESIGN.md §4):
//  * One writer, the supervisor (RegistryWriter). Workers never write it: they
//    map it read-only like any reader (a stray write in a worker's code faults
//    in that worker alone, it cannot reach another worker's slot).
//  * The words a worker stores about itself (busy since, last perform, its
//    work counters) live in a second object, dynmgr.<uid>.<instance>.words: a
//    page per slot. A worker maps its own page read-write and nothing else of
//    it (WorkerWords); the supervisor maps it all, readers map it read-only.
//  * Readers (RegistryReader) map the segments read-only and use a per-slot
//    sequence counter (seqlock): they never block the writer, never write, and a
//    reader killed at any instruction leaves nothing behind. Every length read
//    from shared memory is clamped before use, so a torn read never faults.
//  * Every slot change is composed whole in a write-ahead journal first, then
//    copied into the slot: a writer killed mid-change leaves a change its
//    successor finishes (attach(), finished_slot()) or one that never began.
//  * No locks at all live in the segment: nothing can be left locked by a death.
//  * The header carries magic, layout version, the Boost version, sizes and the
//    supervisor's pid + start time; `ready` is stored last, so a half-initialized
//    segment is recognised as stale, never waited on.
//  * Created 0600 under dynmgr.<uid>.<instance>.registry.
//
// Threading: a RegistryWriter is used by one thread at a time. RegistryReader is
// safe to share between threads (all reads are const).

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/child_spec.hpp"
#include "shared/error.hpp"
#include "shared/names.hpp"
#include "shared/run_as.hpp"
#include "shared/types.hpp"
#include "shared/worker_info.hpp"

namespace dynmgr {

struct RegistryConfig {
  std::uint32_t capacity = 4096;           // worker slots (--max-workers)
  std::uint32_t max_payload = 4096;        // bytes of JSON text for payload, value, message
  std::uint32_t control_depth = 256;       // messages in the control queue
  std::uint32_t mailbox_depth = 64;        // messages in each worker mailbox
  std::uint32_t orphan_grace_ms = 60'000;  // workers wait this long for a new supervisor

  Status validate() const;
  // Frame sizes derived from max_payload (room for id, reply-to and JSON framing).
  std::uint32_t control_msg_size() const noexcept { return 2 * max_payload + 1024; }
  std::uint32_t mailbox_msg_size() const noexcept { return max_payload + 1024; }
};

// One worker slot, copied out of (or into) shared memory: the described worker
// record plus the words only the supervisor and the runtime need.
struct SlotRecord : WorkerInfo {
  std::uint64_t incarnation = 0;  // changes whenever the slot gets a new id
  std::uint64_t pid_start_time = 0;
  std::uint64_t updated_ms = 0;  // wall ms of the last write by the supervisor
  std::uint64_t mailbox_generation = 0;
  Rlimits rlimit_values;  // the spec's rlimits (WorkerInfo::rlimits is their JSON text)
  // The ids the spec's user/group resolved to (nullopt: neither set). Clients
  // give their reply queue to them before a call (the worker must open it).
  std::optional<RunAs> run_as;
};

// Per-slot counters for metrics (`dynmgrctl metrics`). The work counters are
// the worker's own (it stores them as it finishes each perform, call and
// cast); exits are the supervisor's. A slot's counters start at zero when it
// gets a new id and go on across restarts of the same id.
inline constexpr std::size_t kDurationBuckets = 11;
// Upper bounds in seconds of the duration histogram buckets; the last is +Inf.
inline constexpr double kDurationBounds[kDurationBuckets - 1] = {0.0005, 0.001, 0.005, 0.01, 0.05,
                                                                 0.1,    0.5,   1,     5,    10};
inline constexpr std::size_t kExitKinds = 7;  // by ExitInfo::Kind
enum class Work { kPerform, kCall, kCast };
struct WorkerStats {
  std::uint64_t performs = 0;
  std::uint64_t calls = 0;
  std::uint64_t casts = 0;
  std::uint64_t busy_us = 0;        // time inside perform, call and cast
  std::uint64_t mailbox_depth = 0;  // messages waiting after the worker's last receive
  std::uint64_t perform_us = 0;     // sums of the durations
  std::uint64_t call_us = 0;
  std::uint64_t perform_buckets[kDurationBuckets] = {};  // counts per bucket (not cumulative)
  std::uint64_t call_buckets[kDurationBuckets] = {};
  std::uint64_t exits[kExitKinds] = {};  // by ExitInfo::Kind
};
// The bucket a duration falls in.
std::size_t duration_bucket(std::uint64_t micros) noexcept;

// The supervisor's state database (supervisor/state_store.hpp), as published
// for readers: `state --json` and `ping` show it.
enum class Persistence : std::uint32_t {
  kOff = 0,      // volatile: --no-state, or no state dir could be derived
  kOk = 1,       // the last commit succeeded (or none was needed yet)
  kFailing = 2,  // the database could not be opened, or the last commit failed
};
struct PersistenceInfo {
  Persistence state = Persistence::kOff;
  std::string dir;                   // the state directory ("" when off)
  std::string error;                 // why it is failing ("" otherwise; at most 256 bytes)
  std::uint64_t pending = 0;         // changes not yet committed
  std::uint64_t last_commit_ms = 0;  // wall ms of the last successful commit (0: none)
};

// What contains the processes a worker starts (README "Containment"), as the
// current supervisor chose it at start.
enum class Containment : std::uint32_t { kUnknown = 0, kNone, kSubreaper, kCgroup };
std::string_view to_string(Containment c) noexcept;

struct RegistryHeaderInfo {
  ManagerState manager_state = ManagerState::kUnknown;
  pid_t supervisor_pid = 0;
  std::uint64_t supervisor_start_time = 0;
  std::uint64_t generation = 0;          // changes at every supervisor start
  std::uint64_t control_generation = 0;  // name suffix of the live control queue
  std::uint32_t capacity = 0;
  std::uint32_t max_payload = 0;
  std::uint32_t control_depth = 0;
  std::uint32_t control_msg_size = 0;
  std::uint32_t mailbox_depth = 0;
  std::uint32_t mailbox_msg_size = 0;
  std::uint32_t high_water = 0;  // slots [0, high_water) may be in use
  std::uint32_t used = 0;
  std::uint64_t dropped_frames = 0;
  std::uint64_t created_ms = 0;
  std::uint32_t pool_strategy = 0;          // 0 not a pool; see PoolStrategy
  std::uint32_t words_stride = 0;           // bytes per slot in the words object (a page)
  std::uint64_t index_generation = 0;       // id index: 2 per rebuild, odd mid-rebuild
  std::uint32_t orphan_grace_ms = 0;        // workers wait this long for a new supervisor
  std::uint32_t adopted = 0;                // workers the current supervisor adopted at start
  std::uint64_t supervisor_started_ms = 0;  // wall ms the current supervisor took over
  PersistenceInfo persistence;
  Containment containment = Containment::kUnknown;
};

namespace detail {
struct Mapping;  // the mapped segment (registry.cpp)
}

class RegistryWriter {
 public:
  // Creates a fresh segment, replacing whatever is under the name: the caller
  // holds the instance lock, so anything there is stale by definition.
  static Result<RegistryWriter> create(const Names& names, const RegistryConfig& config);
  // Attaches to an existing, valid segment (a new writer after a crash). Slots a
  // dead writer left mid-update are reported by torn_slots() and cleared to free.
  static Result<RegistryWriter> attach(const Names& names);

  RegistryWriter(RegistryWriter&&) noexcept;
  RegistryWriter& operator=(RegistryWriter&&) noexcept;
  ~RegistryWriter();

  const RegistryConfig& config() const noexcept { return config_; }
  const std::vector<std::uint32_t>& torn_slots() const noexcept { return torn_; }
  // The ids those slots held, as far as they read as valid ids.
  const std::vector<std::string>& torn_ids() const noexcept { return torn_ids_; }
  // The slot whose change attach() finished from the journal: the previous
  // writer died after composing it and before it was done (nullopt: none).
  std::optional<std::uint32_t> finished_slot() const noexcept { return finished_; }

  // Reserves a free slot index (kFull with the capacity in the message).
  Result<std::uint32_t> allocate();
  // Publishes a record into its slot. kTooLarge (nothing written) if the payload
  // or value exceed max_payload; kInvalid for a bad id.
  Status write(const SlotRecord& record);
  // The slot's exit history (newest first, at most kExitHistory; reasons are
  // cut to 216 bytes there). write() leaves it alone, a new id clears it.
  // kInvalid for a slot not in use.
  Status record_exit(std::uint32_t slot, const ExitRecord& x);
  Status set_exits(std::uint32_t slot, const std::vector<ExitRecord>& exits);
  // Allocates the slot's page of the words object before its worker starts
  // (the object is sparse): a full /dev/shm is this error, not a SIGBUS in the
  // worker at its first store.
  Status reserve_words(std::uint32_t slot);
  // Answers the slot's worker, which reported its command ended
  // (kWorkerCommandExited): seq << 1 | 1 restarts the command in place,
  // seq << 1 ends the worker. The worker is woken with SIGURG by the caller.
  // Nothing for a slot whose words page was never reserved.
  void set_command_verdict(std::uint32_t slot, std::uint64_t verdict) const;
  // Marks a slot free and returns it to the free list.
  void release(std::uint32_t slot);
  // Reads back what this writer published (no seqlock needed: we are the writer).
  Result<SlotRecord> read(std::uint32_t slot) const;
  // Drops this process's page-table entries for the pages of these slots
  // (header and out-of-line areas; `slots` sorted). The pages stay in the
  // segment, unchanged, and the next access maps them again: a writer that
  // holds many ids it rarely touches (a supervisor's sleeping passive ids)
  // need not keep them mapped. Neighbouring slots sharing a page are only
  // mapped again on their next access.
  void unmap_slots(const std::vector<std::uint32_t>& slots) const;
  // The worker-owned busy word of a slot (0 when idle or out of range): one
  // atomic load, for scans over every worker.
  std::uint64_t busy_since(std::uint32_t slot) const;
  // The words object (see above): is it still whole under its name? Like
  // intact(), for the words. recreate_words() replaces it with a new object
  // holding what the old mapping still has; workers must then map their page
  // again (WorkerWords::superseded()). On failure nothing changed.
  Status words_intact() const;
  Status recreate_words();

  void set_manager_state(ManagerState state);
  void set_control_generation(std::uint64_t generation);
  void set_supervisor(pid_t pid, std::uint64_t start_time);
  void add_dropped_frames(std::uint64_t n);
  void set_pool_strategy(std::uint32_t strategy);
  // A supervisor that took over the segment: how many workers it adopted and
  // the orphan grace its workers now use (also stamps supervisor_started_ms).
  void set_adoption(std::uint32_t adopted, std::uint32_t orphan_grace_ms);
  // The state database's health (texts longer than the header's room are cut).
  void set_persistence(const PersistenceInfo& p);
  void set_containment(Containment c);
  RegistryHeaderInfo header() const;

  // Unlinks the segments' names, registry and words (the mappings stay valid
  // until destruction).
  void remove_name();

  // Is the segment still whole under its name? kNotFound: the name was
  // removed or now names another object; kStale: the object was truncated
  // below the layout's size (touching the lost pages raises SIGBUS: see
  // shared/bus_guard.hpp). Two stat(2) calls; nothing is read from the segment.
  Status intact() const;
  // Replaces a damaged segment (README "Tampered shared memory"): a new one
  // under the name, with the same configuration, holding `records` (the
  // writer's own copies of every slot in use, each keeping its slot and
  // incarnation, so workers and clients find the same slots), plus what the
  // old mapping still holds within its current size: the header's words, each
  // slot's exit history, counters and worker words. The old mapping is dropped.
  // On failure nothing changed.
  Status recreate(const std::vector<SlotRecord>& records);

  // Tests reach the mapping through it (tests/shared/registry_test_hooks.hpp).
  friend struct RegistryTestHooks;

 private:
  RegistryWriter(std::unique_ptr<detail::Mapping> map, Names names, RegistryConfig cfg);
  void rebuild_free_list(std::uint32_t scan);
  // Allocates the parts of a slot a change stores into (registry.cpp, kRes*).
  Status reserve(std::uint32_t slot, std::uint8_t parts, const std::string& what);
  void index_insert(std::string_view id, std::uint32_t slot);
  void index_remove(std::string_view id, std::uint32_t slot);
  void index_rebuild();

  // The registry segment alone (create() adds the words; recreate() keeps them).
  static Result<RegistryWriter> create_segment(const Names& names, const RegistryConfig& config);

  std::unique_ptr<detail::Mapping> map_;
  Names names_;
  RegistryConfig config_;
  std::vector<std::uint32_t> free_;  // free slot indices, lowest last
  std::vector<bool> allocated_;      // handed out by allocate() (or in use)
  std::vector<std::uint8_t> reserved_;  // parts of each slot allocated in tmpfs (kRes*)
  std::vector<std::uint32_t> torn_;
  std::vector<std::string> torn_ids_;
  std::optional<std::uint32_t> finished_;
  std::uint64_t next_incarnation_ = 1;
  std::uint32_t tombstones_ = 0;  // deleted buckets in the id index
  bool keep_incarnation_ = false;  // recreate(): write() keeps the record's incarnation
};

class RegistryReader {
 public:
  // Opens and validates the segment. kNoSupervisor if there is none, or if its
  // supervisor is dead and none of its workers is alive (a supervisor that
  // died with live workers leaves them to be adopted: the segment stays
  // readable and supervisor_alive() says false); kStale if it is of another
  // layout or never finished initializing. Never waits.
  // The words object is mapped read-only beside it; where it is missing or
  // short, the worker-owned words read as zeros.
  // kNone (a worker's own reader): the words are not mapped at all, read as
  // zeros, and superseded() looks at the registry only (the worker watches its
  // own page, WorkerWords). A hole punched in the words object (a slot's page
  // given back at del) is unmapped from every mapping that covers it: a worker
  // mapping the whole object made each del cost a walk of every worker.
  enum class Words { kMapped, kNone };
  static Result<RegistryReader> open(const Names& names, Words words = Words::kMapped);

  RegistryReader(RegistryReader&&) noexcept;
  RegistryReader& operator=(RegistryReader&&) noexcept;
  ~RegistryReader();

  RegistryHeaderInfo header() const;
  bool supervisor_alive() const;
  // Is any worker in the table alive (pid and start time)? Reads every slot.
  bool any_worker_alive() const;
  // True if the segment or the words have been replaced (a new supervisor,
  // an object recreated after tampering): reopen.
  bool superseded() const;

  // One consistent slot. kNotFound if free; kTorn if it stays mid-update.
  Result<SlotRecord> read(std::uint32_t slot) const;
  // The slot currently holding id (kNotFound if none), through the id index.
  Result<SlotRecord> find(std::string_view id) const;
  // How much of each slot snapshot() copies: kFull everything; kBrief the
  // fixed words, the id and the last exit, not the payload, value, options or
  // exit history (a view of the whole fleet, e.g. `dynmgrctl top`, each second).
  enum class Detail { kFull, kBrief };
  // All slots in use, in slot order.
  Result<std::vector<SlotRecord>> snapshot(Detail detail = Detail::kFull) const;
  // The same records one at a time, without collecting them: fn gets each
  // slot in use, in slot order, and may move from the record; returning false
  // stops the walk (success). kTorn if a slot stays mid-update: fn has then
  // seen the slots before it, and the caller must not take them for the fleet.
  Status for_each(Detail detail, const std::function<bool(SlotRecord&)>& fn) const;

  // A slot's counters (zeros for a slot out of range).
  WorkerStats stats(std::uint32_t slot) const;
  // Only its mailbox depth (one word; 0 for a slot out of range).
  std::uint64_t mailbox_depth(std::uint32_t slot) const;


 private:
  explicit RegistryReader(std::unique_ptr<detail::Mapping> map, Names names, Words words);
  std::unique_ptr<detail::Mapping> map_;
  Names names_;
  Words words_ = Words::kMapped;
};

// A worker's own words: its slot's page of the words object, the only part of
// it the worker maps, read-write. Nothing else in shared memory is writable by
// a worker but its mailbox and the queues it sends on.
class WorkerWords {
 public:
  // Maps the page of `slot`; `capacity` and `stride` come from the registry
  // header. kNotFound if the object is absent, kStale if it is too short.
  static Result<WorkerWords> open(const Names& names, std::uint32_t slot, std::uint32_t capacity,
                                  std::uint32_t stride);
  WorkerWords(WorkerWords&&) noexcept;
  WorkerWords& operator=(WorkerWords&&) noexcept;
  ~WorkerWords();

  // Has the object under the name been replaced (recreated by the supervisor)?
  bool superseded() const;

  void set_busy_since(std::uint64_t wall_ms) const;
  void set_last_perform(std::uint64_t wall_ms) const;
  // One finished perform, call or cast that took `micros`.
  void count_work(Work work, std::uint64_t micros) const;
  void set_mailbox_depth(std::uint64_t depth) const;
  // The supervisor's last answer to a kWorkerCommandExited (see
  // RegistryWriter::set_command_verdict); 0 before the first.
  std::uint64_t command_verdict() const;

 private:
  WorkerWords(void* page, std::size_t size, std::string name, std::uint64_t dev, std::uint64_t ino);
  void* page_ = nullptr;
  std::size_t size_ = 0;
  std::string name_;
  std::uint64_t dev_ = 0;
  std::uint64_t ino_ = 0;
};

}  // namespace dynmgr
