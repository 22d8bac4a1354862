#pragma once
// A framed, crash-aware wrapper over boost::interprocess::message_queue.
//
// Failure model (DESIGN.md §5):
//  * Boost 1.81's queue mutex is robust: once a process dies inside send or
//    receive, every later operation on that queue throws lock_exception. Any
//    exception marks this Queue dead; every later call returns kDeadQueue at once.
//    The queue's owner recreates it under a new generation (a new name) and peers
//    reopen it — nothing ever retries on a dead queue.
//  * open() never waits on a half-created queue: Boost's open_only spins while the
//    segment is zero-sized or not yet initialized, so the segment is checked first.
//  * Nothing ever waits inside Boost (its condition wait spins forever once a
//    process died holding the queue mutex): send/receive use Boost's try_*
//    operations and sleep on two process-shared semaphores in a companion
//    object "<name>.bell" (0600, created before and removed with the queue).
//    Waits are on the monotonic clock, in slices of at most kSlice, so even a
//    lost wake-up (a sender killed between its send and its post) costs at most
//    one slice. One receiver per queue is the fast path; more still work.
//  * Every operation runs with SIGINT/SIGTERM/SIGHUP/SIGQUIT blocked (SignalGuard).
//  * Frames that fail decode() are dropped and counted (dropped()), never parsed.
//  * Created with mode 0600.
//
// Threading: a Queue object is used by one thread at a time; different Queue
// objects (even for the same name) may be used concurrently.

#include "shared/clock.hpp"
#include "shared/error.hpp"
#include "shared/frame.hpp"

#include <semaphore.h>

#include <csignal>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace dynmgr {

class Queue {
 public:
  static constexpr Millis kSlice{50};

  // Where a queue's message pages live (README "What an id costs").
  // kCommitted: allocated in /dev/shm for the queue's life (control and reply
  // queues). kOnDemand (mailboxes): allocated by the first send that finds
  // them released (fallocate of the segment: on a full /dev/shm that send
  // fails with "no room in /dev/shm for the messages of queue ...", never a
  // SIGBUS), and given back by the receiver's release_pages() once the queue
  // is empty. A send and a release exclude each other through a robust lock
  // in the bell, so a release never punches a message in flight.
  enum class Pages { kCommitted, kOnDemand };

  // Creates the queue (and its bell), replacing any objects under the same
  // name. kOnDemand: created with its message pages released.
  static Result<Queue> create(const std::string& name, std::uint32_t depth,
                              std::uint32_t max_msg_size, Pages pages = Pages::kCommitted);
  // Opens an existing queue. kNotFound if absent; kDeadQueue if it is stale
  // (zero-sized, half-initialized) or Boost refuses it.
  static Result<Queue> open(const std::string& name);
  // Unlinks the queue and its bell.
  static void remove(const std::string& name) noexcept;
  // Wakes every process waiting on the queue named `name` (its readers and its
  // writers), e.g. before the queue is replaced: they look again and find out.
  static void ring(const std::string& name) noexcept;
  // Is the queue named `name` still whole: its segment at least `queue_bytes`
  // long and its bell there and complete? Two stat(2) calls, nothing mapped, so
  // it is safe on a truncated object. kNotFound: a part was removed (or
  // renamed away); kDeadQueue: a part is shorter than it was created. The
  // message names the part. (README "Tampered shared memory".)
  static Status intact(const std::string& name, std::uint64_t queue_bytes);
  // Is a queue still under `name` (one stat(2))? Names are never reused (every
  // mailbox and control queue has a generation), so a handle whose name is
  // gone holds an unlinked queue nobody will open again.
  static bool linked(const std::string& name) noexcept;
  // chown of the queue and its bell to uid:gid (their mode stays 0600): the
  // queue's one other user, a worker running as another user (shared/run_as.hpp),
  // can open it. Only root may. Errors: kSystem naming the object and errno.
  static Status give_to(const std::string& name, unsigned uid, unsigned gid);

  Queue(Queue&&) noexcept;
  Queue& operator=(Queue&&) noexcept;
  ~Queue();

