#pragma once
// The reply queues a process answers on, opened once and kept: a worker
// replying to calls, the supervisor replying to requests.
//
// A small least-recently-used cache of open Queues keyed by name. It only ever
// opens reply queues of its own instance (names under Names::reply_prefix()):
// a reply-to name comes from a peer's message and must not make this process
// open anything else. A queue found dead is dropped and opened afresh (a live
// client's queue is recreated under the same name); a queue that cannot be
// opened (its client is gone) is not cached.
//
// Closing an evicted queue is not done by get(): unmapping it costs a TLB
// shootdown in a threaded process (and, for a one-shot client's queue already
// unlinked, freeing its pages), and get() is on the path of a reply its
// caller waits for. The caller sends, then close_evicted(); a get() that finds
// evicted queues still open closes them first.
//
// Threading: one thread. The returned pointer is valid until the next get()
// or drop() on this cache.

#include "shared/names.hpp"
#include "shared/queue.hpp"

#include <cstddef>
#include <list>
#include <string>

namespace dynmgr {

class ReplyCache {
 public:
  // Keeps at most `capacity` (>= 1) queues open.
  ReplyCache(const Names& names, std::size_t capacity);

  // The open queue called `name`, most recently used from now on; opened on a
  // miss, evicting the least recently used one when full. nullptr if `name`
  // is not a reply queue of this instance or cannot be opened.
  Queue* get(const std::string& name);
  // Forgets (closes) the queue called `name`, if cached: after a failed send,
  // or once its owner is known to be dead.
  void drop(const std::string& name) noexcept;
  // Closes the queues the last get() evicted (at most one): call it once the
  // reply is sent.
  void close_evicted() noexcept { evicted_.clear(); }

  std::size_t size() const noexcept { return queues_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  std::string prefix_;        // constant: names.reply_prefix()
  std::size_t capacity_;      // constant
  std::list<Queue> queues_;   // most recently used first
  std::list<Queue> evicted_;  // evicted by get(), still open until close_evicted()
};

}  // namespace dynmgr
