#pragma once
// Sends frames into the instance's control queue (clients, workers and the
// supervisor's child watcher → the supervisor loop), reopening it as needed.
//
// The control queue lives under a generation: Names::control(generation),
// where the generation is the one the supervisor publishes (registry header,
// or its own atomic for its watcher thread). When the queue dies (a process
// killed inside a send, DESIGN.md §5) the supervisor notices within one receive
// slice and recreates it under the next generation. A ControlSender keeps one
// open handle and reopens it before an attempt whenever the published
// generation differs from the handle's, or the handle is dead. It never retries
// on a dead queue and never waits inside Boost.
//
// Two ways to send, for the three kinds of sender:
//  * try_send(): one attempt, no waiting for a new generation. For a thread
//    that must not block (the child watcher: a lost wake is polled for).
//  * send(): attempts until the frame is sent, a refusal that waiting cannot
//    cure, the deadline, or `keep_trying` says the receiver is gone (a client:
//    kNoSupervisor; a worker: its parent changed). Between attempts it sleeps
//    `poll` (capped by the deadline) on the monotonic clock.
//
// Ownership: `names` must outlive the sender. Threading: one thread at a time;
// the queue handle lives in the descriptor table of the thread that opened it
// (close() it there, e.g. at the end of the watcher thread).

#include "shared/clock.hpp"
#include "shared/error.hpp"
#include "shared/frame.hpp"
#include "shared/names.hpp"
#include "shared/queue.hpp"

#include <cstdint>
#include <functional>
#include <optional>

namespace dynmgr {

class ControlSender {
 public:
  // Returns the control generation currently published; called before every
  // attempt, so it must be cheap and must not block.
  using GenerationSource = std::function<std::uint64_t()>;
  // Called between attempts; an error ends send() with that error.
  using KeepTrying = std::function<Status()>;

  ControlSender(const Names& names, GenerationSource generation);

  // One attempt: (re)open if needed, then send, waiting only while the queue
  // is full (until `deadline`; pass Deadline::now() not to wait at all).
  // Errors: the open's (kNotFound: not created yet; kDeadQueue; other codes
  // from the OS), or the send's (kTimeout: full until the deadline;
  // kTooLarge; kDeadQueue).
  Status try_send(const Frame& frame, Deadline deadline);

  // Attempts until sent. Returns at once the send's kTimeout (queue full until
  // the deadline: nothing was sent) or kTooLarge. After any failed open, and
  // after a dead queue, calls `keep_trying` (may be empty) and returns its
  // error; then returns an open error other than kNotFound/kDeadQueue; else
  // kTimeout ("the control queue stayed unusable") once the deadline passed,
  // or sleeps min(poll, time left) and tries again under the generation then
  // published.
  Status send(const Frame& frame, Deadline deadline, Millis poll, const KeepTrying& keep_trying);

  // Opens the queue of the generation now published, unless the handle is
  // already that one and alive; nothing is sent. For a worker about to drop
  // to another user (worker/identity.hpp), which could not open it later.
  // Errors: the open's.
  Status open();
  // Closes the handle (the next attempt reopens).
  void close() noexcept { queue_.reset(); }
  // The generation of the open handle (0: none open yet).
  std::uint64_t generation() const noexcept { return queue_ ? generation_ : 0; }

 private:
  enum class Failed { kNone, kOpen, kSend };
  Status attempt(const Frame& frame, Deadline deadline, Failed& failed);

  const Names& names_;
  GenerationSource source_;
  std::optional<Queue> queue_;
  std::uint64_t generation_ = 0;  // of queue_
};

}  // namespace dynmgr