  // Sends, waiting while the queue is full until the deadline (kTimeout).
  // kTooLarge if the encoded frame exceeds max_msg_size(); kDeadQueue if dead.
  Status send(const Frame& frame, Deadline deadline, unsigned priority = 0);
  // Receives the next valid frame; kTimeout when the deadline passes first.
  // Waits in slices of at most `slice` (kSlice by default), so a thread that
  // takes signals between slices and a lost wake-up both cost at most one
  // slice. A thread that keeps stop signals blocked (a worker) may pass a long
  // slice: an idle process then wakes only when something happens.
  // `interrupted`: a flag a signal handler sets; a wait cut short by a signal
  // (EINTR) with the flag set returns kTimeout at once, so the caller can act.
  Result<Frame> receive(Deadline deadline, Millis slice = kSlice,
                        const volatile std::sig_atomic_t* interrupted = nullptr);
  // Receives without waiting; nullopt when empty.
  Result<std::optional<Frame>> try_receive();
  // kOnDemand queues: gives the message pages back to /dev/shm if the queue
  // is empty and no send is in flight (else nothing: try again later). Only
  // the header and index pages stay. A no-op for other queues and when they
  // are already released. For the receiver, when it has been idle a while.
  Status release_pages();
  // Whether this queue's message pages are on demand (its bell says so).
  bool pages_on_demand() const noexcept;

  bool dead() const noexcept { return dead_; }
  // Dead because an operation found its header changed (header_sane()).
  bool overwritten() const noexcept { return overwritten_; }
  // The semaphore a receive() on this queue sleeps on. sem_post on it is
  // async-signal-safe: a signal handler that sets receive()'s interrupt flag
  // posts it too, so a signal landing just before the wait cannot be missed.
  sem_t* receive_wakeup() const noexcept;
  // Touches the queue's lock; false (and dead) if Boost throws.
  bool probe();
  const std::string& name() const noexcept { return name_; }
  std::uint32_t max_msg_size() const noexcept { return max_msg_size_; }
  // The depth the queue's header gave when this handle was made (compare it
  // and max_msg_size() with what the queue was created with: a queue opened
  // after a stray write reads garbage there).
  std::uint64_t depth() const noexcept { return depth_; }
  // Largest body that fits in one frame.
  std::uint32_t max_body_size() const noexcept;
  std::uint64_t dropped() const noexcept { return dropped_; }
  std::size_t pending() const;  // messages waiting (0 if dead)
  // Do the header words Boost never changes after creation (the depth and
  // the message size, and the bell's magic) still read what they read when
  // this handle was made? Checked before every operation that locks.
  // Two plain loads, no lock: a header overwritten by a stray write (zeros make
  // the queue look full forever, so every sender would time out) is found
  // without taking its mutex. False also once dead.
  bool header_sane() const noexcept;
  // The size of the queue's segment when this handle created or opened it.
  std::uint64_t segment_bytes() const noexcept { return segment_bytes_; }

 private:
  friend struct QueueTestHooks;  // tests/shared/queue_test.cpp
  struct Impl;
  // segment_bytes: the segment's size if known (0: stat it).
  Queue(std::unique_ptr<Impl> impl, std::string name, std::uint32_t max_msg_size,
        std::uint64_t segment_bytes);
  Status mark_dead(const char* op, const std::exception& e);
  // header_sane(), or dead from now on (kDeadQueue naming `op`). Every
  // operation that takes the queue's lock checks first.
  Status check_sane(const char* op);
  // kOnDemand: the segment's pages allocated, under the pages lock.
  Status commit_pages();

  std::unique_ptr<Impl> impl_;
  std::string name_;
  std::uint32_t max_msg_size_ = 0;
  bool dead_ = false;
  bool overwritten_ = false;
  std::uint64_t dropped_ = 0;
  std::uint64_t segment_bytes_ = 0;
  std::uint64_t depth_ = 0;  // the header's depth when this handle was made
  std::string buffer_;  // receive buffer, max_msg_size_ bytes from the first receive
  std::string encoded_;
};

}  // namespace dynmgr
