#pragma once
// Everything the supervisor sends to a queue it does not own the reading end
// of — replies to clients, terminate messages to workers — without ever
// blocking the loop thread.
//
// send() tries once. A full queue keeps the frame, in order behind anything
// already waiting for that queue, and flush() (called by the loop after every
// event) tries again until the frame's deadline, after which it is dropped and
// logged: a client that does not read its replies or a worker that does not
// read its mailbox costs the loop nothing but a retry. A queue that cannot be
// opened (its owner is gone) or is dead fails at once.
//
// Reply queues are kept open in a ReplyCache: only names under this instance's
// reply prefix are ever opened as reply queues. Any other name is a mailbox.
//
// Threading: loop thread only.

#include "shared/clock.hpp"
#include "shared/frame.hpp"
#include "shared/names.hpp"
#include "shared/queue.hpp"
#include "shared/reply_cache.hpp"

#include <deque>
#include <optional>
#include <string>

namespace dynmgr {

class Outbox {
 public:
  explicit Outbox(const Names& names)
      : reply_prefix_(names.reply_prefix()), replies_(names, kCachedReplyQueues) {}

  enum class Sent { kNow, kLater, kNever };
  // kNow: in the queue. kLater: the queue is full; retried until `give_up`.
  // kNever: no such queue (or a dead one); nothing will be sent.
  Sent send(const std::string& queue, const Frame& frame, Deadline give_up, unsigned priority = 0);
  // Sends, waiting up to `deadline` for room: only once the loop has ended
  // (the supervisor's last replies), never from an event handler.
  void send_waiting(const std::string& queue, const Frame& frame, Deadline deadline);
  // Retries what waits, in order; drops (and logs) what is past its deadline.
  void flush();
  // When flush() has something to retry: soon (a short poll interval), or never.
  Deadline next_retry() const;
  // Closes a cached queue (its owner is gone, or it is being removed).
  void forget(const std::string& queue);
  std::size_t waiting() const noexcept { return waiting_.size(); }

 private:
  struct Waiting {
    std::string queue;
    Frame frame;
    Deadline give_up;
    unsigned priority;
  };
  Queue* open(const std::string& name);
  Status try_send(const std::string& queue, const Frame& frame, unsigned priority);

  static constexpr std::size_t kCachedReplyQueues = 32;
  const std::string reply_prefix_;
  ReplyCache replies_;            // open reply queues (this instance's only)
  std::optional<Queue> mailbox_;  // the last mailbox sent to (terminate messages)
  std::deque<Waiting> waiting_;
};

}  // namespace dynmgr
