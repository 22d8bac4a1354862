#pragma once
// The event ring: every life-cycle event of an instance (a worker put, spawned,
// ready, exited, restarting, failed, halted, replaced, deleted, overrun; the
// manager's state; an adoption), as fixed-size records in POSIX shared memory
// under dynmgr.<uid>.<instance>.events. `dynmgrctl watch` reads it directly:
// following the fleet never sends the supervisor a request.
//
// Contract (the registry's, for a ring):
//  * One writer, the supervisor's loop (EventWriter). Event sequence numbers
//    start at 1 and grow by one per event; record s lives at s mod capacity.
//  * Readers (EventReader) map the segment read-only and copy a record under
//    its own sequence word (2s+1 while the writer fills it, 2s+2 once done): a
//    reader never blocks the writer, never writes, and a record overwritten
//    while it was read is detected, never shown torn.
//  * A reader that falls more than `capacity` events behind gets one kMissed
//    record saying how many it lost, then the oldest events still held.
//  * Readers wait on a futex word in the header that the writer bumps and
//    wakes at every event: no polling.
//  * A supervisor that adopts the instance (after a crash, or `reexec`) keeps
//    the ring and its numbering; a fresh start creates a new ring from seq 1
//    (generation() tells them apart). A clean stop removes the name.
//
// Threading: an EventWriter is used by one thread at a time; an EventReader's
// const members may be shared between threads.

#include <sys/types.h>

#include <boost/describe/enum.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/error.hpp"
#include "shared/names.hpp"
#include "shared/types.hpp"

namespace dynmgr {

enum class EventType : std::uint32_t {
  kMissed = 0,  // (readers only) `count` events were overwritten before they were read
  kPut,         // a worker was put (detail: new, over, boot, restored, replace, restart)
  kSpawned,     // its process exists (pid)
  kReady,       // it reported ready (init finished)
  kExited,      // its process ended (exit, uptime_ms) or could not be started
  kRestarting,  // it is restarted after delay_ms (restarts: the count, this one included)
  kFailed,      // over its restart intensity: no more restarts (detail: why)
  kHalted,      // perform/call/cast answered halt()
  kReplaced,    // perform/call/cast answered replace(new_id, ...) (detail: the new id)
  kDeleted,     // it left the registry (detail: del, shutdown, restart, halt, replace)
  kOverrun,     // a perform or call has been running past its timeout (delay_ms: for how long)
  kManager,     // the manager's state changed (state)
  kAdopted,     // a new supervisor adopted this live worker (pid)
  kPassivated,  // it was idle for passivate_after and is passive now (no process)
  kActivated,   // a passive worker is started again (detail: call, perform, mailbox)
};
BOOST_DESCRIBE_ENUM(EventType, kMissed, kPut, kSpawned, kReady, kExited, kRestarting, kFailed,
                    kHalted, kReplaced, kDeleted, kOverrun, kManager, kAdopted, kPassivated,
                    kActivated)
std::string_view to_string(EventType t) noexcept;  // "missed", "put", ...

// One event. Fields a type does not use stay at their defaults.
struct FleetEvent {
  std::uint64_t seq = 0;      // set by the writer
  std::uint64_t time_ms = 0;  // wall ms; set by the writer
  EventType type = EventType::kPut;
  std::string id;  // "" for kManager and kMissed
  pid_t pid = 0;
  ExitInfo exit;                                // kExited
  std::uint64_t uptime_ms = 0;                  // kExited
  std::uint64_t delay_ms = 0;                   // kRestarting: the backoff; kOverrun: busy for
  std::uint32_t restarts = 0;                   // kRestarting, kFailed
  ManagerState state = ManagerState::kUnknown;  // kManager
  std::uint64_t count = 0;                      // kMissed: how many
  std::string detail;                           // see EventType (at most kEventDetailMax bytes)
};
inline constexpr std::size_t kEventDetailMax = 248;

// One line of JSON (no newline): {"seq":..,"time":"<UTC>","event":"exited",...}
// with only the fields the type uses.
std::string event_json(const FleetEvent& e);
// One human line (no newline): "<UTC> #<seq> <id> exited: killed by SIGKILL (up 1.2 s)".
std::string event_text(const FleetEvent& e);

inline constexpr std::uint32_t kDefaultEventCapacity = 4096;
// 16..1048576; rounded up to a power of two.
Status validate_event_capacity(std::uint32_t capacity);

namespace detail {
struct RingMapping;
}

class EventWriter {
 public:
  // A new ring (whatever was under the name is stale: the caller holds the
  // instance lock). capacity is rounded up to a power of two.
  static Result<EventWriter> create(const Names& names, std::uint32_t capacity);
  // The ring a previous writer of this instance left (adoption): its numbering
  // goes on. kStale for another layout, kNoSupervisor if there is none.
  static Result<EventWriter> attach(const Names& names);

  EventWriter(EventWriter&&) noexcept;
  EventWriter& operator=(EventWriter&&) noexcept;
  ~EventWriter();

  // Stamps seq and time, stores the event, wakes the readers. Returns the seq.
  std::uint64_t publish(FleetEvent e);
  std::uint64_t next_seq() const noexcept;
  std::uint32_t capacity() const noexcept;
  // Unlinks the name and tells readers that are waiting (clean stop).
  void remove_name();

 private:
  explicit EventWriter(std::unique_ptr<detail::RingMapping> m);
  std::unique_ptr<detail::RingMapping> map_;
};

class EventReader {
 public:
  // kNoSupervisor if there is no ring under the name, kStale if it is of
  // another layout or not yet initialized. Never waits.
  static Result<EventReader> open(const Names& names);

  EventReader(EventReader&&) noexcept;
  EventReader& operator=(EventReader&&) noexcept;
  ~EventReader();

  // The seq the next event will get (the newest is next_seq() - 1).
  std::uint64_t next_seq() const noexcept;
  // The oldest seq still held.
  std::uint64_t oldest_seq() const noexcept;
  std::uint32_t capacity() const noexcept;
  std::uint64_t generation() const noexcept;

  // Events from *cursor on (at most `max`), advancing *cursor past them. Events
  // overwritten before they could be read come out as one kMissed record.
  std::vector<FleetEvent> read(std::uint64_t& cursor, std::size_t max = 1024) const;
  // Returns once next_seq() > cursor, the ring is closed, or `timeout` passed.
  void wait(std::uint64_t cursor, std::chrono::milliseconds timeout) const;
  // The writer removed the name (a clean stop), or another ring replaced it.
  bool closed() const;

 private:
  explicit EventReader(std::unique_ptr<detail::RingMapping> m);
  std::unique_ptr<detail::RingMapping> map_;
};

}  // namespace dynmgr
