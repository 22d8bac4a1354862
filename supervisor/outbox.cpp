#include "supervisor/outbox.hpp"

#include "shared/log.hpp"

#include <set>

namespace dynmgr {
namespace {
constexpr Millis kRetryEvery{2};  // poll interval for a full queue
}  // namespace

Queue* Outbox::open(const std::string& name) {
  if (Queue* q = replies_.get(name)) return q;
  if (name.rfind(reply_prefix_, 0) == 0) return nullptr;  // a client that is gone
  // A mailbox: terminate messages are rare, keep only the last one open.
  if (!mailbox_ || mailbox_->name() != name || mailbox_->dead()) {
    mailbox_.reset();
    auto q = Queue::open(name);
    if (!q) return nullptr;
    mailbox_.emplace(std::move(*q));
  }
  return &*mailbox_;
}

Status Outbox::try_send(const std::string& queue, const Frame& frame, unsigned priority) {
  Queue* q = open(queue);
  if (q == nullptr) return make_error(Errc::kNotFound, "no queue " + queue);
  // An expired deadline: one try, never a wait.
  Status st = q->send(frame, Deadline::now(), priority);
  replies_.close_evicted();  // after the send: its receiver is not kept waiting for it
  if (!st && st.error().code == Errc::kDeadQueue) forget(queue);
  return st;
}

Outbox::Sent Outbox::send(const std::string& queue, const Frame& frame, Deadline give_up,
                          unsigned priority) {
  for (const auto& w : waiting_) {
    if (w.queue == queue) {  // keep the order of what one queue receives
      waiting_.push_back(Waiting{queue, frame, give_up, priority});
      return Sent::kLater;
    }
  }
  Status st = try_send(queue, frame, priority);
  if (st) return Sent::kNow;
  if (st.error().code == Errc::kTimeout) {
    waiting_.push_back(Waiting{queue, frame, give_up, priority});
    return Sent::kLater;
  }
  log_warn("unable to send to " + queue + ": " + st.error().message);
  return Sent::kNever;
}

void Outbox::send_waiting(const std::string& queue, const Frame& frame, Deadline deadline) {
  flush();
  Queue* q = open(queue);
  if (q == nullptr) return;
  if (auto st = q->send(frame, deadline); !st) log_warn("unable to send to " + queue + ": " + st.error().message);
}

void Outbox::flush() {
  std::set<std::string> still_full;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (still_full.count(it->queue) != 0) {
      ++it;
      continue;
    }
    if (it->give_up.expired()) {
      log_warn("unable to send to " + it->queue + ": it stayed full");
      it = waiting_.erase(it);
      continue;
    }
    Status st = try_send(it->queue, it->frame, it->priority);
    if (!st && st.error().code == Errc::kTimeout) {
      still_full.insert(it->queue);
      ++it;
      continue;
    }
    if (!st) log_warn("unable to send to " + it->queue + ": " + st.error().message);
    it = waiting_.erase(it);
  }
}

Deadline Outbox::next_retry() const {
  return waiting_.empty() ? Deadline::never() : Deadline::after(kRetryEvery);
}

void Outbox::forget(const std::string& queue) {
  replies_.drop(queue);
  if (mailbox_ && mailbox_->name() == queue) mailbox_.reset();
}

}  // namespace dynmgr
